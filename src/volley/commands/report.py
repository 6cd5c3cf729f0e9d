"""``volley report OUT [-o report.html]``: one self-contained HTML page about a ``volley run``."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import Parser, fail

DESCRIPTION = """\
Write one HTML file about the volley run whose output is OUT, read from its journal
(OUT.journal.sqlite): progress and throughput over time, latency (p50/p95/p99), tokens and cost by
model, errors by type with examples, and the slowest and most expensive items. The page needs no
network to open (plotly's JavaScript is inside it) and is written private (mode 0600). It can be
written while the run is still going. Needs plotly: pip install 'volley-llm[report]'."""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="volley report", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output", type=Path, metavar="OUT", help="the output file of a volley run")
    p.add_argument("-o", "--report", type=Path, metavar="REPORT.html", help="where to write (default OUT.report.html)")
    p.add_argument("--journal", type=Path, metavar="PATH", help="the run's journal (default OUT.journal.sqlite)")
    return p


def main(argv: list[str]) -> int:
    """Entry point of ``volley report``; returns the exit status (0 written, 2 nothing written)."""
    args = build_parser().parse_args(argv)
    from .._optional import MissingDependencyError
    from ..report.run import default_path, write_report
    from ..tables.read import TableError

    target = args.report or default_path(args.output)
    journal = args.journal or Path(str(args.output) + ".journal.sqlite")
    if target.resolve() in (args.output.resolve(), journal.resolve()):
        return fail("the report must not overwrite the output or the journal; choose another -o")
    try:
        path = write_report(args.output, target, journal=args.journal)
    except (TableError, MissingDependencyError) as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot write the report {target}: {exc.strerror or exc}")
    print(path)
    return 0
