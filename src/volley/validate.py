"""Input checks that run before any request is sent. Each failure names the field at fault."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequestError

__all__ = [
    "InvalidRequestError", "non_negative_int", "positive_int", "positive_number", "positive_seconds",
    "validate_messages", "validate_params",
]  # fmt: skip

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _fail(msg: str) -> InvalidRequestError:
    return InvalidRequestError(msg, status_code=400)


def _check_text(value: str, where: str) -> None:
    if value.isascii():  # O(1): ASCII text has no lone surrogate
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _fail(f"{where} is not valid Unicode text ({exc.reason} at position {exc.start})") from None


def validate_messages(messages: Any, where: str = "messages") -> list[dict[str, Any]]:
    """Check an OpenAI-shape message list; return it as a list of dicts."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, (list, tuple)):
        raise _fail(f"{where} must be a list of message dicts, got {type(messages).__name__}")
    if not messages:
        raise _fail(f"{where} is empty: give at least one message")
    out = []
    for i, m in enumerate(messages):
        at = f"{where}[{i}]"
        if not isinstance(m, Mapping) and hasattr(m, "model_dump"):
            m = _as_input(m)  # an answer's Message appended to the conversation again
        if not isinstance(m, Mapping):
            raise _fail(f"{at} must be a dict with 'role' and 'content', got {type(m).__name__}")
        role = m.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise _fail(f"{at}.role must be one of {', '.join(sorted(ROLES))}; got {role!r}")
        content = m.get("content")
        if content is None:
            if not (role == "assistant" and (m.get("tool_calls") or m.get("function_call"))):
                raise _fail(f"{at}.content is missing (only an assistant message with tool_calls may omit it)")
        elif isinstance(content, str):
            _check_text(content, f"{at}.content")
        elif isinstance(content, (list, tuple)):
            for j, part in enumerate(content):
                if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
                    raise _fail(f"{at}.content[{j}] must be a dict with a 'type' (e.g. 'text', 'image_url')")
                if part["type"] == "text":
                    if not isinstance(part.get("text"), str):
                        raise _fail(f"{at}.content[{j}].text must be a string")
                    _check_text(part["text"], f"{at}.content[{j}].text")
        else:
            raise _fail(f"{at}.content must be a string, a list of parts or None; got {type(content).__name__}")
        if role == "tool" and not isinstance(m.get("tool_call_id"), str):
            raise _fail(f"{at} has role 'tool' but no string 'tool_call_id'")
        calls = m.get("tool_calls")
        if calls is not None:
            if not isinstance(calls, (list, tuple)):
                raise _fail(f"{at}.tool_calls must be a list")
            for j, c in enumerate(calls):
                fn = c.get("function") if isinstance(c, Mapping) else None
                if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
                    raise _fail(f"{at}.tool_calls[{j}] needs function.name")
        out.append(m if isinstance(m, dict) else dict(m))
    return out


def _as_input(message: Any) -> dict[str, Any]:
    """A message object (pydantic: volley's or LiteLLM's ``Message``) as the dict a provider is sent:
    set fields only, and only those the class names in ``INPUT_FIELDS`` when it names them."""
    data: dict[str, Any] = message.model_dump(exclude_none=True)
    fields = getattr(type(message), "INPUT_FIELDS", None)
    if fields is not None:
        data = {k: v for k, v in data.items() if k in fields}
    if (
        data.get("role") == "assistant"
        and "content" not in data
        and not data.get("tool_calls")
        and not data.get("function_call")
    ):
        data["content"] = ""
    return data


def positive_int(name: str, value: Any) -> int:
    """``value`` if it is an integer >= 1, else a clear ``InvalidRequestError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(f"{name} must be a positive integer; got {value!r}")
    return value


def non_negative_int(name: str, value: Any) -> int:
    """``value`` if it is an integer >= 0, else a clear ``InvalidRequestError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(f"{name} must be a non-negative integer; got {value!r}")
    return value


def positive_number(name: str, value: Any) -> float:
    """``value`` if it is a finite number > 0 (an int or a float), else ``InvalidRequestError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise _fail(f"{name} must be a positive number; got {value!r}")
    return value


def positive_seconds(name: str, value: Any, *, zero: bool = False) -> float:
    """``value`` as seconds if it is a finite number > 0 (>= 0 with ``zero``); else ``InvalidRequestError``.

    ``nan``, ``inf``, negatives, booleans and strings are refused (``None`` for "no limit" is the
    caller's to allow).

    Example::

        positive_seconds("timeout", 30)  # 30.0
    """
    seconds = math.nan
    if not isinstance(value, bool) and isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            pass
    if not (math.isfinite(seconds) and (seconds >= 0 if zero else seconds > 0)):
        what = "a finite number of seconds >= 0" if zero else "a finite, positive number of seconds"
        raise _fail(f"{name} must be {what}; got {value!r}")
    return seconds


def _number(params: Mapping[str, Any], name: str, lo: float, hi: float) -> None:
    v = params.get(name)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or not lo <= v <= hi:
        raise _fail(f"{name} must be a number between {lo:g} and {hi:g}; got {v!r}")


def _positive_int(params: Mapping[str, Any], name: str) -> None:
    v = params.get(name)
    if v is not None:
        positive_int(name, v)


def validate_params(params: Mapping[str, Any]) -> None:
    """Check the values of the common completion parameters."""
    _number(params, "temperature", 0.0, 2.0)
    _number(params, "top_p", 0.0, 1.0)
    _number(params, "presence_penalty", -2.0, 2.0)
    _number(params, "frequency_penalty", -2.0, 2.0)
    for name in ("max_tokens", "max_completion_tokens", "n"):
        _positive_int(params, name)
    seed = params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _fail(f"seed must be an integer; got {seed!r}")
    stop = params.get("stop")
    if (
        stop is not None
        and not isinstance(stop, str)
        and (not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop))
    ):
        raise _fail(f"stop must be a string or a list of strings; got {stop!r}")
    tools = params.get("tools")
    if tools is not None:
        _validate_tools(tools)
    rf = params.get("response_format")
    if rf is not None:
        kind = rf.get("type") if isinstance(rf, Mapping) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise _fail(f"response_format.type must be text, json_object or json_schema; got {rf!r}")
        if kind == "json_schema":
            js = rf.get("json_schema")
            if not isinstance(js, Mapping) or not isinstance(js.get("schema", {}), Mapping):
                raise _fail("response_format.json_schema must be a dict with a 'name' and a 'schema' dict")


def _validate_tools(tools: Any) -> None:
    if not isinstance(tools, (list, tuple)):
        raise _fail(f"tools must be a list of tool dicts; got {type(tools).__name__}")
    for i, t in enumerate(tools):
        at = f"tools[{i}]"
        if not isinstance(t, Mapping) or t.get("type") != "function":
            raise _fail(f"{at} must be {{'type': 'function', 'function': {{...}}}}")
        fn = t.get("function")
        if not isinstance(fn, Mapping):
            raise _fail(f"{at}.function must be a dict with 'name' and 'parameters'")
        name = fn.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise _fail(f"{at}.function.name must be 1-64 letters, digits, '_', '-' or '.'; got {name!r}")
        schema = fn.get("parameters")
        if schema is not None and (not isinstance(schema, Mapping) or schema.get("type", "object") != "object"):
            raise _fail(f"{at}.function.parameters must be a JSON-schema object (type 'object'); got {schema!r}")
