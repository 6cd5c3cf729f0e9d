"""``volley fake-server``: run the fake provider server from a shell."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ._server import FakeServer

DEFAULT_PORT = 8765


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, api_key: str | None = None, **behaviour: Any) -> None:
    """Run a ``FakeServer`` until interrupted; ``behaviour`` applies to every model (``script("*")``).

    Example: ``serve(port=8765, latency=0.1, rpm=600)``
    """

    async def run() -> None:
        server = FakeServer(host, port, api_key=api_key, record=False)
        if behaviour:
            server.script("*", **behaviour)
        await server.start()
        print(f"volley fake server on {server.url}", flush=True)
        print("# point each provider at it (any key works):", flush=True)
        for name, value in environment(server, api_key).items():
            print(f"export {name}={value}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.close()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


def environment(server: FakeServer, api_key: str | None = None) -> dict[str, str]:
    """The environment variables that send volley (and the official SDKs) to ``server``.

    Example: ``os.environ.update(environment(server))``, then ``volley.completion("gpt-4o-mini", ...)``.
    """
    key = api_key or "fake-key"
    return {
        "OPENAI_BASE_URL": server.openai_base, "OPENAI_API_KEY": key,
        "ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": key,
        "COHERE_BASE_URL": server.url, "COHERE_API_KEY": key,
        "GEMINI_API_BASE": server.url, "GEMINI_API_KEY": key,
    }  # fmt: skip


def build_parser(prog: str = "volley fake-server") -> argparse.ArgumentParser:
    """The argument parser of ``volley fake-server``."""
    p = argparse.ArgumentParser(
        prog=prog,
        allow_abbrev=False,
        description=(
            "Serve fake OpenAI (/v1/chat/completions), Anthropic (/v1/messages), Cohere (/v2/chat) and "
            "Gemini (/v1beta/models/M:generateContent) endpoints. Model names can script behaviour: "
            "fake-latency-300ms, fake-fail-500, fake-fail-drop, fake-failrate-0.1, fake-rpm-60, fake-tool-NAME."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--rpm", type=int, default=None, help="requests per minute per model, then 429")
    p.add_argument("--window", type=float, default=1.0, help="seconds of each rate-limit window (default 1)")
    p.add_argument("--fail-rate", type=float, default=0.0, help="fraction of requests failing (500 or drop)")
    p.add_argument("--seed", type=int, default=None, help="random seed of --fail-rate")
    p.add_argument("--api-key", default=None, help="accept only this key (default: any non-empty key)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``volley fake-server``; returns the exit status.

    Example: ``main(["--port", "8765", "--latency", "0.1"])``
    """
    args = build_parser().parse_args(argv)
    behaviour: dict[str, Any] = {}
    if args.latency:
        behaviour["latency"] = args.latency
    if args.rpm:
        behaviour["rpm"] = args.rpm
        behaviour["window"] = args.window
    if args.fail_rate:
        behaviour["fail_rate"] = args.fail_rate
        behaviour["seed"] = args.seed
    try:
        serve(args.host, args.port, api_key=args.api_key, **behaviour)
    except OSError as exc:  # the port is taken, the address is not this machine's, no permission
        print(f"volley: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
