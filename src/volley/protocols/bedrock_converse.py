"""AWS Bedrock Converse and ConverseStream (``POST /model/{modelId}/converse`` / ``/converse-stream``).

Pure mapping, no I/O. OpenAI-shape requests become Converse's: system messages go to ``system``,
sampling to ``inferenceConfig`` (``maxTokens``, ``temperature``, ``topP``, ``stopSequences``), tools
to ``toolConfig`` (``toolChoice`` ``auto`` / ``any`` / ``tool``), tool calls and tool results to
``toolUse`` / ``toolResult`` blocks, ``data:`` image URLs to ``image`` blocks, thinking blocks sent
back to ``reasoningContent`` blocks; turns are merged so that user and assistant alternate.
``extra_body`` keys that are Converse request fields (``guardrailConfig``, ``performanceConfig``, ...)
are merged at the top level, any other key goes to ``additionalModelRequestFields`` (e.g.
``{"top_k": 40}``). ``reasoning_effort`` and ``thinking`` become Claude's ``thinking`` field there.

Answers map back to ``chat.completion`` (chunk) dicts: ``reasoningContent`` → ``reasoning_content``
plus ``thinking_blocks`` (signatures and redacted blocks kept, to be sent back), stop reasons,
usage with prompt-cache reads and writes. The stream events are the decoded event-stream messages
``messageStart``, ``contentBlockStart``, ``contentBlockDelta``, ``contentBlockStop``,
``messageStop``, ``metadata``; the stream's exception events raise typed errors.

Example::

    body = build_body("anthropic.claude-3-5-haiku-20241022-v1:0", [{"role": "user", "content": "hi"}],
                      {"max_tokens": 100}, stream=False)
    url = "https://bedrock-runtime.us-east-1.amazonaws.com" + path("anthropic.claude-3-5-haiku-20241022-v1:0",
                                                                   stream=False)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..errors import APIError, BadRequestError, UnsupportedParamsError, error_from_status
from ..transports.eventstream import aws_error
from .base import (
    chunk,
    copy_renamed,
    endpoint,
    error_text,
    load_json,
    output_cap,
    parse_arguments,
    stop_list,
    tool_arguments,
    usage,
)

NAME = "bedrock_converse"

SUPPORTED_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop",
        "tools", "tool_choice", "response_format", "reasoning_effort", "thinking",
        "stream_options",  # accepted and ignored: the usage chunk is always sent
    }
)  # fmt: skip

REQUEST_FIELDS = frozenset(
    {
        "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig", "additionalModelRequestFields",
        "promptVariables", "additionalModelResponseFieldPaths", "requestMetadata", "performanceConfig",
        "serviceTier", "outputConfig",
    }
)  # fmt: skip
"""Top-level members of a Converse request body; other ``extra_body`` keys are model fields."""

THINKING_BUDGET = {"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}
"""``reasoning_effort`` → Claude's ``thinking.budget_tokens`` (the budgets LiteLLM uses)."""

IMAGE_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "stop",
    "malformed_tool_use": "stop",
}

STREAM_EXCEPTIONS = frozenset(
    {
        "internalServerException", "modelStreamErrorException", "validationException", "throttlingException",
        "serviceUnavailableException", "modelTimeoutException",
    }
)  # fmt: skip
"""The exception members of ``ConverseStreamOutput`` (and ``modelTimeoutException`` of InvokeModel's)."""

_GEO_PREFIXES = ("us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.")

HEADERS: dict[str, str] = {}
AUTH = ("Authorization", "Bearer {key}")
"""A Bedrock API key is a bearer token; SigV4 signatures are the host's (``volley.providers.aws``)."""


def _bad(message: str) -> BadRequestError:
    return BadRequestError(message, provider=NAME)


# ---------------------------------------------------------------- model ids and paths


def model_id(model: str) -> str:
    """The Bedrock model id of ``model``: LiteLLM's ``converse/`` route prefix removed.

    Model ids, inference profiles (``us.anthropic...``) and ARNs pass through unchanged.
    """
    if model.startswith("converse/"):
        model = model[len("converse/") :]
    if not model or not model.strip():
        raise _bad("the Bedrock model id is empty")
    return model


