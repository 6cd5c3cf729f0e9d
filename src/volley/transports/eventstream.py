"""The AWS event-stream binary framing (``application/vnd.amazon.eventstream``) that Bedrock streams use.

One message on the wire, big-endian::

    total length u32 | headers length u32 | prelude CRC32 u32 | headers | payload | message CRC32 u32

The prelude CRC covers the first 8 bytes, the message CRC every byte before it (CRC-32 as in gzip).
A header is ``name length u8 | name (UTF-8) | type u8 | value``; the ten value types are
:data:`HEADER_TYPES`. Bedrock sends string headers ``:message-type`` (``event`` / ``exception`` /
``error``), ``:event-type`` or ``:exception-type``, and ``:content-type``, and a JSON payload.

Example::

    decoder = EventStreamDecoder()
    for message in decoder.feed(received_bytes):
        print(message.event_type, message.payload)

Everything here is pure except :func:`aws_eventstream_events`, which reads an aiohttp response.
"""

from __future__ import annotations

import asyncio
import json
import struct
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import APIConnectionError, APIError, InternalServerError, Timeout, error_from_status

__all__ = [
    "MAX_HEADERS_LENGTH",
    "MAX_PAYLOAD_LENGTH",
    "EventStreamDecoder",
    "Message",
    "aws_error",
    "aws_error_status",
    "aws_eventstream_events",
    "encode_message",
    "event_of",
]

PRELUDE_LENGTH = 12
"""Total length, headers length and the prelude CRC: 3 x 4 bytes."""
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024
"""The largest headers block and payload accepted (the limits botocore's decoder enforces too)."""

HeaderValue = bool | int | bytes | str

HEADER_TYPES = {
    0: "bool true",
    1: "bool false",
    2: "byte (int8)",
    3: "short (int16)",
    4: "integer (int32)",
    5: "long (int64)",
    6: "byte array (u16 length)",
    7: "string (u16 length, UTF-8)",
    8: "timestamp (int64 milliseconds)",
    9: "uuid (16 bytes)",
}
_FIXED = {2: ">b", 3: ">h", 4: ">i", 5: ">q", 8: ">q"}


@dataclass(slots=True)
class Message:
    """One decoded message: ``headers`` by name (strings, ints, bools or bytes), ``payload`` raw bytes."""

    headers: dict[str, HeaderValue] = field(default_factory=dict)
    payload: bytes = b""

    @property
    def message_type(self) -> str:
        """``event``, ``exception`` or ``error`` (``event`` when the header is absent)."""
        value = self.headers.get(":message-type", "event")
        return value if isinstance(value, str) else "event"

    @property
    def event_type(self) -> str | None:
        value = self.headers.get(":event-type")
        return value if isinstance(value, str) else None


def _malformed(what: str) -> APIConnectionError:
    return APIConnectionError(f"malformed AWS event-stream message: {what}")


