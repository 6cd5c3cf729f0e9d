"""Hostile servers and hostile input: raw asyncio sockets on 127.0.0.1 send exactly the bytes each attack needs.

Each class of attack: the batch never hangs, a key never leaves its origin nor shows in any error,
a server hint cannot freeze a lane, every bad answer is a typed ``APIError``, a stream is bounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import volley
from volley.engine import limits

KEY = "sk-hostile/Xq+9=Zz7Kp3Lw5Mv"  # '/', '+' and '=' change when URL-encoded or JSON-escaped
OTHER_KEY = "sk-other-account-4c1d2e3f"
Q = [{"role": "user", "content": "hello"}]


# ------------------------------------------------------------------ a raw HTTP server


@dataclass
class Req:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Handler = Callable[[Req, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """HTTP/1.1 on raw sockets in a thread of its own: ``handler(req, writer)`` writes whatever bytes it likes.

    Every connection is closed after one answer, so each request is one connection.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Req] = []
        self.loop = asyncio.new_event_loop()
        self._tasks: set[asyncio.Task[Any]] = set()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._main, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _main(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._conn, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
            n = int(headers.get("content-length", "0"))
            req = Req(method, path, headers, await reader.readexactly(n) if n else b"")
            self.requests.append(req)
            await self.handler(req, writer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def http(status: int, body: bytes | str | dict | list = b"", headers: dict[str, str] | None = None) -> bytes:
    """One complete HTTP answer (JSON for dicts and lists)."""
    ctype = "application/json"
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        if body.lstrip().startswith("<"):
            ctype = "text/html"
        body = body.encode()
    head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", f"Content-Type: {ctype}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"


@pytest.fixture
def serve():
    """``serve(handler)`` starts a RawServer (closed after the test)."""
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        s = RawServer(handler)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


def answer(*responses: bytes) -> Handler:
    """A handler that gives ``responses`` in turn (the last one again once they run out)."""
    queue = list(responses)

    async def handle(req: Req, w: asyncio.StreamWriter) -> None:
        w.write(queue.pop(0) if len(queue) > 1 else queue[0])

    return handle


# the same reply in each wire format; ``base`` is what api_base= takes
OK = {
    "openai": {
        "id": "c1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    },
    "anthropic": {
        "id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1},
    },
    "cohere": {
        "id": "c1", "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "hi"}]},
        "usage": {"tokens": {"input_tokens": 1, "output_tokens": 1}},
    },
    "gemini": {"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}]},
}  # fmt: skip
WIRES = list(OK)


def base(server: RawServer, wire: str) -> str:
    return server.url + "/v1" if wire == "openai" else server.url


def call(wire: str, server: RawServer, *, stream: bool = False, key: str = KEY, **extra: Any) -> Any:
    params = {"api_key": key, "api_base": base(server, wire), "timeout": 3, "num_retries": 0, **extra}
    out = volley.completion(f"{wire}/m", Q, stream=stream, **params)
    return volley.stream_chunk_builder(list(out)) if stream else out


def bounded(fn: Callable[[], Any], seconds: float) -> Any:
    """``fn()`` run in a thread; fail the test (instead of hanging the suite) if it takes longer."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        pytest.fail(f"still running after {seconds} s: it hangs")
    if "error" in box:
        raise box["error"]
    return box["value"]


def texts_of(exc: BaseException) -> list[str]:
    """Every text an error can end up in: str, repr, args, its traceback, its body."""
    return [
        str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc)),
        repr(getattr(exc, "body", None)), str(getattr(exc, "message", "")),
    ]  # fmt: skip


def leaks(text: str) -> list[str]:
    forms = [KEY, KEY[:10], KEY[:8], quote(KEY, safe=""), json.dumps(KEY)[1:-1].replace("/", "\\/")]
    return [f for f in forms if f in text]


def lanes() -> list[limits.Lane]:
    return [lane for table in list(limits._lanes.values()) for lane in table.values()]


# ------------------------------------------------------------------ 1. an input that raises ends the batch


def _prompts_then(n: int, exc: BaseException):
    for i in range(n):
        yield [{"role": "user", "content": f"item {i}"}]
    raise exc


@pytest.mark.parametrize("deadline", [None, 10], ids=["no-deadline", "deadline"])
def test_sync_iterator_that_raises_ends_the_batch_after_its_results(fake, deadline):
    fake.script("m", latency=0.05)

    def go() -> tuple[list[Any], BaseException | None]:
        got: list[Any] = []
        try:
            for i, r in volley.iter_batch_completion(
                "openai/m", _prompts_then(3, ValueError("input broke")), max_workers=4, deadline=deadline,
                api_key=KEY, api_base=fake.openai_base,
            ):  # fmt: skip
                got.append((i, r))
        except ValueError as exc:
            return got, exc
        return got, None

    got, err = bounded(go, 10)
    assert isinstance(err, ValueError) and str(err) == "input broke"
    assert sorted(i for i, _ in got) == [0, 1, 2]  # every item read before the error was delivered
    assert all(isinstance(r, volley.ModelResponse) for _, r in got)


@pytest.mark.parametrize("deadline", [None, 10], ids=["no-deadline", "deadline"])
@pytest.mark.parametrize("kind", ["sync-generator", "async-generator"])
async def test_async_forms_with_an_input_that_raises_end_the_batch(fake, kind, deadline):
    fake.script("m", latency=0.05)

    async def agen():
        for i in range(3):
            yield [{"role": "user", "content": f"item {i}"}]
        raise ValueError("input broke")

    source = _prompts_then(3, ValueError("input broke")) if kind == "sync-generator" else agen()
    got = []

    async def go() -> None:
        async for i, r in volley.abatch_completion_iter(
            "openai/m", source, deadline=deadline, api_key=KEY, api_base=fake.openai_base
        ):
            got.append((i, r))

    with pytest.raises(ValueError, match="input broke"):
        await asyncio.wait_for(go(), 10)
    assert sorted(i for i, _ in got) == [0, 1, 2]


async def test_engine_delivers_the_jobs_in_flight_then_raises_the_input_error():
    from volley.engine.run import run

    finished = []

    def job(i: int, delay: float):
        async def go() -> int:
            await asyncio.sleep(delay)
            finished.append(i)
            return i

        return go

    def source():
        yield 0, job(0, 0.3)  # still running when the input fails
        yield 1, job(1, 0.0)
        raise KeyError("bad input")

    got = []

    async def go() -> None:
        async for item in run(source(), concurrency=4):
            got.append(item)

    with pytest.raises(KeyError):
        await asyncio.wait_for(go(), 5)
    assert sorted(got) == [(0, 0), (1, 1)] and sorted(finished) == [0, 1]


async def test_an_input_still_awaited_at_the_deadline_ends_the_batch(fake):
    async def stuck():
        yield Q
        await asyncio.sleep(3600)

    got = []
    t0 = time.monotonic()
    with pytest.raises(volley.Timeout):
        async for i, r in volley.abatch_completion_iter(
            "openai/m", stuck(), deadline=0.5, api_key=KEY, api_base=fake.openai_base
        ):
            got.append((i, r))
    assert time.monotonic() - t0 < 5
    assert [i for i, _ in got] == [0] and isinstance(got[0][1], volley.ModelResponse)


def test_a_blocked_sync_generator_does_not_outlive_the_deadline(fake):
    def stuck():
        yield Q
        time.sleep(30)  # blocks the reader thread, never the loop
        yield Q

    def go() -> tuple[list[Any], BaseException | None]:
        got = []
        try:
            for item in volley.iter_batch_completion(
                "openai/m", stuck(), deadline=0.5, api_key=KEY, api_base=fake.openai_base
            ):
                got.append(item)
        except volley.Timeout as exc:
            return got, exc
        return got, None

    got, err = bounded(go, 5)
    assert isinstance(err, volley.Timeout) and [i for i, _ in got] == [0]


def test_an_item_whose_request_cannot_be_built_is_that_items_error(fake):
    unsendable = [{"role": "user", "content": "x", "name": object()}]  # valid shape, not JSON-serialisable
    out = bounded(
        lambda: volley.batch_completion("openai/m", [Q, unsendable, Q], api_key=KEY, api_base=fake.openai_base), 10
    )
    assert isinstance(out[0], volley.ModelResponse) and isinstance(out[2], volley.ModelResponse)
    assert isinstance(out[1], volley.APIError) and "JSON" in str(out[1])


# ------------------------------------------------------------------ 7. slow lazy input


def test_a_slow_generator_never_makes_requests_in_flight_time_out(fake):
    fake.script("m", latency=0.05)

    def slow():
        for i in range(6):
            time.sleep(0.5)  # a slow source (a database, a file on a network share)
            yield [{"role": "user", "content": f"item {i}"}]

    out = bounded(
        lambda: list(
            volley.iter_batch_completion(
                "openai/m", slow(), max_workers=6, timeout=0.4, num_retries=0, api_key=KEY, api_base=fake.openai_base
            )
        ),
        20,
    )
    assert [type(r).__name__ for _, r in sorted(out)] == ["ModelResponse"] * 6
    assert len(fake.requests) == 6  # nothing was sent twice


# ------------------------------------------------------------------ 2. redirects never take the key elsewhere


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("wire", WIRES)
def test_a_redirect_to_another_origin_is_refused(serve, wire, status, stream):
    elsewhere = serve(answer(http(200, OK[wire])))
    origin = serve(answer(http(status, b"", {"Location": f"{elsewhere.url}/steal"})))
    with pytest.raises(volley.RedirectError) as ei:
        call(wire, origin, stream=stream)
    assert elsewhere.requests == []  # nothing, and so no key, went there
    assert f"127.0.0.1:{elsewhere.port}" in str(ei.value)  # it names where the redirect pointed
    assert not any(leaks(t) for t in texts_of(ei.value))
    assert len(origin.requests) == 1  # not retried: a redirect does not change on retry


@pytest.mark.parametrize("wire", WIRES)
def test_a_redirect_to_another_host_name_on_the_same_port_is_refused(serve, wire):
    box: dict[str, int] = {}

    async def handle(req: Req, w: asyncio.StreamWriter) -> None:
        w.write(http(307, b"", {"Location": f"http://localhost:{box['port']}{req.path}"}))

    origin = serve(handle)
    box["port"] = origin.port
    with pytest.raises(volley.RedirectError, match="localhost"):
        call(wire, origin)
    assert len(origin.requests) == 1


@pytest.mark.parametrize("wire", WIRES)
def test_a_same_origin_redirect_is_followed_with_the_key(serve, wire):
    async def handle(req: Req, w: asyncio.StreamWriter) -> None:
        if req.path.startswith("/moved"):
            w.write(http(200, OK[wire]))
        else:
            w.write(http(307, b"", {"Location": "/moved" + req.path}))

    origin = serve(handle)
    r = call(wire, origin)
    assert r.choices[0].message.content == "hi"
    first, second = origin.requests
    assert second.path == "/moved" + first.path and second.json == first.json
    assert {k: v for k, v in second.headers.items() if KEY in v} == {k: v for k, v in first.headers.items() if KEY in v}


def test_a_redirect_loop_ends_with_a_typed_error(serve):
    origin = serve(answer(http(308, b"", {"Location": "/v1/chat/completions"})))
    with pytest.raises(volley.RedirectError, match="redirects"):
        call("openai", origin)
    assert len(origin.requests) == 6


def test_redirect_rule_same_origin_or_an_upgrade_to_https_only():
    from yarl import URL

    from volley.transports.http import _may_follow

    u = URL
    assert _may_follow(u("https://api.x.com/v1"), u("https://api.x.com/v2"))
    assert _may_follow(u("http://api.x.com/v1"), u("https://api.x.com/v1"))  # an upgrade keeps the key safer
    assert not _may_follow(u("https://api.x.com/v1"), u("http://api.x.com/v1"))  # a downgrade: the key in clear
    assert not _may_follow(u("https://api.x.com/v1"), u("https://evil.com/v1"))
    assert not _may_follow(u("https://api.x.com/v1"), u("https://api.x.com:8443/v1"))
    assert not _may_follow(u("https://api.x.com/v1"), u("https://x.com/v1"))
    assert not _may_follow(u("https://api.x.com/v1"), u("ftp://api.x.com/v1"))


# ------------------------------------------------------------------ 3. server hints are capped


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "86400"}, 60.0),
        ({"retry-after": "inf"}, 60.0),
        ({"retry-after": "1e400"}, 60.0),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "Wed, 01 Jan 2099 00:00:00 GMT"}, 60.0),
        ({"retry-after": "Wed, 01 Jan 1999 00:00:00 GMT"}, 0.0),
        ({"retry-after-ms": "1e12"}, 60.0),
        ({"retry-after-ms": "nan", "retry-after": "2"}, 2.0),
        ({"retry-after-ms": "250"}, 0.25),
    ],
)
def test_retry_after_is_capped(headers, expected):
    from volley.errors import MAX_SERVER_WAIT, retry_after_seconds

    assert MAX_SERVER_WAIT == 60.0
    assert retry_after_seconds(headers) == expected


HUGE_HINTS = [
    {"retry-after": "86400"},
    {"retry-after": "inf"},
    {"retry-after": "Wed, 01 Jan 2099 00:00:00 GMT"},
    {"retry-after-ms": "1e12"},
]


@pytest.mark.parametrize("hint", HUGE_HINTS, ids=lambda h: "-".join(h.items().__iter__().__next__()))
def test_a_huge_retry_after_never_freezes_the_lane(serve, hint):
    server = serve(answer(http(429, {"error": {"message": "slow down"}}, hint), http(200, OK["openai"])))
    with pytest.raises(volley.RateLimitError):
        call("openai", server)
    t0 = time.monotonic()
    with pytest.raises(volley.RateLimitError, match="longer than this call may wait") as ei:
        bounded(lambda: call("openai", server, timeout=2), 10)
    assert time.monotonic() - t0 < 1.5  # failed at once, not after 86400 s (nor after its 2 s timeout)
    assert ei.value.retry_after is not None and ei.value.retry_after <= 60
    assert ei.value.provider == "openai" and ei.value.model == "m"
    assert len(server.requests) == 1  # the paused lane sent nothing
    assert all(lane.paused_until - time.monotonic() <= 60.5 for lane in lanes())


@pytest.mark.parametrize("reset", ["1e9", "99999h", "2099-01-01T00:00:00Z", "inf"])
def test_remaining_zero_with_a_far_reset_is_capped(serve, reset):
    headers = {"x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "0",
               "x-ratelimit-reset-requests": reset}  # fmt: skip
    server = serve(answer(http(200, OK["openai"], headers)))
    assert call("openai", server).choices[0].message.content == "hi"
    t0 = time.monotonic()
    with pytest.raises(volley.RateLimitError, match="paused this lane"):
        bounded(lambda: call("openai", server, timeout=2), 10)
    assert time.monotonic() - t0 < 1.5
    assert all(lane.paused_until - time.monotonic() <= 60.5 for lane in lanes())


def test_wild_learned_limits_and_usage_cannot_stall_the_lane(serve):
    headers = {"x-ratelimit-limit-requests": "1e400", "x-ratelimit-limit-tokens": "1",
               "x-ratelimit-remaining-tokens": "-3"}  # fmt: skip
    body = {**OK["openai"], "usage": {"prompt_tokens": 1, "completion_tokens": 10**15, "total_tokens": 10**15}}
    server = serve(answer(http(200, body, headers)))
    for _ in range(3):  # "1 token a minute" and a usage of 10**15 tokens: still no wait past the timeout
        t0 = time.monotonic()
        assert bounded(lambda: call("openai", server, timeout=1), 10).choices[0].message.content == "hi"
        assert time.monotonic() - t0 < 3
    for lane in lanes():  # each request moves a learned schedule by at most MAX_SERVER_WAIT (twice: reserve, usage)
        for pacer in (lane._req_pacer, lane._tok_pacer):
            if pacer is not None:
                assert pacer._tat - time.monotonic() <= 3 * 2 * 60


def test_a_short_pause_is_waited_out(serve):
    server = serve(answer(http(429, {"error": {"message": "slow"}}, {"retry-after": "0.5"}), http(200, OK["openai"])))
    with pytest.raises(volley.RateLimitError):
        call("openai", server)
    t0 = time.monotonic()
    assert call("openai", server, timeout=3).choices[0].message.content == "hi"
    assert 0.3 < time.monotonic() - t0 < 3


def test_a_pause_past_the_batch_deadline_ends_the_batch_at_once(serve):
    server = serve(answer(http(429, {"error": {"message": "slow"}}, {"retry-after": "50"}), http(200, OK["openai"])))
    with pytest.raises(volley.RateLimitError):
        call("openai", server)
    t0 = time.monotonic()
    out = bounded(
        lambda: volley.batch_completion(
            "openai/m", [Q] * 3, deadline=2, timeout=None, num_retries=0, api_key=KEY, api_base=base(server, "openai")
        ),
        10,
    )
    assert time.monotonic() - t0 < 1.5
    assert all(isinstance(r, volley.RateLimitError) and "deadline" in str(r) for r in out)


def test_one_keys_rate_limit_does_not_slow_another_key(serve):
    async def handle(req: Req, w: asyncio.StreamWriter) -> None:
        limited = KEY in req.headers.get("authorization", "")
        w.write(
            http(429, {"error": {"message": "slow"}}, {"retry-after": "30"}) if limited else http(200, OK["openai"])
        )

    server = serve(handle)
    with pytest.raises(volley.RateLimitError):
        call("openai", server)
    t0 = time.monotonic()
    assert call("openai", server, key=OTHER_KEY).choices[0].message.content == "hi"
    assert time.monotonic() - t0 < 1.5
    with pytest.raises(volley.RateLimitError, match="paused"):
        call("openai", server, timeout=2)  # the first key's lane is still paused


def test_lane_names_the_account_by_a_fingerprint_never_the_key():
    from volley.routing import resolve

    a = resolve("openai/m", api_key=KEY, api_base="http://127.0.0.1:1/v1").lane
    b = resolve("openai/m", api_key=OTHER_KEY, api_base="http://127.0.0.1:1/v1").lane
    assert a != b and a[:3] == b[:3]
    assert not leaks(repr(a)) and len(a[3]) == 8


OVER_QUOTA = "You exceeded your current quota, please check your plan and billing details."
QUOTA = {
    "openai": (429, {"error": {"message": OVER_QUOTA,
                               "type": "insufficient_quota", "code": "insufficient_quota"}}),
    "anthropic": (400, {"type": "error", "error": {"type": "invalid_request_error",
                                                   "message": "Your credit balance is too low to access the API."}}),
    "gemini": (429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
                               "message": OVER_QUOTA,
                               "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                                   {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}),
    "cohere": (429, {"message": "You are using a Trial key, which is limited to 1000 API calls / month."}),
}  # fmt: skip


@pytest.mark.parametrize("wire", WIRES)
def test_an_exhausted_quota_fails_fast_and_the_lane_stops_sending(serve, wire):
    status, body = QUOTA[wire]
    server = serve(answer(http(status, body)))
    t0 = time.monotonic()
    with pytest.raises(volley.QuotaExceededError) as ei:
        call(wire, server, num_retries=3)
    assert len(server.requests) == 1  # not retried: waiting does not refill a quota
    assert isinstance(ei.value, volley.RateLimitError) and ei.value.provider == wire
    out = volley.batch_completion(
        f"{wire}/m", [Q] * 20, max_workers=4, num_retries=3, api_key=KEY, api_base=base(server, wire)
    )
    assert all(isinstance(r, volley.QuotaExceededError) for r in out)
    assert len(server.requests) == 1  # later items of the lane were refused without being sent
    assert time.monotonic() - t0 < 3


def test_a_per_minute_limit_is_not_a_quota(serve):
    violations = [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}]
    per_minute = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": OVER_QUOTA,
                            "details": [{"violations": violations}]}}  # fmt: skip
    server = serve(answer(http(429, per_minute, {"retry-after": "0.1"}), http(200, OK["gemini"])))
    assert call("gemini", server, num_retries=2).choices[0].message.content == "hi"
    assert len(server.requests) == 2


# ------------------------------------------------------------------ 4. an echoed key is masked everywhere


def _echo(kind: str):
    """Bodies that echo the key back (a bug or an attack), in the form that path would show it."""
    if kind == "200-not-a-completion":
        return "openai", False, [http(200, {"object": "list", "data": [], "debug": f"auth={KEY}"})]
    if kind == "200-html":
        return "openai", False, [http(200, f"<html><title>Login</title><body>key {KEY}</body></html>")]
    if kind == "200-malformed-prefix":
        return "anthropic", False, [http(200, f'{{"id": "msg", "oops": "{KEY[:10]}')]
    if kind == "401-url-encoded":
        return "gemini", False, [http(401, {"error": {"message": f"bad key=?key={quote(KEY, safe='')}"}})]
    if kind == "500-json-escaped":
        escaped = json.dumps(KEY).replace("/", "\\/")
        return "cohere", False, [http(500, ('{"message": "key ' + escaped[1:-1] + ' is not valid"}').encode())]
    if kind == "stream-error-event":
        event = json.dumps({"error": {"message": f"invalid key {KEY}", "code": 401}})
        return "openai", True, [SSE_HEAD + f"data: {event}\n\n".encode()]
    if kind == "anthropic-stream-error":
        event = json.dumps({"type": "error", "error": {"type": "authentication_error", "message": f"bad {KEY}"}})
        return "anthropic", True, [SSE_HEAD + f"event: error\ndata: {event}\n\n".encode()]
    raise AssertionError(kind)


ECHOES = ["200-not-a-completion", "200-html", "200-malformed-prefix", "401-url-encoded", "500-json-escaped",
          "stream-error-event", "anthropic-stream-error"]  # fmt: skip


@pytest.mark.parametrize("kind", ECHOES)
def test_an_echoed_key_is_masked_on_every_path(serve, caplog, kind):
    caplog.set_level(logging.DEBUG)
    wire, stream, responses = _echo(kind)
    server = serve(answer(*responses))
    with pytest.raises(volley.APIError) as ei:
        call(wire, server, stream=stream, num_retries=1, retry_delay=0.01)
    assert ei.value.provider == wire and ei.value.model == "m"
    found = [(t[:80], leaks(t)) for t in [*texts_of(ei.value), caplog.text] if leaks(t)]
    assert found == []
    assert "***" in str(ei.value) or kind in ("200-html",)  # the echo is still visible as an echo


def test_errors_built_anywhere_hold_only_masked_text():
    from volley.errors import APIError, error_from_status

    error_from_status(401, "x", secrets=[KEY])  # the key is in use (as a request registers it)
    e = APIError(f"boom {KEY} {KEY[:9]}", body={"k": [KEY, quote(KEY, safe="")]})
    assert not any(leaks(t) for t in texts_of(e))
    import pickle

    assert not any(leaks(t) for t in texts_of(pickle.loads(pickle.dumps(e))))


# ------------------------------------------------------------------ 8. every bad answer is a typed APIError


def test_invalid_utf8_in_a_stream_is_a_typed_error(serve):
    good = json.dumps({"choices": [{"index": 0, "delta": {"content": "hi"}}]}).encode()
    server = serve(answer(SSE_HEAD + b"data: " + good + b'\n\ndata: {"x": "\xff\xfe"}\n\n'))
    with pytest.raises(volley.APIConnectionError, match="UTF-8") as ei:
        call("openai", server, stream=True)
    assert ei.value.provider == "openai" and ei.value.model == "m"


@pytest.mark.parametrize("wire", WIRES)
def test_a_deeply_nested_body_is_a_retried_typed_error(serve, wire):
    deep = b"[" * 100_000 + b"]" * 100_000
    server = serve(answer(http(200, deep), http(200, OK[wire])))
    with pytest.raises(volley.APIConnectionError, match="nested too deep") as ei:
        call(wire, server)
    assert ei.value.provider == wire
    assert call(wire, server, num_retries=1).choices[0].message.content == "hi"  # 2nd answer is fine


MALFORMED = {
    "openai": {"choices": [{"message": {"content": {"not": "text"}, "tool_calls": "x"}}]},
    "anthropic": {"content": [{"type": "text", "text": 5}, 7], "usage": "many"},
    "cohere": {"message": {"content": [3], "tool_calls": [1]}},
    "gemini": {"candidates": [{"content": {"parts": [{"functionCall": 1}]}, "index": "zero"}]},
}


@pytest.mark.parametrize("wire", WIRES)
def test_a_valid_json_malformed_body_is_retried(serve, wire):
    server = serve(answer(http(200, MALFORMED[wire]), http(200, OK[wire])))
    with pytest.raises(volley.APIConnectionError, match="malformed answer") as ei:
        call(wire, server)
    assert ei.value.provider == wire and ei.value.model == "m"
    server.requests.clear()
    server.handler = answer(http(200, MALFORMED[wire]), http(200, OK[wire]))
    assert call(wire, server, num_retries=1, retry_delay=0.01).choices[0].message.content == "hi"
    assert len(server.requests) == 2


# ------------------------------------------------------------------ 9. streams are bounded


def _keepalive(first_event: bool) -> Handler:
    async def handle(req: Req, w: asyncio.StreamWriter) -> None:
        w.write(SSE_HEAD)
        if first_event:
            w.write(b'data: {"choices": [{"index": 0, "delta": {"content": "hi"}}]}\n\n')
        while True:
            w.write(b": keep-alive\n\n")
            await w.drain()
            await asyncio.sleep(0.1)

    return handle


@pytest.mark.parametrize("first_event", [False, True], ids=["before-any-event", "after-an-event"])
def test_keep_alive_comments_do_not_hold_a_stream_open(serve, first_event):
    server = serve(_keepalive(first_event))
    t0 = time.monotonic()
    with pytest.raises(volley.Timeout):
        bounded(lambda: call("openai", server, stream=True, timeout=1), 10)
    assert time.monotonic() - t0 < 4


def test_steady_events_keep_a_stream_alive(serve):
    async def handle(req: Req, w: asyncio.StreamWriter) -> None:
        w.write(SSE_HEAD)
        for _ in range(6):
            w.write(b'data: {"choices": [{"index": 0, "delta": {"content": "a"}}]}\n\n: ping\n\n')
            await w.drain()
            await asyncio.sleep(0.4)
        w.write(b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n')

    server = serve(handle)
    r = call("openai", server, stream=True, timeout=1.5)  # 2.4 s in all, never 1.5 s without an event
    assert r.choices[0].message.content == "aaaaaa"


def test_an_endless_line_is_cut_at_the_line_limit(serve, monkeypatch):
    from volley.transports import http as transport

    monkeypatch.setattr(transport, "MAX_LINE", 1 << 20)

    async def handle(req: Req, w: asyncio.StreamWriter) -> None:
        w.write(SSE_HEAD + b"data: ")
        while True:
            w.write(b"x" * 65536)
            await w.drain()
            await asyncio.sleep(0)

    server = serve(handle)
    with pytest.raises(volley.APIConnectionError, match="line longer"):
        bounded(lambda: call("openai", server, stream=True, timeout=5), 10)


class _Content:
    """A stand-in for aiohttp's body reader: hands out the given blocks."""

    def __init__(self, blocks: list[bytes]) -> None:
        self.blocks = blocks
        self.i = 0

    async def readany(self) -> bytes:
        if self.i == len(self.blocks):
            return b""
        self.i += 1
        return self.blocks[self.i - 1]

    async def iter_any(self):
        while block := await self.readany():
            yield block

    def at_eof(self) -> bool:
        return self.i == len(self.blocks)


class _Resp:
    def __init__(self, blocks: list[bytes]) -> None:
        self.content = _Content(blocks)

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


async def test_stream_buffering_is_linear():
    from volley.transports.http import sse_events

    line = b"data: " + b"y" * (8 << 20) + b"\n\n"  # one 8 MiB event in 512-byte blocks
    blocks = [line[i : i + 512] for i in range(0, len(line), 512)]
    t0 = time.perf_counter()
    events = [e async for e in sse_events(_Resp(blocks))]
    assert time.perf_counter() - t0 < 5  # quadratic re-copying would take minutes
    assert len(events) == 1 and len(events[0][1]) == 8 << 20


# ------------------------------------------------------------------ 10. engine settings


BAD_SETTINGS = [
    {"timeout": float("nan")}, {"timeout": float("inf")}, {"timeout": -1}, {"timeout": "3"}, {"timeout": True},
    {"retry_delay": float("nan")}, {"retry_delay": float("inf")}, {"retry_delay": -0.5},
]  # fmt: skip


@pytest.mark.parametrize("bad", BAD_SETTINGS, ids=repr)
def test_bad_timeouts_are_refused_before_sending(fake, bad):
    with pytest.raises(volley.InvalidRequestError, match=next(iter(bad))):
        volley.completion("openai/m", Q, api_key=KEY, api_base=fake.openai_base, **bad)
    with pytest.raises(volley.InvalidRequestError):
        volley.batch_completion("openai/m", [Q], api_key=KEY, api_base=fake.openai_base, **bad)
    assert fake.requests == []


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, 0])
def test_bad_deadlines_and_hedges_are_refused_before_sending(fake, value):
    kw = {"api_key": KEY, "api_base": fake.openai_base}
    with pytest.raises(volley.InvalidRequestError, match="deadline"):
        volley.batch_completion("openai/m", [Q], deadline=value, **kw)
    with pytest.raises(volley.InvalidRequestError, match="deadline"):
        volley.batch_completion_models(["openai/a", "openai/b"], Q, deadline=value, **kw)
    if value != 0:
        with pytest.raises(volley.InvalidRequestError, match="hedge_after"):
            volley.batch_completion_models(["openai/a", "openai/b"], Q, hedge_after=value, **kw)
    assert fake.requests == []


def test_a_huge_max_workers_for_a_few_items_costs_nothing(fake):
    t0 = time.perf_counter()
    out = volley.batch_completion("openai/m", [Q] * 3, max_workers=10**6, api_key=KEY, api_base=fake.openai_base)
    assert all(isinstance(r, volley.ModelResponse) for r in out)
    assert time.perf_counter() - t0 < 2  # one task per item, not a million workers


def test_deadline_bounds_the_model_races(fake):
    fake.script("slow", latency=10)
    fake.script("fast", latency=0.01)
    kw = {"api_key": KEY, "api_base": fake.openai_base}
    t0 = time.monotonic()
    with pytest.raises(volley.AllModelsFailedError) as ei:
        volley.batch_completion_models(["openai/slow", "groq/slow"], Q, deadline=0.5, **kw)
    assert time.monotonic() - t0 < 3
    assert all(isinstance(e, volley.Timeout) for e in ei.value.exceptions.values())
    assert volley.batch_completion_models(["openai/slow", "groq/fast"], Q, deadline=5, **kw).model == "fast"
    out = volley.batch_completion_models_all_responses(
        ["openai/slow", "groq/fast"], Q, return_exceptions=True, deadline=0.5, **kw
    )
    assert isinstance(out[0], volley.Timeout) and out[1].choices[0].message.content
    assert time.monotonic() - t0 < 6


# ------------------------------------------------------------------ 12. bounded errors, plain-http warning


def test_a_huge_error_body_is_a_bounded_message(serve):
    server = serve(answer(http(500, {"error": {"message": "x" * 10_000_000}})))
    with pytest.raises(volley.InternalServerError) as ei:
        call("openai", server)
    assert len(str(ei.value)) < 6000 and "cut" in str(ei.value)
    assert len(ei.value.body) <= 64 * 1024


def test_a_key_over_plain_http_to_another_host_is_warned_once(caplog):
    from yarl import URL

    from volley.transports import http as transport

    caplog.set_level(logging.WARNING, logger="volley")
    keyed = {"Authorization": f"Bearer {KEY}"}  # the credential headers of an attempt
    keyless: dict[str, str] = {}
    transport._warned_plain_http.clear()
    for url, req in [
        ("http://llm.example.com/v1", keyed), ("http://llm.example.com/v1", keyed),  # once per host
        ("https://secure.example.com/v1", keyed), ("http://127.0.0.1:8000/v1", keyed), ("http://[::1]/v1", keyed),
        ("http://localhost:11434/v1", keyed), ("http://other.example.com/v1", keyless),
    ]:  # fmt: skip
        transport._warn_plain_http(URL(url), req)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "llm.example.com" in warnings[0].getMessage()
    assert not leaks(caplog.text)


# ------------------------------------------------------------------ 8. property-based fuzz of every parser


_FIELDS = [
    "id", "model", "object", "choices", "index", "message", "delta", "role", "content", "text", "type",
    "tool_calls", "function", "name", "arguments", "finish_reason", "usage", "prompt_tokens",
    "completion_tokens", "total_tokens", "logprobs", "error", "code", "status", "stop_reason", "input",
    "input_tokens", "output_tokens", "cache_read_input_tokens", "thinking", "partial_json", "content_block",
    "tokens", "billed_units", "tool_plan", "candidates", "parts", "functionCall", "args", "finishReason",
    "usageMetadata", "promptTokenCount", "promptFeedback", "blockReason", "thought", "responseId", "details",
]  # fmt: skip
_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(), st.text(max_size=6),
    st.sampled_from(["text", "tool_use", "function", "STOP", "MAX_TOKENS", "end_turn", "tool_calls", "[DONE]"]),
)  # fmt: skip
_json = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=4), inner, max_size=5)
    ),
    max_leaves=25,
)
_EVENTS = {
    "openai": [None],
    "anthropic": ["message_start", "content_block_start", "content_block_delta", "message_delta", "message_stop",
                  "error", "ping"],
    "cohere": ["message-start", "content-delta", "tool-call-start", "tool-call-delta", "message-end", "error"],
    "gemini": [None],
}  # fmt: skip