def model_family(model: str) -> str:
    """The model's provider on Bedrock (``anthropic``, ``amazon``, ``meta``, ...), from its id, inference
    profile (``us.anthropic.claude...``) or ARN; ``""`` when it cannot be told."""
    name = model_id(model)
    if name.startswith("arn:"):
        name = name.rsplit("/", 1)[-1]
    for prefix in _GEO_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return name.split(".", 1)[0] if "." in name else ""


def unsupported_params(model: str, params: dict[str, Any]) -> dict[str, str]:
    """What this model refuses although Converse takes it: ``reasoning_effort`` is mapped for Claude only
    (dropped with ``drop_params``, else refused before sending).

    Example: ``unsupported_params("amazon.nova-pro-v1:0", {"reasoning_effort": "low"})`` → ``{"reasoning_effort": ...}``
    """
    if params.get("reasoning_effort") not in (None, "none") and model_family(model) != "anthropic":
        return {"reasoning_effort": "mapped for Anthropic Claude models on Bedrock only; pass the model's own "
                                    "reasoning field in extra_body"}  # fmt: skip
    return {}


def url(base: str, model: str, *, stream: bool) -> str:
    """``{base}/model/{model id}/converse`` (``/converse-stream`` for a stream)."""
    return endpoint(base, path(model, stream=stream))


def path(model: str, *, stream: bool) -> str:
    """``/model/{modelId}/converse`` (``/converse-stream``), the id percent-encoded (``:`` → ``%3A``,
    ``/`` of an ARN → ``%2F``) as the AWS SDKs send it. Send this exact string: it is what gets signed.

    Example: ``path("anthropic.claude-3-haiku-20240307-v1:0", stream=True)``
    → ``"/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"``
    """
    return f"/model/{quote(model_id(model), safe='')}/{'converse-stream' if stream else 'converse'}"


# ---------------------------------------------------------------- request


def build_body(model: str, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """OpenAI-style ``messages`` + ``params`` → a Converse request body (the same for ConverseStream).

    Raises ``BadRequestError`` for what Converse cannot take (an ``http`` image URL, tool calls in
    the history without ``tools``, ``response_format`` ``json_object``).

    Example::

        build_body("amazon.nova-lite-v1:0", [{"role": "system", "content": "Be brief."},
                   {"role": "user", "content": "hi"}], {"temperature": 0.2, "stop": ["\\n\\n"]}, stream=True)
    """
    system, turns = convert_messages(messages)
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    inference: dict[str, Any] = {}
    cap = output_cap(params)
    if cap is not None:
        inference["maxTokens"] = cap
    copy_renamed(params, inference, {"temperature": "temperature", "top_p": "topP"})
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        value = inference.get(theirs)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1
        ):
            raise _bad(f"{ours} must be a number from 0 to 1 on Bedrock Converse, not {value!r}")
    stop = stop_list(params)
    if stop:
        inference["stopSequences"] = stop
    if inference:
        body["inferenceConfig"] = inference
    tool_config = _tool_config(params.get("tools"), params.get("tool_choice"), turns)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    output_config = _output_config(params.get("response_format"))
    if output_config is not None:
        body["outputConfig"] = output_config
    additional: dict[str, Any] = {}
    thinking = _thinking(model, params)
    if thinking is not None:
        additional["thinking"] = thinking
    if additional:
        body["additionalModelRequestFields"] = additional
    _merge_extra(body, params.get("extra_body"))
    return body


def _merge_extra(body: dict[str, Any], extra: Any) -> None:
    if not extra:
        return
    if not isinstance(extra, Mapping):
        raise _bad("extra_body must be a dict")
    for key, value in extra.items():
        target = body if key in REQUEST_FIELDS else body.setdefault("additionalModelRequestFields", {})
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key] = {**target[key], **value}
        else:
            target[key] = value


