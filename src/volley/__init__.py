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
    "estimate": "tables.estimate",
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


if TYPE_CHECKING:  # explicit re-exports ("X as X") for type checkers; at run time __getattr__ loads them
    from .api import abatch_completion as abatch_completion
    from .api import abatch_completion_iter as abatch_completion_iter
    from .api import abatch_completion_models as abatch_completion_models
    from .api import abatch_completion_models_all_responses as abatch_completion_models_all_responses
    from .api import acompletion as acompletion
    from .api import batch_completion as batch_completion
    from .api import batch_completion_models as batch_completion_models
    from .api import batch_completion_models_all_responses as batch_completion_models_all_responses
    from .api import completion as completion
    from .api import iter_batch_completion as iter_batch_completion
    from .errors import AllModelsFailedError as AllModelsFailedError
    from .errors import APIConnectionError as APIConnectionError
    from .errors import APIError as APIError
    from .errors import AuthenticationError as AuthenticationError
    from .errors import BadRequestError as BadRequestError
    from .errors import BudgetExceededError as BudgetExceededError
    from .errors import ContentPolicyViolationError as ContentPolicyViolationError
    from .errors import ContextWindowExceededError as ContextWindowExceededError
    from .errors import InternalServerError as InternalServerError
    from .errors import InvalidRequestError as InvalidRequestError
    from .errors import LocalModelCrashedError as LocalModelCrashedError
    from .errors import MissingExtraError as MissingExtraError
    from .errors import NotFoundError as NotFoundError
    from .errors import PermissionDeniedError as PermissionDeniedError
    from .errors import QuotaExceededError as QuotaExceededError
    from .errors import RateLimitError as RateLimitError
    from .errors import RedirectError as RedirectError
    from .errors import ServiceUnavailableError as ServiceUnavailableError
    from .errors import Timeout as Timeout
    from .errors import UnsupportedParamsError as UnsupportedParamsError
    from .pricing import completion_cost as completion_cost
    from .pricing import register_prices as register_prices
    from .protocols import register_protocol as register_protocol
    from .providers import Provider as Provider
    from .providers import RateInfo as RateInfo
    from .providers import register_provider as register_provider
    from .stream import AsyncStream as AsyncStream
    from .streaming import stream_chunk_builder as stream_chunk_builder
    from .tables.estimate import estimate as estimate
    from .tables.map import amap as amap
    from .tables.map import map as map
    from .transports.http import aclose as aclose
    from .types import Choice as Choice
    from .types import Message as Message
    from .types import ModelResponse as ModelResponse
    from .types import StreamChunk as StreamChunk
    from .types import ToolCall as ToolCall
    from .types import Usage as Usage
