"""What the verbs share: the model options, error reporting, prompt input, and a Ctrl-C-aware event loop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad arguments: reported as ``volley: error: ...`` with exit status 2, no traceback."""


class Parser(argparse.ArgumentParser):
    """argparse without abbreviations (``--api-k`` is an error, never ``--api-key``), whose usage errors
    never echo a key (argparse repeats unrecognised arguments, which may hold one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self._argv: list[str] = []

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> Any:
        super().error(mask_secrets(message, self._argv))


def _number(kind: Callable[[str], Any], what: str, ok: Callable[[Any], bool]) -> Callable[[str], Any]:
    """An argparse ``type=`` that parses with ``kind`` and accepts what ``ok`` says (NaN never)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value != value or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = _number(int, "a positive integer", lambda v: v >= 1)
non_negative_int = _number(int, "an integer >= 0", lambda v: v >= 0)
positive_float = _number(float, "a positive number", lambda v: v > 0)
non_negative_float = _number(float, "a number >= 0", lambda v: v >= 0)


def add_model_options(p: argparse.ArgumentParser) -> None:
    """``--api-base --api-key --temperature --max-tokens --timeout --num-retries --prices --json``."""
    g = p.add_argument_group("model options")
    g.add_argument("--api-base", metavar="URL", help="provider base URL (default: from the environment, e.g. "
                   "OPENAI_BASE_URL, or the provider's own)")  # fmt: skip
    g.add_argument("--api-key", metavar="KEY", help="API key (default: from the environment, e.g. OPENAI_API_KEY; "
                   "prefer the environment: a key on the command line is visible to other users in ps and in "
                   "shell history)")  # fmt: skip
    g.add_argument("--temperature", type=float, metavar="X")
    g.add_argument("--max-tokens", type=positive_int, metavar="N")
    g.add_argument("--timeout", type=positive_float, metavar="S", help="seconds per request (default 600)")
    g.add_argument("--num-retries", type=non_negative_int, metavar="N", help="retries per request (default 3)")
    g.add_argument("--prices", metavar="FILE", help="JSON file of prices, USD per million tokens: "
                   '{"provider/model": {"input": 0.5, "output": 1.5}}')  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def completion_params(args: argparse.Namespace) -> dict[str, Any]:
    """The completion parameters given on the command line."""
    out: dict[str, Any] = {}
    if args.temperature is not None:
        out["temperature"] = args.temperature
    if args.max_tokens is not None:
        out["max_tokens"] = args.max_tokens
    return out


def control_params(args: argparse.Namespace) -> dict[str, Any]:
    """Key, base, timeout and retries given on the command line."""
    out: dict[str, Any] = {}
    for name in ("api_key", "api_base", "timeout", "num_retries"):
        value = getattr(args, name, None)
        if value is not None:
            out[name] = value
    return out


def check_one_provider(models: Sequence[str], args: argparse.Namespace) -> None:
    """``--api-key`` / ``--api-base`` are for one provider: refuse them when the models span several."""
    given = [f"--{n.replace('_', '-')}" for n in ("api_key", "api_base") if getattr(args, n, None)]
    if not given:
        return
    from ..errors import APIError
    from ..routing import split_model

    try:
        providers = sorted({split_model(m)[0] for m in models})
    except APIError as exc:
        raise UsageError(exc.message) from None
    if len(providers) > 1:
        raise UsageError(
            f"{' and '.join(given)} would go to {len(providers)} providers ({', '.join(providers)}); a key goes "
            "only to its own provider: set each provider's key and base in its environment variable instead "
            "(e.g. OPENAI_API_KEY, ANTHROPIC_API_KEY, OPENAI_BASE_URL)"
        )


def load_prices(args: argparse.Namespace) -> None:
    """Register ``--prices FILE`` (raises UsageError when unreadable)."""
    if getattr(args, "prices", None):
        from ..pricing import load_prices as load

        try:
            load(args.prices)
        except ValueError as exc:
            raise UsageError(str(exc)) from None


