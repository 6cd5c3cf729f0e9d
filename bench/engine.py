"""Engine benchmarks (issue 4): rate limits, faults, racing and hedging, scale; volley beside LiteLLM and raw aiohttp.

Run by hand (not part of the test suite)::

    .venv/bin/python bench/engine.py                      # every scenario below, in this order
    .venv/bin/python bench/engine.py ratelimit race       # only some
    .venv/bin/python bench/engine.py scale --scale-n 100000 --scale-small 10000
    .venv/bin/python bench/engine.py --json /tmp/engine.json   # also dump every figure as JSON

Scenarios:

- ``throughput``: runs ``bench/throughput.py`` (2000 requests, 200 in flight, 100 ms; CPU matters there, so
  its fake server has its own process). Not repeated here.
- ``ratelimit``: a model limited to 600 RPM on 6-second windows; volley told ``rpm=600``, volley learning
  from the ``x-ratelimit-*`` headers, LiteLLM ``batch_completion`` (its default retries, then
  ``num_retries=6``) and raw aiohttp at 200 in flight, sleeping ``retry-after`` on each 429.
  Achieved successes per minute and the 429s counted at the server.
- ``faults``: 20% of requests fail (500 or dropped connection, seeded); volley and LiteLLM with
  ``num_retries=6``, then with their defaults: items lost, order kept (every answer checked against
  its prompt).
- ``race``: three models at 50 / 300 / 1000 ms; volley ``batch_completion_models`` (latency, winner, how
  soon the server saw the losers' connections close) and with ``hedge_after=0.2`` (calls saved, latency
  cost), beside LiteLLM ``batch_completion_models``.
- ``scale``: many prompts at 1 ms latency: ``iter_batch_completion`` over a lazy generator (small and
  large N, to show memory bounded by what is in flight), the async iterator, ``batch_completion``'s list
  form and a raw aiohttp worker pool: requests/s and peak RSS of a fresh process.
- ``imports``: ``import volley`` and ``import litellm`` (LiteLLM venv) times.

Every client runs in a fresh child process (LiteLLM's with ``bench/.venv-litellm/bin/python``) that
imports and sets up first, untimed, then reports wall time, CPU time and its peak RSS (``VmHWM``). For ratelimit,
faults and race, where only counts and latencies matter, the fake server runs in a thread of this
driver process (otherwise idle while a child runs), with a counting middleware: status per model,
dropped connections, and when each cancelled handler (a client that closed its connection) ended.
For scale, where CPU matters, the server is ``python -m volley.testing`` in its own process, keeping
no records.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from throughput import KEY, LITELLM_PY, import_time, start_server

HERE = Path(__file__).resolve().parent
MARK = "@@ENGINE-RESULT "  # LiteLLM prints to stdout; the child's result is the last line with this mark
RL_LIMIT = 600  # requests per minute the rate-limit scenario's server enforces
RL_WINDOW = 6.0
RACE_MODELS = {"fast": "fake-latency-50ms", "mid": "fake-latency-300ms", "slow": "fake-latency-1000ms"}
SLOW_FIRST = ["slow", "mid", "fast"]
FAST_FIRST = ["fast", "mid", "slow"]

Spec = dict[str, Any]
Client = Callable[[Spec], Iterator[dict[str, Any] | None]]


def _messages(tag: str, i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{tag} prompt {i}: what is {i} plus {i}?"}]


def _echo(tag: str, i: int) -> str:
    return f"echo: {tag} prompt {i}: what is {i} plus {i}?"


def _errors(results: list[Any]) -> dict[str, int]:
    return dict(Counter(type(r).__name__ for r in results if isinstance(r, BaseException)))


def _misplaced(results: list[Any], tag: str) -> int:
    """Successful answers whose text is not the echo of the prompt in their slot."""
    bad = 0
    for i, r in enumerate(results):
        if not isinstance(r, BaseException) and r.choices[0].message.content != _echo(tag, i):
            bad += 1
    return bad


# ================================================================ clients (each runs in a child process)


def rl_volley(spec: Spec) -> Iterator[dict[str, Any] | None]:
    import volley

    msgs = [_messages("rl", i) for i in range(spec["n"])]
    limits = {"rpm": spec["rpm"]} if spec.get("rpm") else {}
    yield None
    out = volley.batch_completion(
        f"openai/{spec['model']}", msgs, max_workers=spec["concurrency"], api_base=spec["base"], api_key=KEY, **limits
    )
    yield {"ok": sum(isinstance(r, volley.ModelResponse) for r in out), "errors": _errors(out)}


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _litellm_batch(spec: Spec, tag: str) -> Iterator[dict[str, Any] | None]:
    litellm = _litellm()
    msgs = [_messages(tag, i) for i in range(spec["n"])]
    retries = {"num_retries": spec["num_retries"]} if spec.get("num_retries") is not None else {}
    yield None
    out = litellm.batch_completion(
        model=f"openai/{spec['model']}", messages=msgs, max_workers=spec["concurrency"], api_base=spec["base"],
        api_key=KEY, **retries,
    )  # fmt: skip
    ok = sum(1 for r in out if not isinstance(r, BaseException))
    yield {"ok": ok, "errors": _errors(out), "misplaced": _misplaced(out, tag)}


def rl_litellm(spec: Spec) -> Iterator[dict[str, Any] | None]:
    yield from _litellm_batch(spec, "rl")


def rl_aiohttp(spec: Spec) -> Iterator[dict[str, Any] | None]:
    """No pacing: 200 in flight; a 429 waits its ``retry-after`` and tries again, until every item succeeds."""
    import asyncio

    import aiohttp

    yield None

    async def main() -> dict[str, Any]:
        sem = asyncio.Semaphore(spec["concurrency"])
        headers = {"Authorization": f"Bearer {KEY}"}
        limited = 0
        conn = aiohttp.TCPConnector(limit=spec["concurrency"])
        async with aiohttp.ClientSession(connector=conn) as s:

            async def one(i: int) -> bool:
                nonlocal limited
                body = {"model": spec["model"], "messages": _messages("rl", i)}
                async with sem:
                    while True:
                        async with s.post(f"{spec['base']}/chat/completions", json=body, headers=headers) as r:
                            data = await r.json()
                            if r.status != 429:
                                return r.status == 200 and bool(data["choices"][0]["message"]["content"])
                            wait = float(r.headers.get("retry-after", "1"))
                        limited += 1
                        await asyncio.sleep(wait)

            ok = sum(await asyncio.gather(*(one(i) for i in range(spec["n"]))))
        return {"ok": ok, "errors": {}, "client_429": limited}

    yield asyncio.run(main())


def faults_volley(spec: Spec) -> Iterator[dict[str, Any] | None]:
    import volley

    msgs = [_messages("faults", i) for i in range(spec["n"])]
    retries = {"num_retries": spec["num_retries"]} if spec.get("num_retries") is not None else {}
    yield None
    out = volley.batch_completion(
        f"openai/{spec['model']}", msgs, max_workers=spec["concurrency"], api_base=spec["base"], api_key=KEY, **retries
    )
    ok = sum(isinstance(r, volley.ModelResponse) for r in out)
    yield {"ok": ok, "errors": _errors(out), "misplaced": _misplaced(out, "faults")}


def faults_litellm(spec: Spec) -> Iterator[dict[str, Any] | None]:
    yield from _litellm_batch(spec, "faults")


def _race_models(spec: Spec) -> list[str]:
    return [f"openai/{RACE_MODELS[k]}" for k in spec["order"]]


def race_volley(spec: Spec) -> Iterator[dict[str, Any] | None]:
    import volley

    models = _race_models(spec)
    hedge = {"hedge_after": spec["hedge_after"]} if spec.get("hedge_after") is not None else {}
    common = {"api_base": spec["base"], "api_key": KEY}
    volley.batch_completion_models(["openai/warmup"], _messages("race", -1), **common)  # session, lane: untimed
    yield None
    latencies, winners = [], []
    for i in range(spec["races"]):
        t0 = time.perf_counter()
        r = volley.batch_completion_models(models, _messages("race", i), **common, **hedge)
        latencies.append(time.perf_counter() - t0)
        winners.append(r.model)
        time.sleep(spec["gap"])  # the server sees the losers' disconnects before the next race
    time.sleep(1.2)  # a loser still running would now finish at the server (and show as a 200)
    yield {"latencies": latencies, "winners": dict(Counter(winners))}


def race_litellm(spec: Spec) -> Iterator[dict[str, Any] | None]:
    litellm = _litellm()
    models = _race_models(spec)
    common = {"api_base": spec["base"], "api_key": KEY}
    litellm.completion(model="openai/warmup", messages=_messages("race", -1), **common)
    yield None
    latencies, winners = [], []
    for i in range(spec["races"]):
        t0 = time.perf_counter()
        r = litellm.batch_completion_models(models=models, messages=_messages("race", i), **common)
        latencies.append(time.perf_counter() - t0)
        winners.append(r.model if r is not None else "None")
        time.sleep(spec["gap"])
    yield {"latencies": latencies, "winners": dict(Counter(winners))}


def _scale_prompts(n: int) -> Iterator[list[dict[str, str]]]:
    return (_messages("scale", i) for i in range(n))


def scale_volley_iter(spec: Spec) -> Iterator[dict[str, Any] | None]:
    import volley

    volley.iter_batch_completion  # noqa: B018 - resolve the lazy import before the clock starts
    yield None
    ok = bad = 0
    it = volley.iter_batch_completion(
        "openai/scale", _scale_prompts(spec["n"]), max_workers=spec["concurrency"], api_base=spec["base"], api_key=KEY
    )
    for i, r in it:
        if isinstance(r, volley.ModelResponse) and r.choices[0].message.content == _echo("scale", i):
            ok += 1
        else:
            bad += 1
    yield {"ok": ok, "bad": bad}


def scale_volley_aiter(spec: Spec) -> Iterator[dict[str, Any] | None]:
    import asyncio

    import volley

    volley.abatch_completion_iter  # noqa: B018
    pause = spec.get("pause", 0.0)
    yield None

    async def main() -> dict[str, int]:
        ok = bad = 0
        async for i, r in volley.abatch_completion_iter(
            "openai/scale", _scale_prompts(spec["n"]), max_workers=spec["concurrency"], api_base=spec["base"],
            api_key=KEY,
        ):  # fmt: skip
            if isinstance(r, volley.ModelResponse) and r.choices[0].message.content == _echo("scale", i):
                ok += 1
            else:
                bad += 1
            if pause:
                await asyncio.sleep(pause)  # a consumer with async work per item (e.g. writing it somewhere)
        return {"ok": ok, "bad": bad}

    yield asyncio.run(main())


def scale_volley_list(spec: Spec) -> Iterator[dict[str, Any] | None]:
    import volley

    msgs = list(_scale_prompts(spec["n"]))  # built before the clock: the caller holds this list anyway
    yield None
    out = volley.batch_completion(
        "openai/scale", msgs, max_workers=spec["concurrency"], api_base=spec["base"], api_key=KEY
    )
    ok = sum(isinstance(r, volley.ModelResponse) for r in out)
    yield {"ok": ok, "bad": len(out) - ok + _misplaced(out, "scale")}


def scale_aiohttp(spec: Spec) -> Iterator[dict[str, Any] | None]:
    """The same work by hand: a pool of workers pulling from one generator (memory bounded, like volley's core)."""
    import asyncio

    import aiohttp

    yield None

    async def main() -> dict[str, int]:
        counts = Counter[str]()
        headers = {"Authorization": f"Bearer {KEY}"}
        prompts = enumerate(_scale_prompts(spec["n"]))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=spec["concurrency"])) as s:

            async def worker() -> None:
                for i, msgs in prompts:
                    body = {"model": "scale", "messages": msgs}
                    async with s.post(f"{spec['base']}/chat/completions", json=body, headers=headers) as r:
                        data = await r.json()
                    good = data["choices"][0]["message"]["content"] == _echo("scale", i)
                    counts["ok" if good else "bad"] += 1

            await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
        return {"ok": counts["ok"], "bad": counts["bad"]}

    yield asyncio.run(main())


