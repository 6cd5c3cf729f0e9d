"""What every provider module provides, and the small helpers they share.

A provider module is pure request/response mapping, no I/O. It defines:

``NAME: str``
    The wire protocol's name ("openai", "anthropic", ...).
``SUPPORTED_PARAMS: frozenset[str]``
    The OpenAI-style parameters it can map. Anything else is refused (or dropped with
    ``drop_params=True``) by the caller before ``build_request`` is called.
``build_request(model, messages, params, *, api_base, api_key, stream) -> HTTPRequest``
    ``messages`` are OpenAI-shape chat messages (already validated); ``params`` only holds
    names from ``SUPPORTED_PARAMS`` (plus ``extra_body`` / ``extra_headers``).
``parse_response(data: dict, model: str) -> dict``
    The provider's JSON answer → an OpenAI ``chat.completion`` dict (``data`` is freshly parsed
    and may be reused or changed in place).
``StreamParser(model: str)``
    ``feed(event, data) -> list[dict]`` turns one SSE event into zero or more OpenAI
    ``chat.completion.chunk`` dicts; ``finished`` becomes True once the provider's end-of-stream
    marker arrived. Raises an ``APIError`` on an in-stream error event.
``error_message(status: int, body: bytes) -> str``
    The human message inside the provider's error body (falls back to the raw text).

A provider that runs the model in this process (``local``) has no HTTP: its ``build_request``
returns an ``HTTPRequest`` whose ``body`` says what to run, and it adds two coroutines that the
caller uses instead of the transport:

``async complete(request, *, timeout) -> dict``
    The provider's answer as a dict, then given to ``parse_response``.
``events(request, *, timeout) -> AsyncIterator[tuple[str | None, Any]]``
    Stream events, each then given to ``StreamParser.feed``.

Any provider may also define ``check(model, params)``, called once when a call or batch is set up,
to refuse what is bound to fail (a missing optional dependency, a missing model file) before
anything is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import masking
from ..errors import APIConnectionError

CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key"})
"""Header names that carry a credential (any header whose value holds one of the request's secrets does too)."""


@dataclass(slots=True)
class HTTPRequest:
    """One HTTP request, ready for the transport. ``body`` is JSON-serialisable.

    ``secrets`` (the API key) are registered with ``volley.masking`` so that no error shows them.
    """

    url: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    method: str = "POST"
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        masking.register(*self.secrets)

    def __repr__(self) -> str:  # never show headers: they carry the key
        return f"HTTPRequest({self.method} {masking.mask(self.url)})"

    def credential_headers(self) -> list[str]:
        """The names of the headers that carry a credential."""
        secrets = [s for s in self.secrets if s]
        return [
            k for k, v in self.headers.items()
            if k.lower() in CREDENTIAL_HEADERS or any(s in str(v) for s in secrets)
        ]  # fmt: skip


class StreamParserProto(Protocol):
    finished: bool

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]: ...


class ProviderModule(Protocol):
    NAME: str
    SUPPORTED_PARAMS: frozenset[str]

    def build_request(
        self,
        model: str,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        *,
        api_base: str,
        api_key: str | None,
        stream: bool,
    ) -> HTTPRequest: ...

    def parse_response(self, data: dict[str, Any], model: str) -> dict[str, Any]: ...

    def StreamParser(self, model: str) -> StreamParserProto: ...

    def error_message(self, status: int, body: bytes) -> str: ...


def json_request(
    url: str, body: dict[str, Any], params: dict[str, Any], headers: dict[str, str], api_key: str | None
) -> HTTPRequest:
    """A JSON POST: ``extra_body`` merged into ``body`` (one level deep, so it can add to a nested
    object such as Gemini's ``generationConfig``), ``extra_headers`` over ``headers``, the key secret."""
    for key, value in (params.get("extra_body") or {}).items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    headers = {"Content-Type": "application/json", **headers, **(params.get("extra_headers") or {})}
    secrets = [api_key] if api_key else []
    for k, v in headers.items():  # a credential given in extra_headers is as secret as the key
        if k.lower() in CREDENTIAL_HEADERS and isinstance(v, str) and v:
            token = v.split(" ", 1)[1] if v.lower().startswith(("bearer ", "basic ")) else v
            secrets.extend(t for t in (token,) if t and t not in secrets)
    return HTTPRequest(url=url, headers=headers, body=body, secrets=tuple(secrets))


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


def load_json(data: str | bytes, what: str = "response") -> Any:
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