def _thinking(model: str, params: dict[str, Any]) -> dict[str, Any] | None:
    thinking = params.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict):
            raise _bad('thinking must be a dict such as {"type": "enabled", "budget_tokens": 2048}')
        return thinking
    effort = params.get("reasoning_effort")
    if effort is None or effort == "none":
        return None
    if effort not in THINKING_BUDGET:
        raise _bad(f"reasoning_effort must be one of {', '.join(THINKING_BUDGET)} or 'none', not {effort!r}")
    if model_family(model) != "anthropic":
        raise UnsupportedParamsError(
            f"reasoning_effort is mapped for Anthropic Claude models on Bedrock, not {model!r}: pass the model's "
            "own reasoning field in extra_body (it goes to additionalModelRequestFields)",
            provider=NAME,
            model=model,
        )
    return {"type": "enabled", "budget_tokens": THINKING_BUDGET[effort]}


def _output_config(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, dict) or response_format.get("type") in (None, "text"):
        return None
    if response_format.get("type") != "json_schema":
        raise _bad(
            f"response_format type {response_format.get('type')!r} has no Converse equivalent: pass "
            '{"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}'
        )
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise _bad("response_format json_schema needs a 'schema' object")
    definition: dict[str, Any] = {"schema": json.dumps(schema, separators=(",", ":"), ensure_ascii=False)}
    if spec.get("name"):
        definition["name"] = str(spec["name"])
    if spec.get("description"):
        definition["description"] = str(spec["description"])
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


def _tool_config(tools: Any, choice: Any, turns: list[dict[str, Any]]) -> dict[str, Any] | None:
    history_uses_tools = any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"])
    if not tools:
        if history_uses_tools:
            raise _bad(
                "the messages hold tool calls or tool results: Bedrock Converse needs the tools passed as well "
                "(tools=[...])"
            )
        return None
    specs: list[dict[str, Any]] = []
    for tool in tools:
        specs.extend(_tool(tool))
    config: dict[str, Any] = {"tools": specs}
    if choice is None or choice == "none":
        # Converse has no "none": without tool blocks in the history the tools are left out altogether;
        # with them, toolConfig is required, so it is sent without a toolChoice.
        if choice == "none" and not history_uses_tools:
            return None
        return config
    config["toolChoice"] = _tool_choice(choice)
    return config


def _tool(tool: Any) -> list[dict[str, Any]]:
    """OpenAI function tool → ``toolSpec`` (plus a ``cachePoint`` for ``cache_control``); native
    Converse tools (``toolSpec`` / ``systemTool`` / ``cachePoint``) pass through."""
    if not isinstance(tool, dict):
        raise _bad(f"a tool must be a dict, not {type(tool).__name__}")
    if tool.keys() & {"toolSpec", "systemTool", "cachePoint"}:
        return [tool]
    fn = tool.get("function")
    if tool.get("type") != "function" or not isinstance(fn, dict) or not fn.get("name"):
        raise _bad('a tool must be {"type": "function", "function": {"name": ..., "parameters": {...}}}')
    spec: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        spec["description"] = fn["description"]
    spec["inputSchema"] = {"json": fn.get("parameters") or {"type": "object", "properties": {}}}
    if isinstance(fn.get("strict"), bool):
        spec["strict"] = fn["strict"]
    out: list[dict[str, Any]] = [{"toolSpec": spec}]
    if tool.get("cache_control"):
        out.append({"cachePoint": {"type": "default"}})
    return out


def _tool_choice(choice: Any) -> dict[str, Any]:
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, dict):
        if len(choice) == 1 and next(iter(choice)) in ("auto", "any", "tool"):
            return choice  # already Converse's shape
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if choice.get("type") in ("function", "tool") and name:
            return {"tool": {"name": name}}
    raise _bad(f"tool_choice must be 'auto', 'required', 'none' or a function, not {choice!r}")