def scale_litellm(spec: Spec) -> Iterator[dict[str, Any] | None]:
    litellm = _litellm()
    msgs = list(_scale_prompts(spec["n"]))
    yield None
    out = litellm.batch_completion(
        model="openai/scale", messages=msgs, max_workers=spec["concurrency"], api_base=spec["base"], api_key=KEY
    )
    ok = sum(1 for r in out if not isinstance(r, BaseException))
    yield {"ok": ok, "bad": len(out) - ok + _misplaced(out, "scale")}


CLIENTS: dict[str, Client] = {
    f.__name__: f
    for f in (
        rl_volley, rl_litellm, rl_aiohttp, faults_volley, faults_litellm, race_volley, race_litellm,
        scale_volley_iter, scale_volley_aiter, scale_volley_list, scale_aiohttp, scale_litellm,
    )
}  # fmt: skip


def _peak_mb() -> float:
    """Peak RSS of this process's own memory (``VmHWM``).

    Not ``ru_maxrss``: Linux carries that across ``exec``, so a child would report at least the RSS its
    parent had when it forked (the driver, with its server thread, is ~70 MB by the scale scenario).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, spec: Spec) -> None:
    steps = CLIENTS[name](spec)
    next(steps)  # imports and setup: not timed
    base_mb = _peak_mb()
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    out = next(steps)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print(MARK + json.dumps({**(out or {}), "wall": wall, "cpu": cpu, "base_mb": base_mb, "peak_mb": _peak_mb()}))


# ================================================================ driver


def run_child(name: str, spec: Spec, timeout: float = 1800) -> dict[str, Any] | None:
    """Run client ``name`` in a fresh process; its result dict, or None (with the reason on stderr)."""
    litellm = "litellm" in name
    if litellm and not LITELLM_PY.exists():
        print(f"  {name}: skipped, no {LITELLM_PY} (run bench/setup_litellm.sh)", file=sys.stderr)
        return None
    py = str(LITELLM_PY) if litellm else sys.executable
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src"), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    cmd = [py, __file__, "--child", name, "--spec", json.dumps(spec)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  {name}: timed out after {timeout:.0f} s", file=sys.stderr)
        return None
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(MARK)]
    if out.returncode != 0 or not lines:
        print(f"  {name} failed ({out.returncode}): {out.stderr.strip().splitlines()[-3:]}", file=sys.stderr)
        return None
    return json.loads(lines[-1][len(MARK) :])


@dataclass
class Tally:
    """What the counting server saw, per model: outcomes, and seconds from arrival to each cancellation."""

    outcomes: dict[str, Counter[str]] = field(default_factory=dict)
    cancelled: dict[str, list[float]] = field(default_factory=dict)

    def add(self, model: str, outcome: str) -> None:
        self.outcomes.setdefault(model, Counter())[outcome] += 1

    def cancel(self, model: str, after: float) -> None:
        self.add(model, "cancelled")
        self.cancelled.setdefault(model, []).append(after)

    def of(self, model: str) -> Counter[str]:
        return self.outcomes.get(model, Counter())

    def clear(self) -> None:
        self.outcomes.clear()
        self.cancelled.clear()


def counting_server() -> Any:
    """A FakeServer in a thread of this process whose middleware fills ``server.tally``."""
    import asyncio

    from aiohttp import web

    from volley.testing import FakeServer

    class CountingServer(FakeServer):
        def __init__(self) -> None:
            super().__init__()
            self.tally = Tally()

        def app(self) -> web.Application:
            app = super().app()
            tally = self.tally

            @web.middleware
            async def count(request: web.Request, handler: Any) -> web.StreamResponse:
                t0 = time.monotonic()
                try:
                    model = str(json.loads(await request.read()).get("model"))
                except (ValueError, AttributeError):
                    model = "?"
                try:
                    resp = await handler(request)
                except asyncio.CancelledError:
                    tally.cancel(model, time.monotonic() - t0)
                    raise
                dropped = request.transport is None or request.transport.is_closing()
                tally.add(model, "drop" if dropped else str(resp.status))
                return resp

            app.middlewares.append(count)
            return app

    return CountingServer().start_in_thread()


def _pct(xs: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def _table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in header]] + [[f"{c:.2f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for r in cells:
        print("  " + "  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))))


def _verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


# ---------------------------------------------------------------- scenario 1: throughput (delegated)


def scenario_throughput(args: argparse.Namespace) -> dict[str, Any]:
    print("\n== throughput: bench/throughput.py (2000 requests, 200 in flight, 100 ms)")
    cmd = [sys.executable, str(HERE / "throughput.py"), "--repeats", str(args.throughput_repeats)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    print(out.stdout, out.stderr, sep="", end="")
    return {"output": out.stdout}


# ---------------------------------------------------------------- scenario 2: rate limit


def scenario_ratelimit(args: argparse.Namespace) -> dict[str, Any]:
    n, conc = args.rl_n, 200
    print(f"\n== ratelimit: {n} requests to a model limited to {RL_LIMIT} RPM on {RL_WINDOW:g} s windows, "
          f"{args.rl_latency * 1000:.0f} ms latency; clients may keep {conc} in flight")  # fmt: skip
    runs = [
        ("volley told rpm=600", "rl_volley", {"rpm": RL_LIMIT}, (0.95, 0.01)),
        ("volley learning", "rl_volley", {}, (0.90, 0.05)),
        ("litellm (default retries)", "rl_litellm", {}, None),
        ("litellm num_retries=6", "rl_litellm", {"num_retries": 6}, None),
        ("aiohttp (retry-after)", "rl_aiohttp", {}, None),
    ]
    server = counting_server()
    results: dict[str, Any] = {}
    rows = []
    try:
        for label, client, extra, target in runs:
            model = f"rl-{client}-{len(results)}"  # a model (and a rate-limit window) of its own per run
            server.script(model, rpm=RL_LIMIT, window=RL_WINDOW, latency=args.rl_latency)
            r = run_child(client, {"base": server.openai_base, "model": model, "n": n, "concurrency": conc, **extra})
            if r is None:
                continue
            seen = server.tally.of(model)
            sent = sum(seen.values())
            rpm = r["ok"] / r["wall"] * 60
            share_429 = seen["429"] / sent if sent else 0.0
            met = "" if target is None else _verdict(rpm >= target[0] * RL_LIMIT and share_429 < target[1])
            results[label] = {**r, "server": dict(seen), "rpm": rpm, "share_429": share_429, "target": met}
            rows.append(
                [
                    label,
                    f"{r['ok']}/{n}",
                    r["wall"],
                    f"{rpm:.0f}",
                    f"{rpm / RL_LIMIT:.1%}",
                    sent,
                    seen["429"],
                    f"{share_429:.1%}",
                    json.dumps(r["errors"]) if r["errors"] else "-",
                    met,
                ]
            )
    finally:
        server.stop()
    _table(["client", "ok", "wall s", "ok/min", "of limit", "HTTP reqs", "429s", "429 share", "errors", "target"],
           rows)  # fmt: skip
    print("  targets: told >= 95% of the limit with < 1% 429s; learning >= 90% with < 5% (429 share = 429s / HTTP "
          "requests the server received)")  # fmt: skip
    return results


# ---------------------------------------------------------------- scenario 3: faults


def scenario_faults(args: argparse.Namespace) -> dict[str, Any]:
    n, conc = args.faults_n, 100
    print(f"\n== faults: {n} requests, {conc} in flight, 50 ms latency, 20% of attempts fail (500 or dropped "
          f"connection, seed {args.seed})")  # fmt: skip
    runs = [
        ("volley num_retries=6", "faults_volley", 6),
        ("litellm num_retries=6", "faults_litellm", 6),
        ("volley default (3)", "faults_volley", None),
        ("litellm default", "faults_litellm", None),
    ]
    server = counting_server()
    results: dict[str, Any] = {}
    rows = []
    try:
        for label, client, retries in runs:
            model = f"faults-{len(results)}"
            server.script(model, fail_rate=0.2, seed=args.seed, latency=0.05)  # the same failure draws for each
            spec = {"base": server.openai_base, "model": model, "n": n, "concurrency": conc, "num_retries": retries}
            r = run_child(client, spec)
            if r is None:
                continue
            seen = server.tally.of(model)
            met = _verdict(r["ok"] == n and r["misplaced"] == 0) if label == "volley num_retries=6" else ""
            results[label] = {**r, "server": dict(seen), "target": met}
            errors = json.dumps(r["errors"]) if r["errors"] else "-"
            row = [label, f"{r['ok']}/{n}", errors, r["misplaced"], r["wall"], sum(seen.values())]
            rows.append([*row, seen["500"], seen["drop"], met])
    finally:
        server.stop()
    _table(["client", "ok", "exceptions", "wrong slot", "wall s", "HTTP reqs", "500s", "drops", "target"], rows)
    print("  target: volley with num_retries=6 returns every item, each answer in its prompt's slot")
    return results


# ---------------------------------------------------------------- scenario 4: race and hedging


def _race_row(label: str, r: dict[str, Any], seen: dict[str, Counter[str]]) -> list[Any]:
    lat = r["latencies"]
    sent = {k: sum(seen.get(m, Counter()).values()) for k, m in RACE_MODELS.items()}
    return [label, len(lat), statistics.median(lat) * 1000, _pct(lat, 95) * 1000, max(lat) * 1000,
            json.dumps(r["winners"]), "/".join(str(sent[k]) for k in ("fast", "mid", "slow"))]  # fmt: skip


def _losers(tally: Tally) -> dict[str, Any]:
    """Connections of the 300 and 1000 ms models: closed early (cancelled at the server) or answered in full."""
    out: dict[str, Any] = {}
    for k in ("mid", "slow"):
        m = RACE_MODELS[k]
        cancelled = tally.cancelled.get(m, [])
        out[k] = {
            "answered": tally.of(m)["200"],
            "cancelled": len(cancelled),
            "cancel_after_ms_median": statistics.median(cancelled) * 1000 if cancelled else None,
            "cancel_after_ms_max": max(cancelled) * 1000 if cancelled else None,
        }
    return out


def scenario_race(args: argparse.Namespace) -> dict[str, Any]:
    races = args.races
    print(f"\n== race: {races} races over three models at 50 / 300 / 1000 ms "
          "(OpenAI endpoint, model names fake-latency-XXms)")  # fmt: skip
    runs = [
        ("volley, slow listed first", "race_volley", {"order": SLOW_FIRST}),
        ("volley hedge 0.2, fast first", "race_volley", {"order": FAST_FIRST, "hedge_after": 0.2}),
        ("volley hedge 0.2, slow first", "race_volley", {"order": SLOW_FIRST, "hedge_after": 0.2}),
        ("litellm, slow listed first", "race_litellm", {"order": SLOW_FIRST}),
        ("litellm, fast listed first", "race_litellm", {"order": FAST_FIRST, "races": max(5, races // 4)}),
    ]
    server = counting_server()
    results: dict[str, Any] = {}
    rows = []
    try:
        for label, client, extra in runs:
            server.tally.clear()
            spec = {"base": server.openai_base, "races": races, "gap": 0.2, **extra}
            r = run_child(client, spec)
            if r is None:
                continue
            time.sleep(0.2)
            r["server"] = {m: dict(c) for m, c in server.tally.outcomes.items()}
            r["losers"] = _losers(server.tally)
            results[label] = r
            rows.append(_race_row(label, r, server.tally.outcomes))
    finally:
        server.stop()
    _table(["client", "races", "median ms", "p95 ms", "max ms", "winners", "reqs 50/300/1000"], rows)
    _race_summary(results, races)
    return results


def _race_summary(results: dict[str, Any], races: int) -> None:
    plain = results.get("volley, slow listed first")
    if plain:
        lat = plain["latencies"]
        met = statistics.median(lat) <= 0.080 and _pct(lat, 95) <= 0.080
        print(f"  volley answers within 80 ms: median {statistics.median(lat) * 1000:.1f} ms, "
              f"p95 {_pct(lat, 95) * 1000:.1f} ms -> {_verdict(met)}")  # fmt: skip
        for k, v in plain["losers"].items():
            print(f"  losers ({RACE_MODELS[k]}): {v['cancelled']} connections closed (server handler cancelled) "
                  f"after median {_ms(v['cancel_after_ms_median'])}, max {_ms(v['cancel_after_ms_max'])} from "
                  f"arrival; {v['answered']} answered in full")  # fmt: skip
    hedged = results.get("volley hedge 0.2, fast first")
    if hedged:
        sent = sum(sum(c.values()) for m, c in hedged["server"].items() if m in RACE_MODELS.values())
        print(f"  hedge_after=0.2, fast first: {sent} requests for {races} races; {3 * races - sent} of "
              f"{3 * races} calls saved")  # fmt: skip
    slow = results.get("volley hedge 0.2, slow first")
    if slow and plain:
        cost = (statistics.median(slow["latencies"]) - statistics.median(plain["latencies"])) * 1000
        print(f"  hedge_after=0.2, slow first: median latency +{cost:.0f} ms over the unhedged race")
    for label in ("litellm, slow listed first", "litellm, fast listed first"):
        r = results.get(label)
        if r:
            ans = {k: v["answered"] for k, v in r["losers"].items()}
            print(f"  {label}: returned {r['winners']}; median {statistics.median(r['latencies']) * 1000:.0f} ms; "
                  f"300/1000 ms requests answered in full: {ans['mid']}/{ans['slow']}")  # fmt: skip


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f} ms"


# ---------------------------------------------------------------- scenario 5: scale


def scenario_scale(args: argparse.Namespace) -> dict[str, Any]:
    big, small, conc = args.scale_n, args.scale_small, 100
    print(f"\n== scale: prompts at 1 ms latency, {conc} in flight; fake server in its own process (no records)")
    runs: list[tuple[str, str, int, Spec]] = [
        (f"volley iter (sync), generator, {small}", "scale_volley_iter", small, {}),
        (f"volley iter (sync), generator, {big}", "scale_volley_iter", big, {}),
        (f"volley async iter, generator, {small}", "scale_volley_aiter", small, {}),
        (f"volley async iter, generator, {big}", "scale_volley_aiter", big, {}),
        (f"volley list, {small}", "scale_volley_list", small, {}),
        (f"volley list, {big}", "scale_volley_list", big, {}),
        (f"aiohttp worker pool, {big}", "scale_aiohttp", big, {}),
    ]
    if args.slow_consumer:
        for n in (args.slow_consumer // 4, args.slow_consumer):
            runs.append(
                (f"volley async iter, consumer awaits 1 ms/item, {n}", "scale_volley_aiter", n, {"pause": 0.001})
            )
    if args.scale_litellm:
        runs.append((f"litellm list, {args.scale_litellm}", "scale_litellm", args.scale_litellm, {}))
    proc, port = start_server(0.001)
    base = f"http://127.0.0.1:{port}/v1"
    results: dict[str, Any] = {}
    rows = []
    try:
        run_child("scale_aiohttp", {"base": base, "n": 2000, "concurrency": conc})  # warm the server up
        for label, client, n, extra in runs:
            r = run_child(client, {"base": base, "n": n, "concurrency": conc, **extra})
            if r is None:
                continue
            results[label] = {**r, "n": n, "rps": r["ok"] / r["wall"]}
            row = [label, f"{r['ok']}/{n}", r["wall"], r["cpu"], f"{r['ok'] / r['wall']:.0f}"]
            rows.append([*row, f"{r['base_mb']:.0f}", f"{r['peak_mb']:.0f}", f"{r['peak_mb'] - r['base_mb']:.0f}"])
    finally:
        proc.terminate()
        proc.wait()
    _table(["client", "ok", "wall s", "CPU s", "req/s", "MB after setup", "peak MB", "growth MB"], rows)
    for i in (0, 2):
        lo, hi = results.get(runs[i][0]), results.get(runs[i + 1][0])
        if lo and hi:
            flat = hi["peak_mb"] <= lo["peak_mb"] * 1.25
            print(f"  {runs[i][0].split(',')[0]}: peak RSS {small} -> {big} prompts: {lo['peak_mb']:.0f} -> "
                  f"{hi['peak_mb']:.0f} MB -> bounded by what is in flight: {_verdict(flat)}")  # fmt: skip
    return results


# ---------------------------------------------------------------- imports


def scenario_imports(args: argparse.Namespace) -> dict[str, Any]:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ["PYTHONPATH"] = str(HERE.parent / "src")
    out = {"volley_ms": import_time("volley") * 1000}
    if LITELLM_PY.exists():
        out["litellm_ms"] = import_time("litellm", str(LITELLM_PY), repeats=3) * 1000
    print("\n== imports (median, interpreter start subtracted)")
    for k, v in out.items():
        print(f"  import {k[:-3]}: {v:.0f} ms")
    return out


SCENARIOS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "throughput": scenario_throughput,
    "ratelimit": scenario_ratelimit,
    "faults": scenario_faults,
    "race": scenario_race,
    "scale": scenario_scale,
    "imports": scenario_imports,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="*", help=f"any of {', '.join(SCENARIOS)} (default: all, in that order)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    ap.add_argument("--throughput-repeats", type=int, default=3)
    ap.add_argument("--rl-n", type=int, default=300, help="requests per rate-limit run (~31 s each at 600 RPM)")
    ap.add_argument("--rl-latency", type=float, default=0.05)
    ap.add_argument("--faults-n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--races", type=int, default=20)
    ap.add_argument("--scale-n", type=int, default=100_000)
    ap.add_argument("--scale-small", type=int, default=10_000)
    ap.add_argument(
        "--slow-consumer",
        type=int,
        default=0,
        help="also: async iter with a consumer awaiting 1 ms per "
        "item, on N/4 and N prompts (shows results piling up when the consumer is slower)",
    )
    ap.add_argument("--scale-litellm", type=int, default=0, help="also run LiteLLM's list form on this many")
    args = ap.parse_args()
    if args.child:
        child(args.child, json.loads(args.spec))
        return
    chosen = args.scenarios or list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    print(f"{time.strftime('%Y-%m-%d %H:%M')}  nproc={os.cpu_count()}  python {sys.version.split()[0]}")
    t0 = time.perf_counter()
    results = {name: SCENARIOS[name](args) for name in chosen}
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