def fail(message: str) -> int:
    """Report an error the user can fix; exit status 2."""
    print(f"volley: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def read_prompt(prompt: str | None) -> str:
    """The prompt argument, or stdin for ``-`` / no argument."""
    if prompt is not None and prompt != "-":
        return prompt
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("give a prompt, or pipe one on stdin")
    text = sys.stdin.read().strip()
    if not text:
        raise UsageError("the prompt on stdin is empty")
    return text


_SECRET_FLAGS = ("--api-key",)
_DROP_FLAGS = ("--overwrite",)
# Values shaped like an API key (OpenAI/Anthropic/Groq/xAI style prefixes, Google's AIza...).
_KEY_LIKE = re.compile(r"(?<![A-Za-z0-9])(?:sk|rk|pk|gsk|xai|sess)[-_][A-Za-z0-9_\-]{12,}|AIza[0-9A-Za-z_\-]{30,}")


def secrets_in(argv: Sequence[str]) -> list[str]:
    """Every secret the command line or the environment may hold: ``--api-key``'s value, the providers'
    key variables, and any value shaped like a key."""
    found: list[str] = []
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if _is_secret_flag(name):  # also an abbreviation such as --api-k (refused, but echoed by argparse)
            if eq:
                found.append(value)
            elif i + 1 < len(argv):
                found.append(argv[i + 1])
        found += _KEY_LIKE.findall(arg)
    from ..providers import get_provider, provider_names

    for name in provider_names():
        host = get_provider(name)
        names = (*host.key_env, *host.secret_env) if host else ()
        found += [os.environ[n] for n in names if os.environ.get(n)]
    return sorted({s for s in found if s}, key=len, reverse=True)  # longest first: no partial leftovers


def _is_secret_flag(name: str) -> bool:
    return any(f.startswith(name) and len(name) >= len("--api-k") for f in _SECRET_FLAGS)


def mask_secrets(text: str, argv: Sequence[str]) -> str:
    """``text`` with every secret of :func:`secrets_in` masked (via ``volley.errors.redact``)."""
    from ..errors import redact

    return redact(text, secrets_in(argv))


def resume_command(verb: str, argv: Sequence[str]) -> str:
    """The command line to run again: the key's value (and anything key-like) masked, ``--overwrite`` left out."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("'<key>'")
            hide_next = False
        elif arg in _SECRET_FLAGS:
            out.append(arg)
            hide_next = True
        elif any(arg.startswith(f + "=") for f in _SECRET_FLAGS):
            out.append(arg.split("=", 1)[0] + "='<key>'")
        elif arg in _DROP_FLAGS:
            continue
        else:
            out.append(shlex.quote(arg))
    return mask_secrets(" ".join(["volley", verb, *out]), argv)


def stdout_closed() -> None:
    """The reader of stdout went away (``volley ... | head -c1``): send the rest of stdout nowhere, say so once."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    with contextlib.suppress(OSError, ValueError):
        print("volley: stdout was closed before all the output was written (broken pipe)", file=sys.stderr)


def run_cancellable(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main()`` on a fresh event loop; the first Ctrl-C (or SIGTERM) cancels it, a second one exits at once.

    ``main`` may catch the cancellation to stop cleanly; if it does not, KeyboardInterrupt is raised.
    """
    from .. import _fast

    factory = _fast.loop_factory()  # uvloop with the [fast] extra, as volley's own loop uses
    loop: asyncio.AbstractEventLoop = factory() if factory is not None else asyncio.new_event_loop()
    task = loop.create_task(_call(main))
    hits = 0

    def stop() -> None:
        nonlocal hits
        hits += 1
        if hits > 1:
            os._exit(EXIT_INTERRUPTED)
        print("\nvolley: stopping: cancelling the requests in flight (Ctrl-C again to quit at once)", file=sys.stderr)
        task.cancel()

    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop)
            handled.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or not Unix
            pass
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())  # closes volley's HTTP session
        for sig in handled:
            loop.remove_signal_handler(sig)
        loop.close()


async def _call(main: Callable[[], Awaitable[T]]) -> T:
    return await main()
