"""volley: many LLM completions, fast, to any provider, in the OpenAI ``chat.completion`` shape.

Imports are lazy (PEP 562): ``import volley`` loads neither aiohttp nor any provider module until
a name that needs them is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # calls
    "completion": "api",
    "acompletion": "api",
    "batch_completion": "api",
    "abatch_completion": "api",
    "batch_completion_models": "api",
    "abatch_completion_models": "api",
    "batch_completion_models_all_responses": "api",
    "abatch_completion_models_all_responses": "api",
    "iter_batch_completion": "api",
    "abatch_completion_iter": "api",
    "map": "tables.map",
    "amap": "tables.map",
    "stream_chunk_builder": "streaming",
    # hosts and wire formats
    "Provider": "providers",
    "RateInfo": "providers",
    "register_provider": "providers",
    "register_protocol": "protocols",
    "aclose": "transports.http",
    # cost
    "completion_cost": "pricing",
    "register_prices": "pricing",
    "BudgetExceededError": "errors",
    # types
    "ModelResponse": "types",
    "StreamChunk": "types",
    "Choice": "types",
    "Message": "types",
    "ToolCall": "types",
    "Usage": "types",
    "AsyncStream": "stream",
    # errors
    "APIError": "errors",
    "BadRequestError": "errors",
    "ContextWindowExceededError": "errors",
    "ContentPolicyViolationError": "errors",
    "UnsupportedParamsError": "errors",
    "AuthenticationError": "errors",
    "PermissionDeniedError": "errors",
    "NotFoundError": "errors",
    "RateLimitError": "errors",
    "QuotaExceededError": "errors",
    "InternalServerError": "errors",
    "ServiceUnavailableError": "errors",
    "APIConnectionError": "errors",
    "Timeout": "errors",
    "RedirectError": "errors",
    "AllModelsFailedError": "errors",
    "LocalModelCrashedError": "errors",
    "MissingExtraError": "errors",
    "InvalidRequestError": "errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'volley' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from .api import (
        abatch_completion,
        abatch_completion_iter,
        abatch_completion_models,
        abatch_completion_models_all_responses,
        acompletion,
        batch_completion,
        batch_completion_models,
        batch_completion_models_all_responses,
        completion,
        iter_batch_completion,
    )
    from .errors import (
        AllModelsFailedError,
        APIConnectionError,
        APIError,
        AuthenticationError,
        BadRequestError,
        BudgetExceededError,
        ContentPolicyViolationError,
        ContextWindowExceededError,
        InternalServerError,
        LocalModelCrashedError,
        MissingExtraError,
        NotFoundError,
        PermissionDeniedError,
        QuotaExceededError,
        RateLimitError,
        RedirectError,
        ServiceUnavailableError,
        Timeout,
        UnsupportedParamsError,
    )
    from .pricing import completion_cost, register_prices
    from .protocols import register_protocol
    from .providers import Provider, RateInfo, register_provider
    from .stream import AsyncStream
    from .streaming import stream_chunk_builder
    from .tables.map import amap, map
    from .transports.http import aclose
    from .types import Choice, Message, ModelResponse, StreamChunk, ToolCall, Usage
    from .validate import InvalidRequestError
