"""``volley run INPUT.jsonl -m MODEL -o OUTPUT.jsonl``: a JSONL job, exactly once per line, resumable."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..jobs.runner import Job, RunOptions, SetupError
from .common import (
    EXIT_INTERRUPTED,
    Parser,
    UsageError,
    add_model_options,
    completion_params,
    fail,
    load_prices,
    mask_secrets,
    non_negative_float,
    positive_float,
    positive_int,
    resume_command,
    run_cancellable,
    stdout_closed,
)

DESCRIPTION = """\
Send every line of INPUT.jsonl (OpenAI Batch input lines, or {"messages": [...]} / {"prompt": "..."}
lines) and write one OpenAI Batch output line per input line to OUTPUT.jsonl, as results arrive.

A journal next to the output (OUTPUT.jsonl.journal.sqlite) records each item: after Ctrl-C, a crash
or kill -9, run the same command again and only unfinished items are sent. Failed items are retried
on a rerun (unless --no-retry-failed); the output always ends with one line per input line.

A job sends to one provider (-m's, or the lines' own) unless --allow-mixed-providers; --api-key and
--api-base are for -m's provider (or --api-provider's) only: other providers use their own
environment key and base. Files written are private (mode 0600).

Exit status: 0 all done; 1 some failed, malformed or left pending (budget, or a file that could not
be written mid-run); 2 nothing sent (bad arguments, input, model, key or paths); 130 interrupted
(rerun to resume)."""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="volley run", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, metavar="INPUT.jsonl")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUTPUT.jsonl")
    p.add_argument("-m", "--model", help='model for every line (default: each line\'s own "model")')
    p.add_argument("--concurrency", type=positive_int, default=100, metavar="N", help="requests in flight (100)")
    p.add_argument("--rpm", type=positive_float, metavar="N", help="requests per minute (default: learned)")
    p.add_argument("--tpm", type=positive_float, metavar="N", help="tokens per minute (default: learned)")
    p.add_argument("--budget-usd", type=non_negative_float, metavar="X",
                   help="stop sending before the job's spend could pass X dollars: each request is reserved at "
                        "its worst case (its text as prompt tokens, plus --max-tokens, or the model's output "
                        "ceiling without it)")  # fmt: skip
    p.add_argument("--cache", action="store_true", help="answer identical requests from the response cache")
    p.add_argument("--cache-path", metavar="FILE", help="cache file (default ~/.cache/volley/cache.sqlite)")
    p.add_argument("--cache-scope", choices=("shared", "key"), default="shared",
                   help="shared (default): a cached answer serves any API key; key: each key's answers kept "
                        "apart (by a one-way fingerprint of the key)")  # fmt: skip
    p.add_argument("--api-provider", metavar="NAME",
                   help="the provider --api-key / --api-base are for, when -m is not given (e.g. openai)")  # fmt: skip
    p.add_argument("--allow-mixed-providers", action="store_true",
                   help="without -m, let lines route to several providers (each with its own environment key and "
                        "base; --api-key / --api-base apply only to --api-provider's)")  # fmt: skip
    p.add_argument(
        "--journal",
        type=Path,
        metavar="PATH",
        help="journal file (default: OUTPUT.jsonl.journal.sqlite beside the output)",
    )
    p.add_argument("--no-retry-failed", action="store_true", help="on a rerun, keep failed items as they are")
    p.add_argument("--strict", action="store_true", help="stop before sending anything if a line is malformed")
    p.add_argument("--overwrite", action="store_true", help="discard an existing output and journal; start over")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar, no summary text")
    b = p.add_argument_group("provider batch API (OpenAI, Anthropic, Azure OpenAI: half price, results within 24 h)")
    b.add_argument("--batch-api", action="store_true", help="send the job through the provider's batch API")
    b.add_argument("--poll-interval", type=positive_float, default=30.0, metavar="S",
                   help="seconds between status checks (30, growing while the batch runs)")  # fmt: skip
    b.add_argument("--fallback-online", action="store_true",
                   help="send items the batch could not answer (errored, expired, cancelled) online")  # fmt: skip
    add_model_options(p)
    return p


def options(args: argparse.Namespace) -> RunOptions:
    """The job options of parsed arguments."""
    return RunOptions(
        input=args.input,
        output=args.output,
        journal=args.journal,
        model=args.model,
        params=completion_params(args),
        api_key=args.api_key,
        api_base=args.api_base,
        api_provider=args.api_provider,
        allow_mixed_providers=args.allow_mixed_providers,
        concurrency=args.concurrency,
        rpm=args.rpm,
        tpm=args.tpm,
        num_retries=args.num_retries,
        timeout=args.timeout,
        budget_usd=args.budget_usd,
        cache=args.cache,
        cache_path=args.cache_path,
        cache_scope=args.cache_scope,
        retry_failed=not args.no_retry_failed,
        strict=args.strict,
        overwrite=args.overwrite,
        progress=not args.quiet and sys.stderr.isatty(),
        quiet=args.quiet,
        batch_api=args.batch_api,
        poll_interval=args.poll_interval,
        batch_fallback=args.fallback_online,
    )


def main(argv: list[str]) -> int:
    """Entry point of ``volley run``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        load_prices(args)
    except UsageError as exc:
        return fail(str(exc))
    job = Job(options(args))
    try:
        try:
            job.prepare()
        except SetupError as exc:
            return fail(str(exc))
        except KeyboardInterrupt:  # while reading the input or creating the journal (rolled back)
            print("volley: interrupted before anything was sent", file=sys.stderr)
            return EXIT_INTERRUPTED
        try:
            summary = run_cancellable(job.run)
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
    finally:
        job.close()
    if summary.interrupted or summary.pending or summary.error or (summary.failed and not args.no_retry_failed):
        summary.resume = resume_command("run", argv)
    try:
        if args.json:
            print(mask_secrets(json.dumps(summary.to_json()), argv), flush=True)
        if not args.quiet:
            print(mask_secrets(summary.text(), argv), file=sys.stderr, flush=True)
    except BrokenPipeError:  # e.g. `volley run ... --json | head -c1`: the job itself is done; say so, keep its status
        stdout_closed()
    if summary.error:  # last, so it is the line a user sees
        print(f"volley: error: {summary.error}; the job stopped and what the journal holds is kept: "
              "fix that and run the same command to resume", file=sys.stderr, flush=True)  # fmt: skip
    return summary.exit_code
