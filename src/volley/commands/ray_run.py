"""``volley run INPUT.jsonl -m MODEL -o OUTPUT.jsonl --ray ADDRESS``: the same file job on a Ray cluster.

The rows go through :func:`volley.ray.run` on ``--ray-actors`` actors, their limits shared by all
actors (through ``--limits-url`` or ``$VOLLEY_REDIS_URL`` when set, else the job's named limits actor). Results are
appended as Parquet files to ``OUTPUT.jsonl.ray/`` (the job's resume point: a rerun sends only the
ids not answered there), then written as ``OUTPUT.jsonl``: one OpenAI Batch output line per input
line, in input order. Keys come from the workers' environment (e.g. ``OPENAI_API_KEY``), never
from the command line: a cluster's job arguments are stored and shown by Ray.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from .common import UsageError, completion_params, fail, load_prices, mask_secrets

#: ``volley run`` options a Ray job does not take, and why.
REFUSED = {
    "api_key": "give the key in the workers' environment (e.g. OPENAI_API_KEY): Ray stores and shows job arguments",
    "batch_api": "a Ray job sends online",
    "budget_usd": "a budget is kept per process; a Ray job's actors would each spend it",
    "cache": "the response cache file is per machine; use --cache-url (a Redis every actor reaches)",
    "journal": "a Ray job's resume point is OUTPUT.jsonl.ray/",
    "allow_mixed_providers": "a Ray job sends every line to -m's model",
    "strict": "malformed lines become error lines",
    "report": "the report is read from a journal, and a Ray job keeps none",
}
#: table options: a Ray job from the command line reads request lines (tables: ``volley.ray.Completions``).
TABLE_OPTIONS = ("prompt", "system", "messages_column", "id_column", "schema", "input_format", "output_format",
                 "prefix")  # fmt: skip


def results_dir(output: Path) -> Path:
    """Where a Ray job keeps its results (Parquet files) beside ``output``."""
    return output.with_name(output.name + ".ray")


def check(args: argparse.Namespace) -> None:
    """Refuse what a Ray job cannot do, before anything is started."""
    if not args.model:
        raise UsageError("--ray needs -m MODEL (a Ray job sends every line to one model)")
    for name, why in REFUSED.items():
        if getattr(args, name, None):
            raise UsageError(f"--ray does not take --{name.replace('_', '-')}: {why}")
    for name in TABLE_OPTIONS:
        if getattr(args, name, None):
            raise UsageError(f"--ray does not take --{name.replace('_', '-')}: a Ray job reads a JSONL file of "
                             "request lines and writes OpenAI Batch output lines (for a table, map "
                             "volley.ray.Completions over a Ray dataset from Python)")  # fmt: skip
    if not args.input.is_file():
        raise UsageError(f"cannot read {args.input}: no such file")
    if not args.input.name.lower().removesuffix(".gz").endswith((".jsonl", ".ndjson")):
        raise UsageError(f"--ray reads a .jsonl file of request lines; got {args.input.name}")
    if args.output.suffix.lower() != ".jsonl":
        raise UsageError(f"--ray writes OpenAI Batch output lines: name the output .jsonl; got {args.output.name}")


def main(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the job on Ray and write OUTPUT.jsonl; the exit status (0 all answered, 1 some failed, 2 usage)."""
    try:
        check(args)
        load_prices(args)
    except UsageError as exc:
        return fail(str(exc))
    from .. import ray as vray
    from ..jobs.io import dumps

    kwargs: dict[str, Any] = {"max_workers": args.concurrency, "include_response": True, **completion_params(args)}
    for name in ("api_base", "timeout", "num_retries", "rpm", "tpm", "cache_url"):
        if getattr(args, name, None) is not None:
            kwargs[name] = getattr(args, name)
    rows = vray.read_jsonl(args.input)
    ids = [r["id"] for r in rows]
    seen: set[str] = set()
    for rid in ids:
        if rid in seen:
            return fail(f"duplicate custom_id {rid!r} in {args.input}: a Ray job needs one id per line")
        seen.add(rid)
    out_dir = results_dir(args.output)
    if args.overwrite and out_dir.exists():
        shutil.rmtree(out_dir)
    try:
        summary = vray.run(args.input, out_dir, args.model, address=args.ray, concurrency=args.ray_actors,
                           limits_url=args.limits_url, **kwargs)  # fmt: skip
    except (ValueError, ImportError) as exc:  # bad model, key, parameters or limits: nothing was sent
        return fail(mask_secrets(str(exc), argv))
    by_id = {r["id"]: r for r in vray.read_results(out_dir)}
    failed = 0
    from ..files import replace_private

    with replace_private(args.output, "w", encoding="utf-8") as f:
        for rid in ids:
            row = by_id.get(rid)
            if row is None or row["error"] is not None:
                failed += 1
            f.write(dumps(_record(rid, row)))
    report = {**summary, "failed": failed, "output": str(args.output), "results": str(out_dir)}
    if args.json:
        print(mask_secrets(json.dumps(report), argv), flush=True)
    if not args.quiet:
        print(mask_secrets(f"volley: {len(ids) - failed} of {len(ids)} answered ({summary['skipped']} from an earlier "
                           f"run), {failed} failed; wrote {args.output}", argv), file=sys.stderr)  # fmt: skip
    return 1 if failed else 0


def _record(custom_id: str, row: dict[str, Any] | None) -> dict[str, Any]:
    """The Batch output line of one id's result row (as ``volley run`` writes it)."""
    rid = "batch_req_" + uuid.uuid4().hex
    if row is None:
        error = {"code": "not_run", "message": "no result for this line (the job stopped before it)"}
        return {"id": rid, "custom_id": custom_id, "response": None, "error": error}
    if row["error"] is None:
        body = json.loads(row["response"]) if row.get("response") else None
        return {"id": rid, "custom_id": custom_id, "response": {"status_code": 200, "request_id": None, "body": body},
                "error": None}  # fmt: skip
    from ..jobs.io import error_code

    kind = str(row.get("error_type") or "Error")
    # as volley run writes them: a line that cannot be sent is "invalid_request", else the error's class
    code = "invalid_request" if kind == "InvalidRequestError" else error_code(type(kind, (Exception,), {})())
    message = str(row["error"]).split(": ", 1)[-1]
    return {"id": rid, "custom_id": custom_id, "response": None, "error": {"code": code, "message": message}}