def convert_messages(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages → Converse ``(system blocks, messages)``; consecutive same-role turns merged,
    tool results first in their user turn."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_content_blocks(msg.get("content"), system=True))
            continue
        if role == "assistant":
            role, blocks = "assistant", _assistant_blocks(msg)
        elif role == "tool":
            role, blocks = "user", [_tool_result(msg)]
        else:
            role, blocks = "user", _content_blocks(msg.get("content"))
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        if turn["role"] == "user":
            turn["content"].sort(key=lambda b: "toolResult" not in b)
    return system, turns


def _content_blocks(content: Any, *, system: bool = False) -> list[dict[str, Any]]:
    """OpenAI content (a string or parts) → Converse content blocks; blank text is left out, as
    Converse refuses it. ``cache_control`` on a part adds a ``cachePoint`` after it."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content.strip() else []
    out: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, str):
            out.extend(_content_blocks(part, system=system))
            continue
        if not isinstance(part, dict):
            raise _bad(f"a content part must be a dict, not {type(part).__name__}")
        kind = part.get("type")
        if kind in ("text", "input_text"):
            text = part.get("text") or ""
            if not text.strip():
                continue
            out.append({"text": text})
        elif kind == "image_url" and not system:
            image = part.get("image_url")
            out.append(_image_block(image.get("url", "") if isinstance(image, dict) else str(image or "")))
        elif kind is None and len(part) == 1:
            out.append(part)  # already a Converse block ({"text": ...}, {"image": ...}, {"cachePoint": ...})
            continue
        else:
            where = "a system message" if system else "Bedrock Converse"
            raise _bad(f"content part type {kind!r} is not supported in {where}")
        if part.get("cache_control"):
            out.append({"cachePoint": {"type": "default"}})
    return out


def _image_block(url: str) -> dict[str, Any]:
    """A ``data:`` URL (base64) or an ``s3://`` URI → a Converse image block."""
    if url.startswith("s3://"):
        ext = url.rsplit(".", 1)[-1].lower()
        fmt = "jpeg" if ext == "jpg" else ext
        if fmt not in IMAGE_FORMATS:
            raise _bad(f"cannot tell the image format of {url!r} (png, jpeg, gif or webp)")
        return {"image": {"format": fmt, "source": {"s3Location": {"uri": url}}}}
    if not url.startswith("data:"):
        raise _bad("Bedrock Converse takes images as base64 data: URLs or s3:// URIs, not web URLs")
    header, _, data = url[5:].partition(",")
    media_type, *flags = header.split(";")
    if "base64" not in flags or not data:
        raise _bad("an image data: URL must be base64 (data:image/png;base64,...)")
    fmt = media_type.split("/", 1)[-1].lower()
    fmt = "jpeg" if fmt == "jpg" else fmt
    if fmt not in IMAGE_FORMATS:
        raise _bad(f"image type {media_type!r} is not one Bedrock takes (png, jpeg, gif, webp)")
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _assistant_blocks(msg: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for block in msg.get("thinking_blocks") or ():
        if block.get("type") == "thinking" and block.get("thinking"):
            text: dict[str, Any] = {"text": block["thinking"]}
            if block.get("signature"):
                text["signature"] = block["signature"]
            blocks.append({"reasoningContent": {"reasoningText": text}})
        elif block.get("type") == "redacted_thinking" and block.get("data"):
            blocks.append({"reasoningContent": {"redactedContent": block["data"]}})
    content = msg.get("content")
    if isinstance(content, str):
        if content.strip():
            blocks.append({"text": content})
    elif content:
        blocks.extend(b for b in _content_blocks(content) if "image" not in b)
    for call in msg.get("tool_calls") or ():
        fn = call.get("function") or {}
        args = parse_arguments(fn.get("arguments"))
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": call.get("id") or "",
                    "name": fn.get("name") or "",
                    "input": args if isinstance(args, dict) else {"value": args},
                }
            }
        )
    return blocks


def _tool_result(msg: dict[str, Any]) -> dict[str, Any]:
    content = msg.get("content")
    if isinstance(content, list):
        parts = [b for b in _content_blocks(content) if "cachePoint" not in b]
    elif content is None or content == "":
        parts = []
    else:
        parts = [{"text": str(content)}]
    return {"toolResult": {"toolUseId": msg.get("tool_call_id") or "", "content": parts or [{"json": {}}]}}


# ---------------------------------------------------------------- response


def _finish(reason: Any) -> str:
    return _FINISH.get(str(reason), "stop") if reason else "stop"


