"""The ``volley`` command. Each verb is one small function; argument parsing stays at the top."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence


def _fake_server(argv: list[str]) -> int:
    from .testing import main as fake_main

    return fake_main(argv)


def _run(argv: list[str]) -> int:
    from .commands.run import main as run_main

    return run_main(argv)


def _race(argv: list[str]) -> int:
    from .commands.race import main as race_main

    return race_main(argv)


def _compare(argv: list[str]) -> int:
    from .commands.compare import main as compare_main

    return compare_main(argv)


def _report(argv: list[str]) -> int:
    from .commands.report import main as report_main

    return report_main(argv)


def _batches(argv: list[str]) -> int:
    from .commands.batches import main as batches_main

    return batches_main(argv)


VERBS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "run": (_run, "send every line of a JSONL file, exactly once, resumably (volley run IN.jsonl -m M -o OUT.jsonl)"),
    "race": (_race, "one prompt to several models; the fastest answer and each model's latency"),
    "compare": (_compare, "one prompt to several models; every answer with latency, tokens and cost"),
    "report": (_report, "one self-contained HTML page about a volley run: progress, latency, cost, errors"),
    "batches": (_batches, "provider batch jobs: list | status ID | cancel ID | results ID"),
    "fake-server": (_fake_server, "run the local fake provider server (OpenAI, Anthropic, Cohere, Gemini)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``volley`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="volley", description="Many LLM completions, fast, to any provider.", allow_abbrev=False
    )
    parser.add_argument("verb", choices=sorted(VERBS), help="; ".join(f"{k}: {v[1]}" for k, v in VERBS.items()))
    if not args or args[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        from . import __version__

        print(f"volley {__version__}")
        return 0
    verb = parser.parse_args(args[:1]).verb
    try:
        return VERBS[verb][0](args[1:])
    except BrokenPipeError:  # stdout's reader went away (`volley race ... | head -c1`): one line, no traceback
        from .commands.common import stdout_closed

        stdout_closed()
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