@st.composite
def _mutated(draw: Any, template: Any) -> Any:
    """``template`` (a good answer) with some of its values, at any depth, swapped for random JSON."""
    if draw(st.integers(0, 5)) == 0:
        return draw(_json)
    if isinstance(template, dict):
        out = {k: draw(_mutated(v)) for k, v in template.items() if draw(st.integers(0, 9))}
        out.update(draw(st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=2)))
        return out
    if isinstance(template, list):
        return [draw(_mutated(v)) for v in template] + draw(st.lists(_json, max_size=1))
    return template


def _body(wire: str) -> Any:
    return st.one_of(_mutated(OK[wire]), _mutated(OK[wire]), _json, st.binary(max_size=40))


def _prepared(wire: str, stream: bool = False) -> Any:
    from volley.prepare import prepare

    return prepare(f"{wire}/m", Q, {"api_key": KEY, "api_base": "http://127.0.0.1:9/v1", "stream": stream})


def _typed(exc: BaseException, wire: str) -> None:
    assert isinstance(exc, volley.APIError), f"{type(exc).__name__} escaped: {exc!r}"[:300]
    assert exc.provider == wire and exc.model == "m"
    assert not leaks(str(exc))


@pytest.mark.parametrize("wire", WIRES)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_bodies_give_a_response_or_a_typed_error(wire, data):
    from volley.send import parse_answer

    body = data.draw(_body(wire))
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        r = parse_answer(_prepared(wire), raw)
    except Exception as exc:
        _typed(exc, wire)
    else:
        assert isinstance(r, volley.ModelResponse)


