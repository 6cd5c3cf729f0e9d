"""``volley run INPUT -m MODEL -o OUTPUT``: a job over a JSONL file or a table, exactly once per item, resumable."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..jobs.options import OUTPUT_FORMATS
from ..jobs.run import Job, RunOptions, SetupError
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
Send one request per item of INPUT and write one result per item to OUTPUT.

INPUT is a table (CSV/TSV, Parquet, Arrow, a saved Hugging Face dataset directory, or JSONL rows)
with --prompt "Summarize: {text}" saying what to send for each row (--system, --messages-column,
--id-column), or a JSONL file of request lines (OpenAI Batch input lines, or {"messages": [...]} /
{"prompt": "..."} lines). OUTPUT's extension picks its format: .parquet .csv .tsv .arrow or .jsonl
hold every input column plus the answer, finish reason, tokens, cost, latency, model, attempts and
error columns, one row per input row in input order (--schema adds one column per field); for
request lines, .jsonl is the OpenAI Batch output format (--output-format overrides).

A journal next to the output (OUTPUT.journal.sqlite) records each item: after Ctrl-C, a crash
or kill -9, run the same command again and only unfinished items are sent. Failed items are retried
on a rerun (unless --no-retry-failed); the output always ends with one row per input item.
--dry-run prints the items, prompt tokens, output bound and cost range, and sends nothing.

A job sends to one provider (-m's, or the lines' own) unless --allow-mixed-providers; --api-key and
--api-base are for -m's provider (or --api-provider's) only: other providers use their own
environment key and base. Files written are private (mode 0600).

Exit status: 0 all done; 1 some failed, malformed or left pending (budget, or a file that could not
be written mid-run); 2 nothing sent (bad arguments, input, model, key or paths); 130 interrupted
(rerun to resume)."""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="volley run", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, metavar="INPUT")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUTPUT")
    p.add_argument("-m", "--model", help='model for every item (default: each request line\'s own "model")')
    t = p.add_argument_group("tables: what to send for each row, and what to write")
    t.add_argument("--prompt", metavar="TEMPLATE", help='the user message, a template over the columns: '
                   '"Summarize: {text}" ({{ and }} are literal braces)')  # fmt: skip
    t.add_argument("--system", metavar="TEMPLATE", help="a system message (a template too)")
    t.add_argument("--messages-column", metavar="COL", help="a column holding an OpenAI messages list (or its JSON)")
    t.add_argument("--id-column", metavar="COL", help="the column that identifies each row (default: its number)")
    t.add_argument("--schema", metavar="SPEC", help="structured output: a pydantic class (pkg.mod:Model) or a "
                   "JSON Schema file; each field becomes a column")  # fmt: skip
    t.add_argument("--input-format", choices=("jsonl", "csv", "tsv", "parquet", "arrow", "hf"),
                   help="the input's format (default: from its name)")  # fmt: skip
    t.add_argument("--output-format", choices=OUTPUT_FORMATS, help="the output's format (default: from its "
                   "extension; batch = OpenAI Batch output lines)")  # fmt: skip
    t.add_argument("--prefix", default="", metavar="TEXT", help="put before every result column's name")
    p.add_argument("--dry-run", action="store_true", help="print items, prompt tokens, output bound and cost "
                   "range per model; send nothing, write nothing")  # fmt: skip
    p.add_argument("--report", action="store_true", help="write OUTPUT.report.html (needs plotly: "
                   "volley-llm[report]) after the run")  # fmt: skip
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
    p.add_argument("--limits-url", metavar="URL",
                   help="share rpm/tpm pacing, concurrency and 429 pauses with every process using this Redis "
                        "(redis://host:6379/0; default $VOLLEY_REDIS_URL; needs volley-llm[redis])")  # fmt: skip
    p.add_argument("--cache-url", metavar="URL",
                   help="answer identical requests from a response cache in this Redis, shared by every process "
                        "using it (instead of the cache file)")  # fmt: skip
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
    r = p.add_argument_group("Ray (the job on a cluster: results in OUTPUT.jsonl.ray/, then OUTPUT.jsonl)")
    r.add_argument("--ray", metavar="ADDRESS", help="run on the Ray cluster at ADDRESS (as ray.init takes it: auto, "
                   "ray://head:10001, local); limits are shared by all actors")  # fmt: skip
    r.add_argument("--ray-actors", type=positive_int, default=2, metavar="N", help="actors sending requests (2)")
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
        limits_url=args.limits_url,
        cache_url=args.cache_url,
        retry_failed=not args.no_retry_failed,
        strict=args.strict,
        overwrite=args.overwrite,
        progress=not args.quiet and sys.stderr.isatty(),
        quiet=args.quiet,
        batch_api=args.batch_api,
        poll_interval=args.poll_interval,
        batch_fallback=args.fallback_online,
        prompt=args.prompt,
        system=args.system,
        id_column=args.id_column,
        messages_column=args.messages_column,
        schema=args.schema,
        input_format=args.input_format,
        output_format=args.output_format,
        prefix=args.prefix,
        report=args.report,
    )


def main(argv: list[str]) -> int:
    """Entry point of ``volley run``; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.ray is not None:
        from .ray_run import check as ray_check
        from .ray_run import main as on_ray

        if not args.dry_run:
            return on_ray(args, argv)
        try:  # a dry run sends nothing: the job is checked as on Ray, then estimated here
            ray_check(args)
        except UsageError as exc:
            return fail(str(exc))
    try:
        load_prices(args)
    except UsageError as exc:
        return fail(str(exc))
    job = Job(options(args))
    if args.dry_run:
        return _dry_run(job, args, argv)
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


def _dry_run(job: Job, args: argparse.Namespace, argv: list[str]) -> int:
    """``--dry-run``: every check and request built, the estimate printed, nothing sent or written."""
    try:
        estimate = job.dry_run()
    except SetupError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        job.close()
    try:
        if args.json:
            print(mask_secrets(json.dumps(estimate.to_json()), argv), flush=True)
        else:
            print(mask_secrets(estimate.text("volley run --dry-run (nothing sent)"), argv), flush=True)
    except BrokenPipeError:
        stdout_closed()
    return 0