def _usage(data: Mapping[str, Any]) -> dict[str, Any]:
    """Converse usage → OpenAI usage; prompt-cache reads and writes count as prompt tokens."""
    read = int(data.get("cacheReadInputTokens") or 0)
    written = int(data.get("cacheWriteInputTokens") or 0)
    out: dict[str, Any] = usage(int(data.get("inputTokens") or 0) + read + written, data.get("outputTokens"))
    if read or written:
        out["prompt_tokens_details"] = {"cached_tokens": read}
        out["cache_read_input_tokens"] = read
        out["cache_creation_input_tokens"] = written
    return out


def _new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def _thinking_block(reasoning: Mapping[str, Any]) -> dict[str, Any] | None:
    if isinstance(reasoning.get("reasoningText"), dict):
        text = reasoning["reasoningText"]
        block: dict[str, Any] = {"type": "thinking", "thinking": text.get("text") or ""}
        if text.get("signature"):
            block["signature"] = text["signature"]
        return block
    if reasoning.get("redactedContent"):
        return {"type": "redacted_thinking", "data": reasoning["redactedContent"]}
    return None


def parse_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    """A Converse response → an OpenAI ``chat.completion`` dict.

    Example::

        parse_response({"output": {"message": {"role": "assistant", "content": [{"text": "Hi"}]}},
                        "stopReason": "end_turn", "usage": {"inputTokens": 5, "outputTokens": 1,
                        "totalTokens": 6}, "metrics": {"latencyMs": 200}}, "amazon.nova-lite-v1:0")
    """
    message_in = (data.get("output") or {}).get("message") if isinstance(data, dict) else None
    if not isinstance(message_in, dict) or not isinstance(message_in.get("content"), list):
        if isinstance(data, dict) and isinstance(data.get("message"), str):  # an error body with a 200
            raise aws_error(data.get("__type"), data["message"], status=500, model=model, body=data)
        raise error_from_status(502, f"unexpected response shape: {str(data)[:200]}", provider=NAME, model=model)
    texts: list[str] = []
    reasoning: list[str] = []
    blocks: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message_in["content"]:
        if not isinstance(block, dict):
            continue
        if "text" in block:
            texts.append(block.get("text") or "")
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            tool_calls.append(
                {
                    "id": use.get("toolUseId") or "",
                    "type": "function",
                    "function": {"name": use.get("name") or "", "arguments": tool_arguments(use.get("input"))},
                }
            )
        elif isinstance(block.get("reasoningContent"), dict):
            thinking = _thinking_block(block["reasoningContent"])
            if thinking is not None:
                blocks.append(thinking)
                if thinking["type"] == "thinking":
                    reasoning.append(thinking["thinking"])
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if blocks:
        message["thinking_blocks"] = blocks
    return {
        "id": _new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(data.get("stopReason"))}],
        "usage": _usage(data.get("usage") or {}),
    }


_EVENTS = frozenset(
    {"messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"}
    | STREAM_EXCEPTIONS
)


