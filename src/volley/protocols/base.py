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
``unsupported_params(model, params) -> dict[name, reason]``, what this model refuses although the
protocol maps it (OpenAI reasoning models and ``temperature``; Anthropic thinking and ``top_p``),
dropped with ``drop_params=True`` or refused with the reason; ``DEFAULT_MAX_TOKENS`` when the
protocol always sends an output cap, or ``default_max_tokens(params)`` when that cap depends on
the parameters.

Reasoning has one shape everywhere: a message's ``reasoning_content`` (text) and
``thinking_blocks`` (signed or redacted blocks that can be sent back); a stream delta's
``reasoning_content`` pieces and, once a block is complete, ``thinking_blocks``.
``reasoning_effort`` and ``thinking`` map through :func:`reasoning_budget` where the provider takes
a budget.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from .. import _fast
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
    """``json.loads`` that turns a malformed body into ``APIConnectionError`` (text and bytes through
    ``_fast.loads``: the same values, sooner with the [fast] extra)."""
    try:
        return _fast.loads(data) if type(data) is str or type(data) is bytes else json.loads(data)
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


class ToolCallIndexer:
    """Gives every streamed tool-call fragment the index of the call it belongs to (one per choice).

    OpenAI numbers the calls of a stream (``index``), sends a call's ``id`` with its first fragment
    and only ``index`` + argument pieces after. Some hosts (Mistral) send several whole calls in one
    delta with no ``index`` (or all ``0``): a fragment with an ``id`` not seen yet starts a new call,
    one without ``id`` or ``index`` continues the last call.

    Example::

        ix = ToolCallIndexer()
        ix.index([{"id": "a", "function": {"name": "f", "arguments": "{}"}},
                  {"id": "b", "function": {"name": "g", "arguments": "{}"}}])
        # → the same calls with "index": 0 and "index": 1
    """

    def __init__(self) -> None:
        self._by_index: dict[int, int] = {}  # the provider's index → ours
        self._by_id: dict[str, int] = {}
        self._ids: dict[int, str] = {}
        self._last: int | None = None
        self._count = 0

    def index(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The fragments of one delta, each with ``index`` set to its call's number."""
        out = []
        for tc in calls:
            if not isinstance(tc, dict):
                continue
            given = tc.get("index")
            given = given if isinstance(given, int) and not isinstance(given, bool) else None
            cid = tc.get("id") or None
            if cid is not None and cid in self._by_id:
                ours = self._by_id[cid]
            elif cid is not None:
                same = self._by_index.get(given) if given is not None else None
                ours = same if same is not None and same not in self._ids else self._new()
                self._by_id[cid], self._ids[ours] = ours, cid
            elif given is not None and given in self._by_index:
                ours = self._by_index[given]
            elif given is None and self._last is not None:
                ours = self._last
            else:
                ours = self._new()
            if given is not None:
                self._by_index[given] = ours
            self._last = ours
            out.append({**tc, "index": ours})
        return out

    def _new(self) -> int:
        self._count += 1
        return self._count - 1


EXTRA_PARAMS = frozenset({"thinking"})
"""Completion parameters beyond OpenAI's that some protocols map (Anthropic's ``thinking={...}``);
a protocol that does not list one refuses it (or drops it with ``drop_params=True``)."""

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
"""The ``reasoning_effort`` values volley maps for providers without OpenAI's parameter."""

THINKING_BUDGET = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096, "xhigh": 8192}
"""``reasoning_effort`` → a thinking-token budget (Anthropic's minimum is 1024), for providers that
take a budget (Anthropic ``thinking.budget_tokens``, Gemini 2.5 ``thinkingBudget``, Cohere ``token_budget``)."""


def reasoning_budget(params: Mapping[str, Any], protocol: str) -> int | None:
    """The thinking budget ``params`` ask for: Anthropic-style ``thinking`` first, else
    ``reasoning_effort``; 0 when thinking is turned off ("none", ``{"type": "disabled"}``), None when
    neither is set. Raises ``BadRequestError`` for a value it cannot read.

    Example: ``reasoning_budget({"reasoning_effort": "medium"}, "gemini")`` → ``2048``
    """
    from ..errors import BadRequestError

    thinking = params.get("thinking")
    if thinking is not None:
        kind = thinking.get("type") if isinstance(thinking, Mapping) else None
        if kind == "disabled":
            return 0
        budget = thinking.get("budget_tokens") if isinstance(thinking, Mapping) else None
        if kind != "enabled" or isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise BadRequestError(
                f'thinking must be {{"type": "enabled", "budget_tokens": N}} (N a positive integer) or '
                f'{{"type": "disabled"}}; got {thinking!r}',
                provider=protocol,
            )
        return budget
    effort = params.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in REASONING_EFFORTS:
        raise BadRequestError(
            f"reasoning_effort must be one of {', '.join(REASONING_EFFORTS)}; got {effort!r}", provider=protocol
        )
    return 0 if effort == "none" else THINKING_BUDGET[effort]
