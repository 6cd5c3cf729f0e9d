"""volley: many LLM completions, fast, to any provider, in the OpenAI ``chat.completion`` shape.

Imports are lazy (PEP 562): ``import volley`` loads neither aiohttp nor any provider module until
a name that needs them is first used. LiteLLM scripts run after ``import volley as litellm``:
its module settings (``volley.num_retries = 3``, ``volley.success_callback = [...]``: see
``volley.settings``), exceptions (``volley.exceptions``), helpers and ``Router`` are here too.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from . import settings as _settings

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
    "completion_cost": "compat.helpers",
    "register_prices": "pricing",
    "BudgetExceededError": "errors",
    # LiteLLM's helpers (volley.compat): tokens, model info, cost, environment, retries, mocks, Router
    "token_counter": "compat.helpers",
    "encode": "compat.helpers",
    "decode": "compat.helpers",
    "get_max_tokens": "compat.helpers",
    "get_model_info": "compat.helpers",
    "model_cost": "compat.helpers",
    "register_model": "compat.helpers",
    "cost_per_token": "compat.helpers",
    "get_supported_openai_params": "compat.helpers",
    "supports_function_calling": "compat.helpers",
    "supports_vision": "compat.helpers",
    "supports_response_schema": "compat.helpers",
    "supports_reasoning": "compat.helpers",
    "supports_system_messages": "compat.helpers",
    "supports_prompt_caching": "compat.helpers",
    "supports_tool_choice": "compat.helpers",
    "get_llm_provider": "compat.helpers",
    "validate_environment": "compat.helpers",
    "completion_with_retries": "compat.helpers",
    "acompletion_with_retries": "compat.helpers",
    "mock_completion": "compat.helpers",
    "turn_on_debug": "compat.helpers",
    "provider_list": "compat.helpers",
    "Router": "compat.router",
    "Cache": "compat.cache",
    "CustomLogger": "hooks.callbacks",
    # types
    "ModelResponse": "types",
    "StreamChunk": "types",
    "Choice": "types",
    "Message": "types",
    "ToolCall": "types",
    "Usage": "types",
    "Choices": "types",
    "Delta": "types",
    "StreamingChoices": "types",
    "ModelResponseStream": "types",
    "AsyncStream": "stream",
    "CustomStreamWrapper": "stream",
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
    "UnprocessableEntityError": "errors",
    "BadGatewayError": "errors",
    "APIResponseValidationError": "errors",
    "StructuredOutputError": "errors",
    "JSONSchemaValidationError": "errors",
    "OpenAIError": "errors",
}
_SUBMODULES = frozenset({"exceptions", "settings", "types", "testing", "tokens", "pricing", "compat"})

__all__ = sorted([*_EXPORTS, "exceptions", "__version__"])


def __getattr__(name: str) -> Any:
    if name in _settings.NAMES:
        return _settings.settings.get(name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'volley' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, *_settings.NAMES])


class _Module(types.ModuleType):
    """The ``volley`` module: assigning a setting (``volley.num_retries = 3``) checks and stores it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _settings.NAMES:
            _settings.settings.set(name, value)
        else:
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Module


if TYPE_CHECKING:  # explicit re-exports ("X as X") for type checkers; at run time __getattr__ loads them
    from . import exceptions as exceptions
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
    from .compat.cache import Cache as Cache
    from .compat.helpers import acompletion_with_retries as acompletion_with_retries
    from .compat.helpers import completion_cost as completion_cost
    from .compat.helpers import completion_with_retries as completion_with_retries
    from .compat.helpers import cost_per_token as cost_per_token
    from .compat.helpers import decode as decode
    from .compat.helpers import encode as encode
    from .compat.helpers import get_llm_provider as get_llm_provider
    from .compat.helpers import get_max_tokens as get_max_tokens
    from .compat.helpers import get_model_info as get_model_info
    from .compat.helpers import get_supported_openai_params as get_supported_openai_params
    from .compat.helpers import mock_completion as mock_completion
    from .compat.helpers import model_cost as model_cost
    from .compat.helpers import provider_list as provider_list
    from .compat.helpers import register_model as register_model
    from .compat.helpers import supports_function_calling as supports_function_calling
    from .compat.helpers import supports_prompt_caching as supports_prompt_caching
    from .compat.helpers import supports_reasoning as supports_reasoning
    from .compat.helpers import supports_response_schema as supports_response_schema
    from .compat.helpers import supports_system_messages as supports_system_messages
    from .compat.helpers import supports_tool_choice as supports_tool_choice
    from .compat.helpers import supports_vision as supports_vision
    from .compat.helpers import token_counter as token_counter
    from .compat.helpers import turn_on_debug as turn_on_debug
    from .compat.helpers import validate_environment as validate_environment
    from .compat.router import Router as Router
    from .errors import AllModelsFailedError as AllModelsFailedError
    from .errors import APIConnectionError as APIConnectionError
    from .errors import APIError as APIError
    from .errors import APIResponseValidationError as APIResponseValidationError
    from .errors import AuthenticationError as AuthenticationError
    from .errors import BadGatewayError as BadGatewayError
    from .errors import BadRequestError as BadRequestError
    from .errors import BudgetExceededError as BudgetExceededError
    from .errors import ContentPolicyViolationError as ContentPolicyViolationError
    from .errors import ContextWindowExceededError as ContextWindowExceededError
    from .errors import InternalServerError as InternalServerError
    from .errors import InvalidRequestError as InvalidRequestError
    from .errors import JSONSchemaValidationError as JSONSchemaValidationError
    from .errors import LocalModelCrashedError as LocalModelCrashedError
    from .errors import MissingExtraError as MissingExtraError
    from .errors import NotFoundError as NotFoundError
    from .errors import OpenAIError as OpenAIError
    from .errors import PermissionDeniedError as PermissionDeniedError
    from .errors import QuotaExceededError as QuotaExceededError
    from .errors import RateLimitError as RateLimitError
    from .errors import RedirectError as RedirectError
    from .errors import ServiceUnavailableError as ServiceUnavailableError
    from .errors import StructuredOutputError as StructuredOutputError
    from .errors import Timeout as Timeout
    from .errors import UnprocessableEntityError as UnprocessableEntityError
    from .errors import UnsupportedParamsError as UnsupportedParamsError
    from .hooks.callbacks import CustomLogger as CustomLogger
    from .pricing import register_prices as register_prices
    from .stream import CustomStreamWrapper as CustomStreamWrapper
    from .types import Choices as Choices
    from .types import Delta as Delta
    from .types import ModelResponseStream as ModelResponseStream
    from .types import StreamingChoices as StreamingChoices

    # LiteLLM's module settings (volley.settings), as type checkers should see them
    num_retries: int | None
    drop_params: bool
    api_key: str | None
    api_base: str | None
    request_timeout: float | None
    set_verbose: bool
    suppress_debug_info: bool
    success_callback: list[Any]
    failure_callback: list[Any]
    callbacks: list[Any]
    cache: Any
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
