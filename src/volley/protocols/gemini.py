"""Google Gemini API ``generateContent`` / ``streamGenerateContent?alt=sse`` (v1beta).

OpenAI messages become ``contents`` of ``user`` / ``model`` turns made of parts (text, inline
data, ``functionCall``, ``functionResponse``); system messages become ``systemInstruction``;
sampling parameters go in ``generationConfig``; tools become ``functionDeclarations`` (their
JSON schemas are sent as ``parametersJsonSchema``, and a ``json_schema`` response format as
``responseJsonSchema``, the fields that take plain JSON Schema).

Thinking: ``reasoning_effort`` becomes ``thinkingConfig`` (Gemini 3: ``thinkingLevel`` LOW / HIGH;
earlier models: a ``thinkingBudget``), as does an Anthropic-style ``thinking`` budget, with
``includeThoughts`` so the thought summaries come back as ``reasoning_content``. ``logprobs`` /
``top_logprobs`` become ``responseLogprobs`` / ``logprobs``, and a candidate's ``logprobsResult``
comes back as OpenAI's ``choices[].logprobs``; ``n`` is ``candidateCount``.

Gemini gives function calls no id, so one is made up. When a call part carries a
``thoughtSignature`` (Gemini 2.5+/3 thinking models, which require it back on the next turn) it is
kept inside that id after ``__thought__`` and restored when the conversation is sent again.
"""

from __future__ import annotations

import json
import mimetypes
import time
import uuid
from typing import Any

from ..errors import error_from_status
from .base import (
    chunk,
    copy_renamed,
    error_text,
    load_json,
    merge_extra,
    output_cap,
    parse_arguments,
    reasoning_budget,
    stop_list,
    text_of,
    tool_arguments,
    usage,
)

NAME = "gemini"

SUPPORTED_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "n", "seed",
        "tools", "tool_choice", "response_format", "presence_penalty", "frequency_penalty",
        "reasoning_effort", "thinking", "logprobs", "top_logprobs",
        "stream_options",  # accepted and ignored: the usage chunk is always sent
    }
)  # fmt: skip

#: Provider parameters volley passes through (LiteLLM's names) and where they go in the body.
PASSTHROUGH = {"top_k": ("generationConfig", "topK"), "safety_settings": ("safetySettings",),
               "cached_content": ("cachedContent",)}  # fmt: skip

THOUGHT_SEP = "__thought__"
"""Separator between a generated tool-call id and the Gemini ``thoughtSignature`` kept in it."""

_FILTERED = {
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
    "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
}  # fmt: skip

ERROR_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
"""Google RPC ``status`` → HTTP status, for error payloads that carry no numeric ``code``."""


# ---------------------------------------------------------------- request


HEADERS: dict[str, str] = {}
AUTH = ("x-goog-api-key", "{key}")


def url(base: str, model: str, *, stream: bool) -> str:
    """``{base}/v1beta/models/{model}:generateContent`` (``:streamGenerateContent?alt=sse`` for a stream);
    a base that already ends with a version (``/v1``, ``/v1beta``, ``/v1alpha``) keeps it."""
    base = base.rstrip("/")
    if not base.endswith(("/v1beta", "/v1", "/v1alpha")):
        base += "/v1beta"
    name = model.removeprefix("models/")
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base}/models/{name}:{method}"