class StreamParser:
    """ConverseStream events → OpenAI ``chat.completion.chunk`` dicts.

    ``feed(event, data)`` takes one decoded event: its ``:event-type`` and its JSON payload (a dict or
    a JSON string). An event without a name may come wrapped as botocore shows it
    (``{"contentBlockDelta": {...}}``). ``finished`` becomes True with the ``metadata`` event, the
    last of a complete stream (it follows ``messageStop`` and carries the usage).

    Example::

        p = StreamParser("amazon.nova-lite-v1:0")
        p.feed("messageStart", {"role": "assistant"})
        p.feed("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    """

    def __init__(self, model: str) -> None:
        self.model = model
        self.finished = False
        self.stopped = False  # messageStop arrived
        self.id = _new_id()
        self.created = int(time.time())
        self._tools: dict[int, int] = {}  # Converse content block index → OpenAI tool-call index
        self._reasoning: dict[int, dict[str, Any]] = {}  # block index → thinking block being built

    def _chunk(self, delta: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return chunk(self.id, self.model, self.created, delta, **kw)

    def feed(self, event: str | None, data: str | dict[str, Any]) -> list[dict[str, Any]]:
        """One event → zero or more chunks; raises the typed ``APIError`` of an exception event."""
        if isinstance(data, (str, bytes)):
            if not data.strip():
                return []
            data = load_json(data, "stream event")
        if not isinstance(data, dict):
            return []
        if event is None and len(data) == 1 and next(iter(data)) in _EVENTS:
            event, inner = next(iter(data.items()))
            data = inner if isinstance(inner, dict) else {}
        if event in STREAM_EXCEPTIONS or (event or "").endswith("Exception"):
            raise aws_error(event, str(data.get("message") or "exception in stream"), model=self.model, body=data)
        index = data.get("contentBlockIndex", 0)
        if event == "contentBlockDelta":
            return self._delta(index, data.get("delta") or {})
        if event == "contentBlockStart":
            return self._start(index, data.get("start") or {})
        if event == "contentBlockStop":
            block = self._reasoning.pop(index, None)
            return [self._chunk({"thinking_blocks": [block]})] if block else []
        if event == "messageStart":
            return [self._chunk({"role": data.get("role") or "assistant", "content": ""})]
        if event == "messageStop":
            self.stopped = True
            return [self._chunk({}, finish_reason=_finish(data.get("stopReason")))]
        if event == "metadata":
            self.finished = True
            return [self._chunk(usage=_usage(data.get("usage") or {}))]
        return []

    def _start(self, index: int, start: dict[str, Any]) -> list[dict[str, Any]]:
        use = start.get("toolUse")
        if not isinstance(use, dict):
            return []
        self._tools[index] = len(self._tools)
        call = {
            "index": self._tools[index],
            "id": use.get("toolUseId") or "",
            "type": "function",
            "function": {"name": use.get("name") or "", "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _delta(self, index: int, delta: dict[str, Any]) -> list[dict[str, Any]]:
        if "text" in delta:
            return [self._chunk({"content": delta.get("text") or ""})] if delta.get("text") else []
        if isinstance(delta.get("toolUse"), dict):
            fragment = delta["toolUse"].get("input") or ""
            if not fragment or index not in self._tools:
                return []
            return [self._chunk({"tool_calls": [{"index": self._tools[index], "function": {"arguments": fragment}}]})]
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            if reasoning.get("redactedContent"):
                return [
                    self._chunk(
                        {"thinking_blocks": [{"type": "redacted_thinking", "data": reasoning["redactedContent"]}]}
                    )
                ]
            block = self._reasoning.setdefault(index, {"type": "thinking", "thinking": ""})
            if reasoning.get("signature"):
                block["signature"] = block.get("signature", "") + reasoning["signature"]
            if reasoning.get("text"):
                block["thinking"] += reasoning["text"]
                return [self._chunk({"reasoning_content": reasoning["text"]})]
        return []


# ---------------------------------------------------------------- errors


def error_message(status: int, body: bytes) -> str:
    """The ``message`` of a Bedrock error body (``{"message": "..."}``), else the body as text."""
    return error_text(body, ("message",), ("Message",), ("error", "message"))


def error_type(headers: Mapping[str, str], body: bytes) -> str | None:
    """The AWS error type: the ``x-amzn-ErrorType`` header (``ThrottlingException:http://...``), else
    the body's ``__type`` / ``code``."""
    kind = headers.get("x-amzn-ErrorType") or headers.get("x-amzn-errortype")
    if kind:
        return kind.split(":", 1)[0]
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return None
    if isinstance(data, dict):
        value = data.get("__type") or data.get("code")
        if isinstance(value, str) and value:
            return value.split("#")[-1].split(":", 1)[0]
    return None


def error_from_response(
    status: int, headers: Mapping[str, str], body: bytes, *, model: str = "", secrets: tuple[str, ...] = ()
) -> APIError:
    """The typed error of a Bedrock HTTP error answer: the error type decides the class (a
    ``ThrottlingException`` is a ``RateLimitError`` whatever the status), the body gives the message.

    Example: ``error_from_response(400, {"x-amzn-ErrorType": "ThrottlingException:..."}, b'{"message":"slow down"}')``
    """
    from ..errors import redact

    message = redact(error_message(status, body), secrets)
    return aws_error(error_type(headers, body), message, status=status, model=model, headers=headers, body=body)