GOOD_EVENTS = {
    "openai": [{"choices": [{"index": 0, "delta": {"content": "a", "tool_calls": [
        {"index": 0, "id": "c", "function": {"name": "f", "arguments": ""}}]}, "finish_reason": None}]}],
    "anthropic": [
        {"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "f"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 1}},
    ],
    "cohere": [
        {"type": "content-delta", "delta": {"message": {"content": {"text": "a"}}}},
        {"type": "tool-call-start", "delta": {"message": {"tool_calls": {"id": "t", "function": {"name": "f"}}}}},
        {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {"tokens": {"input_tokens": 1}}}},
    ],
    "gemini": [{**OK["gemini"], "usageMetadata": {"promptTokenCount": 1}}],
}  # fmt: skip


def _event(wire: str):
    shaped = st.builds(lambda t, d: {**d, "type": t} if t else d, st.sampled_from(_EVENTS[wire]),
                       st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=4))  # fmt: skip
    good = st.sampled_from(GOOD_EVENTS[wire]).flatmap(_mutated)
    data = st.one_of(good.map(json.dumps), good.map(json.dumps), shaped.map(json.dumps), _json.map(json.dumps),
                     st.text(max_size=10), st.just("[DONE]"))  # fmt: skip
    return st.tuples(st.sampled_from(_EVENTS[wire]), data)