def build_body(model: str, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """OpenAI-style ``messages`` + ``params`` → a ``generateContent`` body.

    ``extra_body`` is merged one level deep, so ``{"generationConfig": {"thinkingConfig": ...}}``
    adds to the generated ``generationConfig`` instead of replacing it.

    Example::

        build_body("gemini-2.0-flash", [{"role": "user", "content": "hi"}], {"max_tokens": 50}, stream=True)
        # {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 50}}
    """
    system, contents = convert_messages(messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    config = _generation_config(params)
    thinking = thinking_config(model, params)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    if config:
        body["generationConfig"] = config
    tools = _tools(params.get("tools") or ())
    if tools:
        body["tools"] = tools
    tool_config = _tool_config(params.get("tool_choice"))
    if tool_config and params.get("tools"):
        body["toolConfig"] = tool_config
    return merge_extra(body, params)


_RENAMED = {
    "temperature": "temperature",
    "top_p": "topP",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}


def _generation_config(params: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    copy_renamed(params, config, _RENAMED)
    max_tokens = output_cap(params)
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = stop_list(params)
    if stop:
        config["stopSequences"] = stop
    if params.get("logprobs") or params.get("top_logprobs"):
        config["responseLogprobs"] = True
        if params.get("top_logprobs"):
            config["logprobs"] = params["top_logprobs"]
    fmt = params.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt["type"] == "json_schema" else None
        if schema:
            config["responseJsonSchema"] = schema
    return config


_LEVELS = {"minimal": "LOW", "low": "LOW", "medium": "HIGH", "high": "HIGH", "xhigh": "HIGH"}
"""``reasoning_effort`` → Gemini 3 ``thinkingLevel`` (LOW and HIGH are the levels every Gemini 3 model takes)."""


def _gemini3(model: str) -> bool:
    return model.removeprefix("models/").startswith("gemini-3")


def thinking_config(model: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """``reasoning_effort`` / ``thinking`` → ``thinkingConfig``, or None when neither is set.

    Example: ``thinking_config("gemini-2.5-flash", {"reasoning_effort": "low"})``
    → ``{"thinkingBudget": 1024, "includeThoughts": True}``
    """
    budget = reasoning_budget(params, NAME)
    if budget is None:
        return None
    effort = params.get("reasoning_effort")
    if params.get("thinking") is None and _gemini3(model) and effort in _LEVELS:
        return {"thinkingLevel": _LEVELS[effort], "includeThoughts": True}
    return {"thinkingBudget": budget, "includeThoughts": True} if budget else {"thinkingBudget": 0}


def unsupported_params(model: str, params: dict[str, Any]) -> dict[str, str]:
    """Gemini 3 models cannot turn thinking off: ``reasoning_effort="none"`` is refused for them."""
    if _gemini3(model) and params.get("reasoning_effort") == "none" and params.get("thinking") is None:
        return {"reasoning_effort": f"{model} cannot turn thinking off; the lowest effort is 'low'"}
    return {}


def _tools(tools: Any) -> list[dict[str, Any]]:
    """OpenAI function tools → one ``functionDeclarations`` tool; Gemini-native tools pass through."""
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for tool in tools:
        if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
            native.append(tool)  # e.g. {"googleSearch": {}}, {"codeExecution": {}}
            continue
        fn = tool["function"]
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = fn["description"]
        if fn.get("parameters"):
            decl["parametersJsonSchema"] = fn["parameters"]
        declarations.append(decl)
    return ([{"functionDeclarations": declarations}] if declarations else []) + native


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
        return None
    mode = {"auto": "AUTO", "required": "ANY", "none": "NONE"}.get(str(choice))
    return {"functionCallingConfig": {"mode": mode}} if mode else None


def convert_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI chat messages → (``systemInstruction`` parts, ``contents``); same-role turns merge.

    Example::

        convert_messages([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
        # → ([{"text": "Be brief."}], [{"role": "user", "parts": [{"text": "hi"}]}])
    """
    names = {
        call.get("id"): (call.get("function") or {}).get("name")
        for msg in messages
        if msg.get("role") == "assistant"
        for call in msg.get("tool_calls") or ()
    }
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            text = text_of(msg.get("content"))
            if text:
                system.append({"text": text})
            continue
        if role == "assistant":
            turn_role, parts = "model", _assistant_parts(msg)
        elif role in ("tool", "function"):
            name = names.get(msg.get("tool_call_id")) or msg.get("name") or "tool"
            turn_role, parts = "user", [{"functionResponse": {"name": name, "response": _tool_response(msg)}}]
        else:
            turn_role, parts = "user", _parts(msg.get("content"))
        if not parts:
            continue
        if contents and contents[-1]["role"] == turn_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": turn_role, "parts": parts})
    if not contents and system:  # Gemini needs at least one turn: send the instructions as the prompt
        contents, system = [{"role": "user", "parts": system}], []
    return system, contents


def _assistant_parts(msg: dict[str, Any]) -> list[dict[str, Any]]:
    parts = [{"text": t} for t in [text_of(msg.get("content"))] if t]
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        args = parse_arguments(fn.get("arguments"))
        part: dict[str, Any] = {
            "functionCall": {"name": fn.get("name") or "", "args": args if isinstance(args, dict) else {"value": args}}
        }
        signature = _signature(call)
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _signature(call: dict[str, Any]) -> str | None:
    """The thought signature of a tool call: kept in its id, or in Google's ``extra_content``."""
    extra = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
    if extra:
        return str(extra)
    _, sep, signature = str(call.get("id") or "").partition(THOUGHT_SEP)
    return signature if sep and signature else None


def _tool_response(msg: dict[str, Any]) -> dict[str, Any]:
    """A tool message's content → ``functionResponse.response`` (a JSON object).

    A JSON object is sent as is; any other text or JSON value goes under ``output``, the key the
    API documents for a function's output.
    """
    content = msg.get("content")
    text = content if isinstance(content, str) else text_of(content)
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        value = text
    return value if isinstance(value, dict) else {"output": value}


def _parts(content: Any) -> list[dict[str, Any]]:
    """User content (string or OpenAI parts) → Gemini parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            parts.append({"text": part})
            continue
        kind = part.get("type")
        if kind in ("text", "input_text"):
            if part.get("text"):
                parts.append({"text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            parts.append(_media(image.get("url", "") if isinstance(image, dict) else str(image or "")))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            fmt = audio.get("format") or "wav"
            parts.append({"inlineData": {"mimeType": f"audio/{fmt}", "data": audio.get("data") or ""}})
        elif kind == "file":
            file = part.get("file") or {}
            if file.get("file_data"):
                parts.append(_media(file["file_data"], file.get("format")))
            elif file.get("file_id"):
                parts.append(_media(file["file_id"], file.get("format")))
        else:  # already a Gemini part ({"inlineData": ...}, {"fileData": ...}): pass it on
            parts.append(part)
    return parts


def _media(url: str, mime: str | None = None) -> dict[str, Any]:
    """A ``data:`` URL → ``inlineData``; any other URL or file URI → ``fileData``."""
    if url.startswith("data:"):
        header, _, data = url[5:].partition(",")
        if ";base64" not in header:
            import base64
            from urllib.parse import unquote_to_bytes

            data = base64.b64encode(unquote_to_bytes(data)).decode("ascii")
        return {"inlineData": {"mimeType": mime or header.split(";")[0] or "application/octet-stream", "data": data}}
    out: dict[str, Any] = {"fileUri": url}
    guessed = mime or mimetypes.guess_type(url.split("?")[0])[0]
    if guessed:
        out["mimeType"] = guessed
    return {"fileData": out}


# ---------------------------------------------------------------- response


def _finish(reason: Any, has_tool_calls: bool) -> str:
    """Gemini ``finishReason`` → OpenAI's; STOP after a function call means ``tool_calls``."""
    reason = str(reason or "").upper()
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if has_tool_calls else "stop"


def _usage(meta: Any) -> dict[str, Any]:
    """``usageMetadata`` → OpenAI usage; thinking tokens count as completion tokens."""
    if not isinstance(meta, dict):
        return usage(0, 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    out: dict[str, Any] = usage(prompt, int(meta.get("candidatesTokenCount") or 0) + thoughts)
    if thoughts:
        out["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    if meta.get("cachedContentTokenCount"):
        out["prompt_tokens_details"] = {"cached_tokens": int(meta["cachedContentTokenCount"])}
    return out


def _call_id(call: dict[str, Any], part: dict[str, Any]) -> str:
    cid = str(call.get("id") or f"call_{uuid.uuid4().hex[:24]}")
    if part.get("thoughtSignature"):
        cid += THOUGHT_SEP + str(part["thoughtSignature"])
    return cid


def _tool_call(part: dict[str, Any]) -> dict[str, Any]:
    call = part["functionCall"]
    return {
        "id": _call_id(call, part),
        "type": "function",
        "function": {"name": call.get("name") or "", "arguments": tool_arguments(call.get("args"))},
    }


def _split_parts(parts: Any) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """Candidate parts → (answer texts, thought texts, OpenAI tool calls); other parts are ignored."""
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts or ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("functionCall"), dict):
            calls.append(_tool_call(part))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else texts).append(part["text"])
    return texts, thoughts, calls


def logprobs(result: Any) -> dict[str, Any] | None:
    """A candidate's ``logprobsResult`` → OpenAI's ``logprobs`` (``{"content": [...]}``), or None.

    ``chosenCandidates[i]`` is the token picked at step i, ``topCandidates[i].candidates`` the most
    likely ones there.
    """
    if not isinstance(result, dict) or not isinstance(result.get("chosenCandidates"), list):
        return None
    found = result.get("topCandidates")
    tops: list[Any] = found if isinstance(found, list) else []
    content = []
    for i, chosen in enumerate(result["chosenCandidates"]):
        if not isinstance(chosen, dict):
            continue
        top = tops[i].get("candidates") if i < len(tops) and isinstance(tops[i], dict) else None
        entry = _token_logprob(chosen)
        entry["top_logprobs"] = [_token_logprob(c) for c in top or () if isinstance(c, dict)]
        content.append(entry)
    return {"content": content, "refusal": None}


def _token_logprob(candidate: dict[str, Any]) -> dict[str, Any]:
    token = str(candidate.get("token") or "")
    value = candidate.get("logProbability")
    return {"token": token, "logprob": float(value) if isinstance(value, (int, float)) else 0.0,
            "bytes": list(token.encode("utf-8"))}  # fmt: skip


def _raise_error(obj: Any, model: str) -> None:
    """Raise the ``APIError`` for a Gemini error payload (``{"error": {...}}``, maybe in a list)."""
    if isinstance(obj, list):
        obj = obj[0] if obj else {}
    err = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(err, dict):
        err = {"message": str(err)}
    code = err.get("code")
    status = code if isinstance(code, int) else ERROR_STATUS.get(str(err.get("status")), 500)
    raise error_from_status(status, str(err.get("message") or obj), provider=NAME, model=model, body=obj)


def _new_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def parse_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    """A ``generateContent`` response → an OpenAI ``chat.completion`` dict.

    A prompt blocked before generation (``promptFeedback.blockReason``, no candidates) gives one
    choice with ``content`` None and ``finish_reason`` ``content_filter``.

    Example::

        parse_response({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]},
                                        "finishReason": "STOP", "index": 0}],
                        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}}, "gemini-2.0-flash")
    """
    if isinstance(data, list) or (isinstance(data, dict) and "error" in data and "candidates" not in data):
        _raise_error(data, model)
    if not isinstance(data, dict) or not ("candidates" in data or "promptFeedback" in data):
        raise error_from_status(502, f"unexpected response shape: {str(data)[:200]}", provider=NAME, model=model)
    choices: list[dict[str, Any]] = []
    for i, cand in enumerate(data.get("candidates") or ()):
        texts, thoughts, calls = _split_parts((cand.get("content") or {}).get("parts"))
        message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
        if calls:
            message["tool_calls"] = calls
        if thoughts:
            message["reasoning_content"] = "".join(thoughts)
        choice: dict[str, Any] = {
            "index": cand.get("index", i),
            "message": message,
            "finish_reason": _finish(cand.get("finishReason"), bool(calls)),
        }
        lp = logprobs(cand.get("logprobsResult"))
        if lp is not None:
            choice["logprobs"] = lp
        choices.append(choice)
    if not choices:
        blocked = bool((data.get("promptFeedback") or {}).get("blockReason"))
        choices.append(
            {
                "index": 0,
                "message": {"role": "assistant", "content": None},
                "finish_reason": "content_filter" if blocked else "stop",
            }
        )
    return {
        "id": data.get("responseId") or _new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("modelVersion") or model,
        "choices": choices,
        "usage": _usage(data.get("usageMetadata")),
    }


class StreamParser:
    """``streamGenerateContent?alt=sse`` events → OpenAI ``chat.completion.chunk`` dicts.

    Every event is a whole ``GenerateContentResponse``; there is no ``[DONE]``. The stream is
    finished when every candidate has a ``finishReason``; the usage chunk (from the latest
    ``usageMetadata``) follows the finish chunk. An ``{"error": ...}`` event raises its ``APIError``.

    Example::

        p = StreamParser("gemini-2.0-flash")
        p.feed(None, '{"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "STOP"}]}')
        # → [role chunk, {"content": "Hi"} chunk, finish chunk]; p.finished is True
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.finished = False
        self.id = ""
        self.created = int(time.time())
        self._usage: dict[str, Any] | None = None
        self._started: set[int] = set()
        self._done: set[int] = set()
        self._tools: dict[int, int] = {}  # candidate index → tool calls seen

    def _chunk(self, delta: dict[str, Any] | None = None, index: int = 0, **kw: Any) -> dict[str, Any]:
        return chunk(self.id, self.model, self.created, delta, index=index, **kw)

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        """One SSE event → zero or more chunks."""
        text = data.strip()
        if not text:
            return []
        if text == "[DONE]":
            self.finished = True
            return []
        obj = load_json(text, "stream event")
        out: list[dict[str, Any]] = []
        for item in obj if isinstance(obj, list) else [obj]:
            if isinstance(item, dict):
                out.extend(self._event(item))
        return out

    def _event(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        if "error" in obj and "candidates" not in obj:
            _raise_error(obj, self.model)
        if not self.id:
            self.id = obj.get("responseId") or _new_id()
            self.model = obj.get("modelVersion") or self.model
        if isinstance(obj.get("usageMetadata"), dict):
            self._usage = obj["usageMetadata"]
        out: list[dict[str, Any]] = []
        candidates = obj.get("candidates") or []
        if not candidates and (obj.get("promptFeedback") or {}).get("blockReason"):
            out += self._role(0)
            out.append(self._chunk({}, 0, finish_reason="content_filter"))
            self._done.add(0)
        for i, cand in enumerate(candidates):
            index = cand.get("index", i)
            out += self._role(index)
            texts, thoughts, calls = _split_parts((cand.get("content") or {}).get("parts"))
            if thoughts:
                out.append(self._chunk({"reasoning_content": "".join(thoughts)}, index))
            if texts and "".join(texts):
                piece = self._chunk({"content": "".join(texts)}, index)
                lp = logprobs(cand.get("logprobsResult"))
                if lp is not None:
                    piece["choices"][0]["logprobs"] = lp
                out.append(piece)
            for call in calls:
                n = self._tools.get(index, 0)
                self._tools[index] = n + 1
                out.append(self._chunk({"tool_calls": [{"index": n, **call}]}, index))
            if cand.get("finishReason"):
                finish = _finish(cand["finishReason"], bool(self._tools.get(index)))
                out.append(self._chunk({}, index, finish_reason=finish))
                self._done.add(index)
        if self._done and self._done >= self._started and not self.finished:
            self.finished = True
            if self._usage is not None:
                out.append(self._chunk(usage=_usage(self._usage)))
        return out

    def _role(self, index: int) -> list[dict[str, Any]]:
        if index in self._started:
            return []
        self._started.add(index)
        return [self._chunk({"role": "assistant", "content": ""}, index)]


def error_message(status: int, body: bytes) -> str:
    """The ``error.message`` of a Gemini error body (also when wrapped in a list), else the text."""
    return error_text(body, ("error", "message"), ("message",))
