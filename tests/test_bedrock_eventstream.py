"""The AWS event-stream framing: volley's decoder and encoder against botocore's own decoder."""

from __future__ import annotations

import json
import random
import struct
import uuid
import zlib

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer, InvalidPayloadLength

from volley.errors import (
    APIConnectionError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    ServiceUnavailableError,
)
from volley.transports.eventstream import (
    MAX_PAYLOAD_LENGTH,
    EventStreamDecoder,
    Message,
    aws_error,
    encode_message,
    event_of,
)

# Published vectors (an Erlang encoder's doc): a payload alone, and with one string header.
FOO_BAR = bytes(
    [0, 0, 0, 30, 0, 0, 0, 0, 186, 242, 246, 138, 123, 34, 102, 111, 111, 34, 58, 32, 34, 98, 97, 114, 34, 125,
     174, 114, 88, 228]
)  # fmt: skip
FOO_BAR_JSON = bytes(
    [0, 0, 0, 62, 0, 0, 0, 32, 64, 93, 249, 70, 12, 99, 111, 110, 116, 101, 110, 116, 45, 116, 121, 112, 101, 7, 0,
     16, 97, 112, 112, 108, 105, 99, 97, 116, 105, 111, 110, 47, 106, 115, 111, 110, 123, 34, 102, 111, 111, 34, 58,
     32, 34, 98, 97, 114, 34, 125, 111, 162, 191, 59]
)  # fmt: skip

EVERY_TYPE = {
    "t": True,
    "f": False,
    "byte": (2, -7),
    "short": (3, -1234),
    "int": 123456,
    "long": (5, 2**40 + 3),
    "bytes": b"\x00\x01\xff",
    ":event-type": "contentBlockDelta",
    "ts": (8, 1_700_000_000_123),
    "uuid": (9, uuid.UUID("12345678-1234-5678-1234-567812345678").bytes),
}


def botocore_messages(data: bytes) -> list[tuple[dict, bytes]]:
    buf = EventStreamBuffer()
    buf.add_data(data)
    return [(m.headers, m.payload) for m in buf]


def ours(data: bytes, step: int | None = None) -> list[tuple[dict, bytes]]:
    decoder = EventStreamDecoder()
    out: list[Message] = []
    if step is None:
        out = decoder.feed(data)
    else:
        for i in range(0, len(data), step):
            out.extend(decoder.feed(data[i : i + step]))
    assert decoder.pending == 0
    return [(m.headers, m.payload) for m in out]


def test_published_vectors_decode_and_encode_byte_for_byte():
    assert ours(FOO_BAR) == [({}, b'{"foo": "bar"}')] == botocore_messages(FOO_BAR)
    assert ours(FOO_BAR_JSON) == [({"content-type": "application/json"}, b'{"foo": "bar"}')]
    assert botocore_messages(FOO_BAR_JSON) == ours(FOO_BAR_JSON)
    assert encode_message({}, b'{"foo": "bar"}') == FOO_BAR
    assert encode_message({"content-type": "application/json"}, b'{"foo": "bar"}') == FOO_BAR_JSON


def test_every_header_type_decodes_as_botocore_decodes_it():
    data = encode_message(EVERY_TYPE, b"payload")
    mine = ours(data)
    assert mine == botocore_messages(data)
    headers = mine[0][0]
    assert headers["t"] is True and headers["f"] is False
    assert headers["byte"] == -7 and headers["short"] == -1234 and headers["long"] == 2**40 + 3
    assert headers["ts"] == 1_700_000_000_123 and len(headers["uuid"]) == 16


@pytest.mark.parametrize("step", [1, 3, 7, 64])
def test_messages_split_anywhere_decode_the_same(step: int):
    rng = random.Random(step)
    frames = [
        encode_message(
            {":event-type": f"e{i}", ":message-type": "event", ":content-type": "application/json"},
            json.dumps({"i": i, "text": "x" * rng.randint(0, 300)}).encode(),
        )
        for i in range(20)
    ]
    data = b"".join(frames)
    assert ours(data, step) == botocore_messages(data)
    assert len(ours(data, step)) == 20


