"""``volley batches list | status ID | cancel ID | results ID``: provider batches from a shell.

Keys come from the usual environment variables (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``), never
from the command line. The provider is guessed from the id's prefix unless ``--provider`` says.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from ..batch_api._types import BatchInfo
from ..batch_api.adapters import SUPPORTED_PROVIDERS
from ..batch_api.run import index_of
from ..errors import APIError
from ..files import open_private
from ..types import ModelResponse


def build_parser(prog: str = "volley batches") -> argparse.ArgumentParser:
    """The argument parser of ``volley batches``."""
    p = argparse.ArgumentParser(
        prog=prog, description="List, inspect, cancel or fetch provider batch jobs.", allow_abbrev=False
    )
    p.add_argument("action", choices=("list", "status", "cancel", "results"))
    p.add_argument("batch_id", nargs="?", help="the batch id (status, cancel, results)")
    p.add_argument("--provider", choices=SUPPORTED_PROVIDERS, help="default: from the id (list: every provider)")
    p.add_argument("--api-base", default=None, help="the provider's base URL (default: environment or official)")
    p.add_argument("--limit", type=int, default=20, help="list: how many batches per provider (default 20)")
    p.add_argument("--json", action="store_true", help="list / status / cancel: JSON lines instead of a table")
    p.add_argument("-o", "--output", default=None, help="results: write the JSONL here instead of stdout")
    return p


def _line(info: BatchInfo) -> str:
    counts = " ".join(f"{k}={v}" for k, v in info.counts.items())
    return f"{info.provider:<9}  {info.id:<42}  {info.status:<11}  {counts}"


def _show(infos: list[BatchInfo], as_json: bool, out: TextIO) -> None:
    for info in infos:
        out.write((json.dumps(info.to_dict()) if as_json else _line(info)) + "\n")


def result_record(custom_id: str, result: Any) -> dict[str, Any]:
    """One line of ``volley batches results``: the response (OpenAI shape) or the error."""
    rec: dict[str, Any] = {"custom_id": custom_id}
    index = index_of(custom_id)
    if index is not None:
        rec["index"] = index
    if isinstance(result, ModelResponse):
        rec["response"] = result.model_dump(exclude_none=True)
    else:
        rec["error"] = {
            "type": type(result).__name__,
            "reason": getattr(result, "reason", None),
            "status_code": getattr(result, "status_code", None),
            "error_type": getattr(result, "error_type", None),
            "message": getattr(result, "message", str(result)),
        }
    return rec


def _configured(provider: str) -> bool:
    """Whether an unnamed provider is worth listing: one without a default base (Azure) needs its base set."""
    import os

    from ..routing import provider as host_of

    host = host_of(provider)
    return host.default_base is not None or any(os.environ.get(name) for name in host.base_env)


async def _run(args: argparse.Namespace, out: TextIO) -> int:
    from ..batch_api import manage

    base = args.api_base
    if args.action == "list":
        providers = [args.provider] if args.provider else [p for p in SUPPORTED_PROVIDERS if _configured(p)]
        for provider in providers:
            try:
                infos = await manage.list_batches(provider, api_base=base, limit=args.limit)
            except APIError as exc:
                if args.provider or exc.status_code != 401:  # no key for an unnamed provider: skip it
                    raise
                continue
            _show(infos, args.json, out)
        return 0
    provider = args.provider
    if args.action == "status":
        _show([await manage.batch_status(provider, args.batch_id, api_base=base)], args.json, out)
    elif args.action == "cancel":
        _show([await manage.cancel_batch(provider, args.batch_id, api_base=base)], args.json, out)
    else:
        results = await manage.batch_results(provider, args.batch_id, api_base=base)
        order = sorted(results, key=lambda c: (index_of(c) is None, index_of(c) or 0, c))
        try:
            sink = open_private(args.output, "w", encoding="utf-8") if args.output else out
        except OSError as exc:
            print(f"volley batches: error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        try:
            for cid in order:
                sink.write(json.dumps(result_record(cid, results[cid]), ensure_ascii=False) + "\n")
        finally:
            if sink is not out:
                sink.close()
    return 0


def main(argv: list[str] | None = None, *, out: TextIO | None = None) -> int:
    """Entry point of ``volley batches``; returns the exit status.

    Example: ``main(["status", "batch_abc123"])``
    """
    from ..batch_api.adapters import provider_of

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.api_base and not args.provider and args.action == "list":
        parser.error("--api-base is for one provider (each provider's key would go to it): add --provider NAME")
    if args.action != "list":
        if not args.batch_id:
            parser.error(f"{args.action} needs a batch id")
        args.provider = args.provider or provider_of(args.batch_id)
        if args.provider is None:
            parser.error(f"cannot tell the provider of {args.batch_id!r} from its prefix; pass --provider")
    from .._sync import run_sync

    try:
        return int(run_sync(_run(args, out or sys.stdout)))
    except APIError as exc:
        print(f"volley batches: {exc}", file=sys.stderr)
        return 1