@pytest.mark.parametrize("wire", WIRES)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_stream_events_give_chunks_or_a_typed_error(wire, data):
    from volley.stream import AsyncStream

    events = data.draw(st.lists(_event(wire), max_size=6))
    call = _prepared(wire, stream=True)

    async def source():
        for e in events:
            yield e

    async def drain() -> None:
        stream = AsyncStream(call, source(), call.module.StreamParser("m"), [])
        async for chunk in stream:
            assert isinstance(chunk, volley.StreamChunk)

    try:
        asyncio.run(drain())
    except Exception as exc:
        _typed(exc, wire)


def test_closing_early_stops_the_input_thread_and_closes_the_generator(fake):
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield [{"role": "user", "content": f"item {i}"}]
                i += 1
        finally:
            closed.set()

    before = set(threading.enumerate())
    it = volley.iter_batch_completion("openai/m", endless(), max_workers=3, api_key=KEY, api_base=fake.openai_base)
    assert [isinstance(r, volley.ModelResponse) for _, r in (next(it), next(it))] == [True, True]
    it.close()
    assert closed.wait(5)  # the generator's cleanup ran (in its own thread)
    readers = [t for t in set(threading.enumerate()) - before if t.name == "volley-input"]
    for t in readers:
        t.join(5)
    assert not any(t.is_alive() for t in readers)