def test_a_cut_stream_leaves_bytes_pending():
    data = encode_message({":event-type": "x"}, b"{}")
    decoder = EventStreamDecoder()
    assert decoder.feed(data[:-3]) == []
    assert decoder.pending == len(data) - 3
    assert len(decoder.feed(data[-3:])) == 1


def test_prelude_and_message_crc_mismatches_are_connection_errors_like_botocores():
    good = encode_message({":event-type": "x"}, b'{"a":1}')
    bad_prelude = good[:8] + bytes([good[8] ^ 1]) + good[9:]
    bad_message = good[:-1] + bytes([good[-1] ^ 1])
    for data in (bad_prelude, bad_message):
        with pytest.raises(APIConnectionError, match="CRC mismatch"):
            EventStreamDecoder().feed(data)
        with pytest.raises(ChecksumMismatch):
            botocore_messages(data)


def test_an_oversized_frame_fails_on_its_prelude_before_its_body_arrives():
    total = MAX_PAYLOAD_LENGTH + 1 + 16
    prelude = struct.pack(">II", total, 0)
    head = prelude + struct.pack(">I", zlib.crc32(prelude))
    with pytest.raises(APIConnectionError, match="exceeds the limit"):
        EventStreamDecoder().feed(head)
    with pytest.raises(InvalidPayloadLength):
        botocore_messages(head)
    headers_prelude = struct.pack(">II", 200_000 + 16, 200_000)
    with pytest.raises(APIConnectionError, match="headers of 200000 bytes"):
        EventStreamDecoder().feed(headers_prelude + struct.pack(">I", zlib.crc32(headers_prelude)))


def test_lengths_that_contradict_each_other_are_malformed():
    prelude = struct.pack(">II", 20, 10)  # 10 bytes of headers cannot fit a 20-byte message
    with pytest.raises(APIConnectionError, match="cannot hold"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)) + b"\0" * 8)


def test_event_of_gives_event_type_and_json_payload():
    msg = EventStreamDecoder().feed(
        encode_message(
            {":event-type": "messageStop", ":message-type": "event", ":content-type": "application/json"},
            b'{"stopReason":"end_turn","p":"abc"}',
        )
    )[0]
    assert event_of(msg) == ("messageStop", {"stopReason": "end_turn", "p": "abc"})
    with pytest.raises(APIConnectionError, match="malformed JSON"):
        event_of(Message({":event-type": "x", ":message-type": "event"}, b'{"a":'))


@pytest.mark.parametrize(
    ("kind", "cls", "status"),
    [
        ("throttlingException", RateLimitError, 429),
        ("validationException", BadRequestError, 400),
        ("serviceUnavailableException", ServiceUnavailableError, 503),
        ("internalServerException", InternalServerError, 500),
        ("modelStreamErrorException", InternalServerError, 424),
    ],
)
def test_exception_messages_raise_typed_errors(kind: str, cls: type, status: int):
    payload = json.dumps({"message": "it went wrong"}).encode()
    msg = Message({":message-type": "exception", ":exception-type": kind, ":content-type": "application/json"}, payload)
    with pytest.raises(cls) as info:
        event_of(msg, model="m")
    assert info.value.status_code == status
    assert "it went wrong" in info.value.message and info.value.model == "m"
    assert info.value.retryable == (status != 400)


def test_error_messages_raise_from_their_headers():
    msg = Message({":message-type": "error", ":error-code": "ThrottlingException", ":error-message": "slow down"})
    with pytest.raises(RateLimitError, match="slow down"):
        event_of(msg)


def test_aws_error_type_wins_over_the_status():
    assert isinstance(
        aws_error("ThrottlingException:http://internal.amazon.com/coral/x/", "m", status=400), RateLimitError
    )
    assert isinstance(aws_error(None, "m", status=502), InternalServerError)  # (a BadGatewayError)
    assert str(aws_error("accessDeniedException", "no")).startswith("PermissionDeniedError 403")
