"""JSONL in and out.

Input, one JSON object per line (blank lines are skipped, and are not items):

- the OpenAI Batch input format, so the same file can go to a provider batch API unchanged::

    {"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "gpt-4o-mini", "messages": [...], "temperature": 0}}

- or simple lines: ``{"custom_id"?, "model"?, "messages": [...], ...params}`` or
  ``{"custom_id"?, "prompt": "...", "system"?: "...", ...params}``. A ``metadata`` key is ignored.

A line without ``custom_id`` gets ``"line-<n>"`` (its 1-based line number in the file).

Output, one line per input line, in the OpenAI Batch output format::

    {"id": "batch_req_...", "custom_id": "q1",
     "response": {"status_code": 200, "request_id": "...", "body": {<chat.completion>}}, "error": null}

A failed item has ``"error": {"code", "message"}``; its ``response`` carries the HTTP status when
the provider answered with one (``"body": {"error": {...}}``), else it is null.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import APIConnectionError, APIError
from ..prepare import CONTROL_PARAMS
from ..types import ModelResponse
from ..validate import InvalidRequestError, validate_messages

BATCH_URLS = ("/v1/chat/completions", "/chat/completions")
_BATCH_KEYS = frozenset({"custom_id", "method", "url", "body"})


@dataclass(slots=True)
class Item:
    """One input line: what to send, or why it cannot be sent (``error``)."""

    line: int
    custom_id: str
    model: str | None = None
    messages: list[dict[str, Any]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def read_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw line)`` for every non-blank line of ``path`` (a ``.gz`` file is decompressed)."""
    opener: Any = gzip.open if str(path).lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            if raw.strip():
                yield n, raw


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (the journal's proof that the input did not change)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def parse_line(raw: bytes | str, line: int) -> Item:
    """Parse one input line; a malformed line comes back with ``error`` set, never raises."""
    fallback = f"line-{line}"
    try:
        obj = json.loads(raw)
    except UnicodeDecodeError:
        return Item(line, fallback, error="not UTF-8 text")
    except ValueError as exc:
        return Item(line, fallback, error=f"not valid JSON ({exc})")
    if not isinstance(obj, dict):
        return Item(line, fallback, error=f"a line must be a JSON object, got {type(obj).__name__}")
    cid = obj.get("custom_id")
    custom_id = fallback if cid is None or cid == "" else str(cid)
    try:
        model, messages, params = _fields(obj)
    except InvalidRequestError as exc:
        return Item(line, custom_id, error=exc.message)
    return Item(line, custom_id, model, messages, params)


def _fields(obj: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]], dict[str, Any]]:
    def bad(msg: str) -> InvalidRequestError:
        return InvalidRequestError(msg, status_code=400)

    if "body" in obj:
        unknown = set(obj) - _BATCH_KEYS
        if unknown:
            raise bad(f"unknown key(s) {', '.join(sorted(unknown))} beside 'body' (Batch format keys: "
                      "custom_id, method, url, body)")  # fmt: skip
        if obj.get("url", BATCH_URLS[0]) not in BATCH_URLS:
            raise bad(f"url {obj.get('url')!r} is not supported: only /v1/chat/completions lines can run")
        if str(obj.get("method", "POST")).upper() != "POST":
            raise bad(f"method {obj.get('method')!r} is not supported: use POST")
        if not isinstance(obj["body"], dict):
            raise bad("body must be a JSON object")
        fields = dict(obj["body"])
    else:
        fields = {k: v for k, v in obj.items() if k not in ("custom_id", "metadata")}
    model = fields.pop("model", None)
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise bad(f"model must be a non-empty string, got {model!r}")
    if "prompt" in fields:
        if "messages" in fields:
            raise bad("give either messages or prompt, not both")
        prompt, system = fields.pop("prompt"), fields.pop("system", None)
        if not isinstance(prompt, str):
            raise bad(f"prompt must be a string, got {type(prompt).__name__}")
        if system is not None and not isinstance(system, str):
            raise bad(f"system must be a string, got {type(system).__name__}")
        messages: Any = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}
        ]
    elif "messages" in fields:
        messages = fields.pop("messages")
    else:
        raise bad("no messages (or prompt)")
    control = sorted(k for k in fields if k in CONTROL_PARAMS)
    if control:
        raise bad(f"{', '.join(control)} cannot be set per line; give it on the command line")
    return model, validate_messages(messages), fields


# ------------------------------------------------------------------ output


# ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``, made once: the same text, without building an
# encoder per line or tracking containers for cycles (what is written here is plain data built just before).
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def dumps(obj: Any) -> str:
    """One JSONL line (compact, UTF-8, newline-terminated)."""
    return _ENCODER.encode(obj) + "\n"


# Output line ids: random, not secret. A generator of its own (seeded from the OS, reseeded in a forked
# child) rather than a system call per line (``uuid4``) or the ``random`` module's (a caller may seed that).
_ids = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.seed)


def batch_request_id() -> str:
    """A fresh ``id`` for an output line: ``batch_req_`` and 32 random hex digits, as the Batch API's."""
    return f"batch_req_{_ids.getrandbits(128):032x}"


def _request_id(response: ModelResponse) -> str | None:
    h = response.response_headers
    return h.get("x-request-id") or h.get("request-id") or None


def error_code(exc: BaseException) -> str:
    """``RateLimitError`` → ``"rate_limit_error"``, ``APIConnectionError`` → ``"api_connection_error"``."""
    name = type(exc).__name__
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def result_record(custom_id: str, result: ModelResponse | BaseException) -> dict[str, Any]:
    """The Batch output line of one item."""
    rid = batch_request_id()
    if isinstance(result, ModelResponse):
        ok = {"status_code": 200, "request_id": _request_id(result), "body": result.model_dump(mode="json")}
        return {"id": rid, "custom_id": custom_id, "response": ok, "error": None}
    code, message = error_code(result), str(getattr(result, "message", "") or result)
    status = getattr(result, "status_code", None)
    response: dict[str, Any] | None = None
    answered = isinstance(result, APIError) and not isinstance(result, (APIConnectionError, InvalidRequestError))
    if status and answered:  # the provider answered with an HTTP error
        headers = getattr(result, "headers", None) or {}
        response = {
            "status_code": status,
            "request_id": headers.get("x-request-id") or headers.get("request-id"),
            "body": {"error": {"message": message, "type": code, "code": None}},
        }
    return {"id": rid, "custom_id": custom_id, "response": response, "error": {"code": code, "message": message}}


def invalid_record(item: Item, *, unit: str = "line") -> dict[str, Any]:
    """The output line of a malformed input line (``unit``: ``"row"`` for a table's rows)."""
    return {
        "id": batch_request_id(),
        "custom_id": item.custom_id,
        "response": None,
        "error": {"code": "invalid_request", "message": f"{unit} {item.line}: {item.error}"},
    }