class EventStreamDecoder:
    """Incremental decoder: :meth:`feed` bytes as they arrive, get back the complete messages.

    A frame is checked as soon as its prelude has arrived (prelude CRC, then the length limits), so an
    oversized or corrupt frame fails before its body is buffered. Failures are ``APIConnectionError``.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._total: int | None = None  # total length of the frame being read, once its prelude is checked
        self._headers_length = 0

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole message (non-zero at the end: a cut stream)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        """Add ``data`` and return every message it completed (possibly none)."""
        self._buf += data
        out: list[Message] = []
        while True:
            if self._total is None:
                if len(self._buf) < PRELUDE_LENGTH:
                    return out
                self._check_prelude()
            assert self._total is not None
            if len(self._buf) < self._total:
                return out
            out.append(self._take(self._total, self._headers_length))
            self._total = None

    def _check_prelude(self) -> None:
        total, headers_length, crc = struct.unpack_from(">III", self._buf, 0)
        if zlib.crc32(self._buf[:8]) != crc:
            raise _malformed(f"prelude CRC mismatch (expected {crc:#010x}, got {zlib.crc32(self._buf[:8]):#010x})")
        if headers_length > MAX_HEADERS_LENGTH:
            raise APIConnectionError(
                f"AWS event-stream headers of {headers_length} bytes exceed the limit of {MAX_HEADERS_LENGTH}"
            )
        payload_length = total - headers_length - PRELUDE_LENGTH - 4
        if total < PRELUDE_LENGTH + 4 or payload_length < 0:
            raise _malformed(f"total length {total} cannot hold {headers_length} bytes of headers")
        if payload_length > MAX_PAYLOAD_LENGTH:
            raise APIConnectionError(
                f"AWS event-stream payload of {payload_length} bytes exceeds the limit of {MAX_PAYLOAD_LENGTH}"
            )
        self._total, self._headers_length = total, headers_length

    def _take(self, total: int, headers_length: int) -> Message:
        frame = bytes(self._buf[:total])
        del self._buf[:total]
        (crc,) = struct.unpack_from(">I", frame, total - 4)
        actual = zlib.crc32(frame[: total - 4])
        if actual != crc:
            raise _malformed(f"message CRC mismatch (expected {crc:#010x}, got {actual:#010x})")
        headers = _decode_headers(frame[PRELUDE_LENGTH : PRELUDE_LENGTH + headers_length])
        return Message(headers, frame[PRELUDE_LENGTH + headers_length : total - 4])


def _decode_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    pos, end = 0, len(data)
    try:
        while pos < end:
            name_length = data[pos]
            name = data[pos + 1 : pos + 1 + name_length].decode("utf-8")
            pos += 1 + name_length
            kind = data[pos]
            pos += 1
            value: HeaderValue
            if kind in (0, 1):
                value = kind == 0
            elif kind in _FIXED:
                fmt = _FIXED[kind]
                (value,) = struct.unpack_from(fmt, data, pos)
                pos += struct.calcsize(fmt)
            elif kind in (6, 7):
                (length,) = struct.unpack_from(">H", data, pos)
                raw = data[pos + 2 : pos + 2 + length]
                if len(raw) != length:
                    raise _malformed(f"header {name!r} is cut short")
                value = raw.decode("utf-8") if kind == 7 else raw
                pos += 2 + length
            elif kind == 9:
                value = data[pos : pos + 16]
                if len(value) != 16:
                    raise _malformed(f"header {name!r} is cut short")
                pos += 16
            else:
                raise _malformed(f"header {name!r} has unknown value type {kind}")
            if name in headers:
                raise _malformed(f"duplicate header {name!r}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise _malformed(f"headers block cannot be read ({exc})") from None
    if pos != end:
        raise _malformed("headers block overruns its length")
    return headers


# ---------------------------------------------------------------- encoding (fake server, tests)


def _encode_header(name: str, value: HeaderValue | tuple[int, Any]) -> bytes:
    raw_name = name.encode("utf-8")
    out = bytes([len(raw_name)]) + raw_name
    if isinstance(value, tuple):  # (type code, value): an explicit type (byte, short, long, timestamp, uuid)
        kind, v = value
    elif isinstance(value, bool):
        kind, v = (0 if value else 1), None
    elif isinstance(value, int):
        kind, v = (4 if -(2**31) <= value < 2**31 else 5), value
    elif isinstance(value, bytes):
        kind, v = 6, value
    else:
        kind, v = 7, str(value)
    if kind in (0, 1):
        return out + bytes([kind])
    if kind in _FIXED:
        return out + bytes([kind]) + struct.pack(_FIXED[kind], v)
    if kind in (6, 7):
        data = v.encode("utf-8") if isinstance(v, str) else bytes(v)
        return out + bytes([kind]) + struct.pack(">H", len(data)) + data
    if kind == 9:
        if len(v) != 16:
            raise ValueError("a uuid header value is 16 bytes")
        return out + bytes([9]) + bytes(v)
    raise ValueError(f"unknown header value type {kind}")


def encode_message(headers: Mapping[str, HeaderValue | tuple[int, Any]], payload: bytes = b"") -> bytes:
    """One event-stream message. A header value is a str, bytes, bool or int (int32, or int64 when it
    does not fit), or ``(type code, value)`` for an explicit type of :data:`HEADER_TYPES`.

    Example: ``encode_message({":event-type": "messageStop", ":message-type": "event"}, b"{}")``
    """
    block = b"".join(_encode_header(k, v) for k, v in headers.items())
    total = PRELUDE_LENGTH + len(block) + len(payload) + 4
    prelude = struct.pack(">II", total, len(block))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + block + payload
    return head + struct.pack(">I", zlib.crc32(head))


# ---------------------------------------------------------------- errors

_AWS_ERROR_STATUS = {
    "throttling": 429,
    "toomanyrequests": 429,
    "modelnotready": 429,
    "validation": 400,
    "servicequotaexceeded": 400,
    "serialization": 400,
    "accessdenied": 403,
    "unrecognizedclient": 403,
    "invalidsignature": 403,
    "incompletesignature": 403,
    "missingauthenticationtoken": 403,
    "expiredtoken": 403,
    "resourcenotfound": 404,
    "unknownoperation": 404,
    "modeltimeout": 408,
    "conflict": 409,
    "modelerror": 424,
    "modelstreamerror": 424,
    "internalserver": 500,
    "internalfailure": 500,
    "serviceunavailable": 503,
}
"""AWS error type (lower-cased, without ``Exception``) → the HTTP status class volley maps it to."""

_RETRYABLE_424 = {"modelstreamerror"}  # "an error occurred while streaming the response; retry your request"


def _kind_key(kind: str) -> str:
    key = kind.split(":", 1)[0].split("#")[-1].strip().lower()
    return key[: -len("exception")] if key.endswith("exception") else key


def aws_error_status(kind: str | None, status: int | None = None) -> int:
    """The status class of an AWS error type; the type wins over the HTTP ``status`` (a
    ``ThrottlingException`` is a 429 whatever status carried it). Unknown types keep ``status``."""
    mapped = _AWS_ERROR_STATUS.get(_kind_key(kind)) if kind else None
    return mapped or status or 500


def aws_error(
    kind: str | None,
    message: str,
    *,
    status: int | None = None,
    provider: str = "bedrock",
    model: str = "",
    headers: Mapping[str, str] | None = None,
    body: Any = None,
) -> APIError:
    """The typed volley error of an AWS error type (``ThrottlingException``, ``throttlingException``,
    or the ``x-amzn-ErrorType`` header value ``ThrottlingException:http://...``).

    Example: ``aws_error("throttlingException", "Too many requests")`` is a ``RateLimitError``.
    """
    code = aws_error_status(kind, status)
    name = kind.split(":", 1)[0].split("#")[-1].strip() if kind else ""
    name = name[:1].upper() + name[1:]
    text = f"{name}: {message}" if name and message else (message or name or f"error {code}")
    kw: dict[str, Any] = {"provider": provider, "model": model, "headers": headers, "body": body}
    if kind and _kind_key(kind) in _RETRYABLE_424:
        return InternalServerError(text, status_code=code, **kw)
    return error_from_status(code, text, **kw)


# ---------------------------------------------------------------- events


def _payload_json(message: Message, what: str) -> Any:
    if not message.payload.strip():
        return {}
    try:
        return json.loads(message.payload)
    except ValueError:
        snippet = message.payload[:200].decode("utf-8", "replace")
        raise APIConnectionError(f"malformed JSON in event-stream {what}: {snippet!r}") from None


def event_of(message: Message, *, model: str = "") -> tuple[str | None, dict[str, Any]]:
    """``(event type, JSON payload)`` of an ``event`` message; raises the typed error of an
    ``exception`` or ``error`` message (``throttlingException`` → ``RateLimitError`` ...)."""
    kind = message.message_type
    if kind == "event":
        data = _payload_json(message, f"event {message.event_type!r}")
        if not isinstance(data, dict):
            raise APIConnectionError(f"event-stream event {message.event_type!r} is not a JSON object")
        return message.event_type, data
    if kind == "exception":
        exc_type = message.headers.get(":exception-type")
        data = _payload_json(message, f"exception {exc_type!r}")
        obj = data if isinstance(data, dict) else {}
        text = str(obj.get("message") or obj.get("Message") or "exception in stream")
        if obj.get("originalMessage"):
            text += f" ({obj['originalMessage']})"
        raise aws_error(exc_type if isinstance(exc_type, str) else None, text, model=model, body=data)
    if kind == "error":
        code = message.headers.get(":error-code")
        detail = message.headers.get(":error-message")
        raise aws_error(code if isinstance(code, str) else None, str(detail or "error in stream"), model=model)
    raise _malformed(f"unknown :message-type {kind!r}")


def _done_with(resp: Any) -> None:
    # As the transport does: a body read to the end goes back to the pool, anything else is closed.
    if resp.content.at_eof():
        resp.release()
    else:
        resp.close()


async def aws_eventstream_events(resp: Any, *, model: str = "") -> AsyncIterator[tuple[str | None, dict[str, Any]]]:
    """Yield ``(event type, payload dict)`` for each event of an aiohttp response's event-stream body.

    An ``exception`` / ``error`` message raises its typed ``APIError``; a body that ends inside a
    message, a bad CRC or an oversized frame raises ``APIConnectionError``; a stall raises ``Timeout``.

    Example::

        async for event, data in aws_eventstream_events(resp):
            chunks = parser.feed(event, data)
    """
    import aiohttp

    decoder = EventStreamDecoder()
    try:
        async for block in resp.content.iter_any():
            for message in decoder.feed(block):
                yield event_of(message, model=model)
        if decoder.pending:
            raise APIConnectionError(
                f"stream broken: it ended inside an event-stream message ({decoder.pending} bytes)"
            )
    except asyncio.TimeoutError:
        raise Timeout("stream stalled: no event within the timeout") from None
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"stream broken: {type(exc).__name__}: {exc}") from None
    finally:
        _done_with(resp)
