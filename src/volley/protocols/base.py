"""What every protocol module provides, and the small helpers they share.

A protocol is one wire format (OpenAI Chat Completions, Anthropic Messages, Cohere v2, Gemini,
Bedrock Converse, ...): pure mapping between OpenAI-shape requests/answers and the provider's
JSON, no I/O. Where to send it and how to authenticate is the host's business
(``volley.providers``). A protocol module defines:

``NAME: str``
    The protocol's name, as registered (``volley.register_protocol``).
``SUPPORTED_PARAMS: frozenset[str]``
    The OpenAI-style parameters it can map. Anything else is refused (or dropped with
    ``drop_params=True``) before ``build_body`` is called.
``build_body(model, messages, params, *, stream) -> dict``
    ``messages`` are OpenAI-shape chat messages (already validated); ``params`` holds only names
    from ``SUPPORTED_PARAMS`` plus ``extra_body`` (merge it with :func:`merge_extra`).
``url(base, model, *, stream) -> str``
    The endpoint under a host's base URL, e.g. ``base + "/v1/messages"``.
``HEADERS: Mapping[str, str]`` and ``AUTH: tuple[str, str]``
    Headers every request of the protocol carries (``anthropic-version``), and the header that
    carries the key by default with its format (``("x-api-key", "{key}")``); a host may override both.
``parse_response(data: dict, model: str) -> dict``
    The provider's JSON answer → an OpenAI ``chat.completion`` dict (``data`` is freshly parsed
    and may be reused or changed in place).
``StreamParser(model: str)``
    ``feed(event, data) -> list[dict]`` turns one stream event into zero or more OpenAI
    ``chat.completion.chunk`` dicts; ``finished`` becomes True once the end-of-stream marker arrived.
    Raises an ``APIError`` on an in-stream error event.
``error_message(status: int, body: bytes) -> str``
    The human message inside the provider's error body (falls back to the raw text).

Optional: ``check(model, params)``, called once when a call or batch is set up, to refuse what is
bound to fail before anything is sent (the local protocol checks the model file and the extra);
``DEFAULT_MAX_TOKENS`` when the protocol always sends an output cap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from ..errors import APIConnectionError


class StreamParserProto(Protocol):
    finished: bool

    def feed(self, event: str | None, data: Any) -> list[dict[str, Any]]: ...


class ProtocolModule(Protocol):
    """The shape of a protocol module (see the module docstring)."""

    NAME: str
    SUPPORTED_PARAMS: frozenset[str]
    HEADERS: Mapping[str, str]
    AUTH: tuple[str, str]

    def build_body(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool
    ) -> dict[str, Any]: ...

    def url(self, base: str, model: str, *, stream: bool) -> str: ...

    def parse_response(self, data: dict[str, Any], model: str) -> dict[str, Any]: ...

    def StreamParser(self, model: str) -> StreamParserProto: ...

    def error_message(self, status: int, body: bytes) -> str: ...


def merge_extra(body: dict[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``extra_body`` merged into ``body`` one level deep (so it can add to a nested object such as
    Gemini's ``generationConfig`` instead of replacing it); returns ``body``."""
    for key, value in (params.get("extra_body") or {}).items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


def endpoint(api_base: str, path: str) -> str:
    """``api_base`` + ``path``, where the base may already end with the start of the path.

    ``endpoint("https://api.anthropic.com", "/v1/messages")`` and
    ``endpoint("https://api.anthropic.com/v1", "/v1/messages")`` both give ``.../v1/messages``.
    """
    base = api_base.rstrip("/")
    parts = path.strip("/").split("/")
    for i in range(len(parts), 0, -1):
        if base.endswith("/" + "/".join(parts[:i])):
            return "/".join([base, *parts[i:]])
    return base + "/" + "/".join(parts)


def text_of(content: Any) -> str:
    """Plain text of an OpenAI message ``content`` (a string, None, or a list of parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text":
            parts.append(part.get("text", ""))
    return "".join(parts)


def load_json(data: str | bytes | bytearray, what: str = "response") -> Any:
    """``json.loads`` that turns a malformed body into ``APIConnectionError``."""
    try:
        return json.loads(data)
    except (ValueError, TypeError, RecursionError) as exc:  # RecursionError: nested too deep to parse
        snippet = data[:200] if isinstance(data, str) else data[:200].decode("utf-8", "replace")
        reason = "nested too deep" if isinstance(exc, RecursionError) else "malformed JSON"
        raise APIConnectionError(f"{reason} in {what}: {snippet!r}") from None


def tool_arguments(args: Any) -> str:
    """Tool-call arguments as the JSON string OpenAI uses (providers may give an object)."""
    if isinstance(args, str):
        return args
    return json.dumps(args if args is not None else {}, ensure_ascii=False, separators=(",", ":"))


def parse_arguments(arguments: Any) -> Any:
    """OpenAI tool-call ``arguments`` (a JSON string) → an object, for providers that want one."""
    if not isinstance(arguments, str):
        return arguments if arguments is not None else {}
    if not arguments.strip():
        return {}
    try:
        return json.loads(arguments)
    except ValueError:
        return {"_raw": arguments}


def error_text(body: bytes, *paths: tuple[str, ...]) -> str:
    """The first string found at one of ``paths`` in a JSON error body, else the body as text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return _strip_html(text) or "empty error body"
    for path in paths:
        node: Any = data
        for key in path:
            if isinstance(node, list):
                node = node[0] if node else None
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, str) and node:
            return node
    return text[:500]


def _strip_html(text: str) -> str:
    if "<" not in text:
        return text[:500]
    import re

    title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    plain = re.sub(r"<[^>]+>", " ", text)
    plain = " ".join(plain.split())
    return (title.group(1).strip() if title else plain)[:300]


def chunk(
    cid: str,
    model: str,
    created: int,
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    usage: dict[str, int] | None = None,
    index: int = 0,
) -> dict[str, Any]:
    """An OpenAI ``chat.completion.chunk`` dict. With ``usage`` and no delta, ``choices`` is empty."""
    out: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
    if delta is None and finish_reason is None and usage is not None:
        out["choices"] = []
    else:
        out["choices"] = [{"index": index, "delta": delta or {}, "finish_reason": finish_reason}]
    if usage is not None:
        out["usage"] = usage
    return out


def copy_renamed(params: dict[str, Any], target: dict[str, Any], names: dict[str, str]) -> None:
    """Copy each OpenAI parameter that is set (not None) into ``target`` under the provider's name."""
    for ours, theirs in names.items():
        value = params.get(ours)
        if value is not None:
            target[theirs] = value


def output_cap(params: dict[str, Any]) -> int | None:
    """The output-token cap: ``max_completion_tokens`` (OpenAI's newer name) or ``max_tokens``."""
    cap = params.get("max_completion_tokens")
    return params.get("max_tokens") if cap is None else cap


def stop_list(params: dict[str, Any]) -> list[str] | None:
    """``stop`` as a list of strings (OpenAI takes a string or a list), or None when unset."""
    stop = params.get("stop")
    if not stop:
        return None
    return [stop] if isinstance(stop, str) else list(stop)


def usage(prompt: int | None, completion: int | None) -> dict[str, int]:
    p, c = int(prompt or 0), int(completion or 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
