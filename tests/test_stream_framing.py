"""Stream framing: lines and server-sent events from whole network reads, and the clock between events.

The decoders are pure (fed blocks by hand, cut at every byte); the clock is checked end to end against
raw asyncio servers on 127.0.0.1 that write exactly the bytes and pauses each case needs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import volley
from volley.transports import http as transport
from volley.transports.http import LineSplitter, SSEDecoder

Q = [{"role": "user", "content": "hi"}]


def chunk(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode() + b"\n\n"


END = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'

BODY = (
    b": keep-alive\n\n"
    b"event: ping\ndata: {}\n\n"
    b'data: {"a": "\xc3\xa9t\xc3\xa9"}\n\n'  # two-byte UTF-8 characters, cut anywhere below
    b"data: first line\ndata: second line\n\n"
    b"id: 7\nretry: 100\ndata:no space\n\n"
    b"data: [DONE]\n\n"
)
EVENTS = [
    ("ping", "{}"),
    (None, '{"a": "été"}'),
    (None, "first line\nsecond line"),
    (None, "no space"),
    (None, "[DONE]"),
]


def decode(blocks: list[bytes]) -> list[tuple[str | None, str]]:
    sse = SSEDecoder()
    out = [e for b in blocks for e in sse.feed(b)]
    return out + sse.close()


# ------------------------------------------------------------------ the decoders


def test_many_events_in_one_read():
    assert decode([BODY]) == EVENTS


@pytest.mark.parametrize("cut", range(1, len(BODY)))
def test_an_event_cut_at_any_byte_gives_the_same_events(cut):
    assert decode([BODY[:cut], BODY[cut:]]) == EVENTS


def test_a_body_in_single_bytes_gives_the_same_events():
    assert decode([BODY[i : i + 1] for i in range(len(BODY))]) == EVENTS


def test_crlf_line_ends_even_with_the_cr_and_lf_in_different_reads():
    crlf = BODY.replace(b"\n", b"\r\n")
    assert decode([crlf]) == EVENTS
    cuts = [i + 1 for i in range(len(crlf)) if crlf[i : i + 1] == b"\r"]  # just after each CR
    for cut in cuts:
        assert decode([crlf[:cut], crlf[cut:]]) == EVENTS, cut


def test_a_comment_only_read_gives_nothing_and_keeps_no_state():
    sse = SSEDecoder()
    assert sse.feed(b": keep-alive\n\n") == []
    assert sse.feed(b":\n\n: ping\n\n") == []
    assert sse.feed(b"data: x\n\n") == [(None, "x")]


def test_the_event_name_does_not_carry_over_to_the_next_event():
    assert decode([b"event: a\ndata: 1\n\ndata: 2\n\n"]) == [("a", "1"), (None, "2")]


def test_an_unterminated_last_event_is_still_given():
    assert decode([b"data: 1\n\ndata: [DO", b"NE]"]) == [(None, "1"), (None, "[DONE]")]


def test_lines_are_split_once_per_read():
    lines = LineSplitter()
    assert lines.feed(b"a\r\nb") == ["a"]
    assert lines.feed(b"c") == []
    assert lines.feed(b"\n\nd\n") == ["bc", "", "d"]
    assert lines.rest() == ""


def test_invalid_utf8_is_a_typed_error():
    with pytest.raises(volley.APIConnectionError, match="not valid UTF-8"):
        SSEDecoder().feed(b'data: {"x": "\xff"}\n\n')


def test_a_line_over_the_cap_is_an_error_as_it_grows(monkeypatch):
    monkeypatch.setattr(transport, "MAX_LINE", 1000)
    lines = LineSplitter()
    lines.feed(b"data: " + b"x" * 900)
    with pytest.raises(volley.APIConnectionError, match="line longer than"):
        lines.feed(b"x" * 200)  # no newline yet: the unfinished line itself is over the cap


def test_a_line_over_the_cap_after_a_newline_in_the_same_read(monkeypatch):
    monkeypatch.setattr(transport, "MAX_LINE", 1000)
    with pytest.raises(volley.APIConnectionError, match="line longer than"):
        LineSplitter().feed(b"ok\n" + b"x" * 1200)


def test_an_event_over_the_cap_is_an_error_though_each_line_is_short(monkeypatch):
    monkeypatch.setattr(transport, "MAX_LINE", 1000)
    sse = SSEDecoder()
    with pytest.raises(volley.APIConnectionError, match="event larger than"):
        for _ in range(20):
            sse.feed(b"data: " + b"y" * 100 + b"\n")


def test_buffering_a_long_line_is_linear():
    lines = LineSplitter()
    block = b"z" * 1024
    t0 = time.perf_counter()
    for _ in range(8 * 1024):  # an 8 MiB line in 1 KiB reads: quadratic copying would take minutes
        assert lines.feed(block) == []
    assert lines.feed(b"\n") == ["z" * (8 << 20)]
    assert time.perf_counter() - t0 < 5


# ------------------------------------------------------------------ the clock, end to end

Writer = Callable[[asyncio.StreamWriter], Awaitable[None]]
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"


async def _serve(write: Writer) -> tuple[asyncio.AbstractServer, str]:
    async def conn(reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            size = next(int(x.split(b":")[1]) for x in head.split(b"\r\n") if x.lower().startswith(b"content-length"))
            await reader.readexactly(size)
            await write(w)
            await w.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()

    server = await asyncio.start_server(conn, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


async def _stream(write: Writer, consume: Callable[[Any], Awaitable[Any]], **kw: Any) -> Any:
    server, url = await _serve(write)
    try:
        s = await volley.acompletion("openai/m", Q, stream=True, api_key="k", api_base=url, num_retries=0, **kw)
        return await asyncio.wait_for(consume(s), 20)
    finally:
        server.close()
        await volley.aclose()


async def _texts(s: Any) -> str:
    return "".join([c.choices[0].delta.content or "" async for c in s if c.choices])


async def test_a_consumer_holding_each_event_longer_than_the_timeout_is_no_stall():
    async def write(w: asyncio.StreamWriter) -> None:
        w.write(HEAD + b"".join(chunk(t) for t in "abc") + END)

    async def slow(s: Any) -> str:
        out = []
        async for c in s:
            if c.choices:
                out.append(c.choices[0].delta.content or "")
            await asyncio.sleep(1.0)  # the reader is not waiting meanwhile: its clock does not run
        return "".join(out)

    assert await _stream(write, slow, timeout=0.5) == "abc"


async def test_comments_between_events_do_not_reset_the_clock():
    async def write(w: asyncio.StreamWriter) -> None:
        w.write(HEAD + chunk("a"))
        while True:
            w.write(b": keep-alive\n\n")
            await w.drain()
            await asyncio.sleep(0.1)

    t0 = time.monotonic()
    with pytest.raises(volley.Timeout, match="stalled"):
        await _stream(write, _texts, timeout=1)
    assert time.monotonic() - t0 < 5


async def test_events_in_separate_reads_keep_the_stream_alive_past_the_timeout():
    async def write(w: asyncio.StreamWriter) -> None:
        w.write(HEAD)
        for t in "abcdef":
            w.write(chunk(t))
            await w.drain()
            await asyncio.sleep(0.3)
        w.write(END)

    assert await _stream(write, _texts, timeout=1) == "abcdef"  # 1.8 s in all, never 1 s without an event


async def test_no_headers_within_the_timeout_is_a_timeout():
    async def write(w: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    t0 = time.monotonic()
    with pytest.raises(volley.Timeout):
        await _stream(write, _texts, timeout=1)
    assert time.monotonic() - t0 < 5


async def test_a_stream_sets_a_timer_per_stall_period_not_per_read(monkeypatch):
    loop = asyncio.get_running_loop()
    timers = 0
    call_at = loop.call_at

    def counting(when: float, cb: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
        nonlocal timers
        timers += 1
        return call_at(when, cb, *args, **kw)

    async def write(w: asyncio.StreamWriter) -> None:
        w.write(HEAD)
        for i in range(200):
            w.write(chunk(str(i % 10)))
            await w.drain()
            for _ in range(3):  # each event in its own network read (no timer on the server's side)
                await asyncio.sleep(0)
        w.write(END)

    server, url = await _serve(write)
    try:
        s = await volley.acompletion("openai/m", Q, stream=True, api_key="k", api_base=url, num_retries=0, timeout=60)
        monkeypatch.setattr(loop, "call_at", counting)
        text = await asyncio.wait_for(_texts(s), 20)
    finally:
        server.close()
        await volley.aclose()
    assert len(text) == 200
    assert timers < 20  # a timer per read (or aiohttp's sock_read per packet) would be about 200


async def test_ndjson_lines_split_across_reads_and_the_clock():
    from volley.transports.http import ndjson_events

    class Content:
        def __init__(self, blocks: list[bytes]) -> None:
            self.blocks = blocks

        async def readany(self) -> bytes:
            return self.blocks.pop(0) if self.blocks else b""

        def at_eof(self) -> bool:
            return not self.blocks

    class Resp:
        def __init__(self, blocks: list[bytes]) -> None:
            self.content = Content(blocks)

        def release(self) -> None:
            pass

        def close(self) -> None:
            pass

    body = b'{"a": 1}\r\n\n  \n{"b": [2]}\n{"c": 3}'  # CRLF, blank lines, no newline at the end
    for cut in range(1, len(body)):
        got = [d async for _, d in ndjson_events(Resp([body[:cut], body[cut:]]))]  # type: ignore[arg-type]
        assert got == [{"a": 1}, {"b": [2]}, {"c": 3}], cut
