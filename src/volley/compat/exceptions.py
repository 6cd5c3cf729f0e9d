"""LiteLLM's exception names (``litellm.exceptions``), all defined in :mod:`volley.errors`.

Example::

    from volley.exceptions import RateLimitError
    volley.completion("gpt-4o-mini", msgs, mock_response=RateLimitError(message="slow down",
                                                                       llm_provider="openai", model="gpt-4o-mini"))
"""

from __future__ import annotations

from ..errors import (
    AllModelsFailedError,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    AuthenticationError,
    BadGatewayError,
    BadRequestError,
    BudgetExceededError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    ImageFetchError,
    InternalServerError,
    InvalidRequestError,
    JSONSchemaValidationError,
    MockException,
    NotFoundError,
    OpenAIError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    RejectedRequestError,
    ServiceUnavailableError,
    StructuredOutputError,
    Timeout,
    UnprocessableEntityError,
    UnsupportedParamsError,
)

APITimeoutError = Timeout  # openai's name

__all__ = [
    "LITELLM_EXCEPTION_TYPES",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APITimeoutError",
    "AllModelsFailedError",
    "AuthenticationError",
    "BadGatewayError",
    "BadRequestError",
    "BudgetExceededError",
    "ContentPolicyViolationError",
    "ContextWindowExceededError",
    "ImageFetchError",
    "InternalServerError",
    "InvalidRequestError",
    "JSONSchemaValidationError",
    "MockException",
    "NotFoundError",
    "OpenAIError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "RejectedRequestError",
    "ServiceUnavailableError",
    "StructuredOutputError",
    "Timeout",
    "UnprocessableEntityError",
    "UnsupportedParamsError",
]  # fmt: skip

#: LiteLLM's list of its exception classes.
LITELLM_EXCEPTION_TYPES = [
    AuthenticationError, NotFoundError, BadRequestError, UnprocessableEntityError, UnsupportedParamsError, Timeout,
    PermissionDeniedError, RateLimitError, ContextWindowExceededError, RejectedRequestError,
    ContentPolicyViolationError, InternalServerError, ServiceUnavailableError, BadGatewayError, APIError,
    APIConnectionError, APIResponseValidationError, JSONSchemaValidationError,
]  # fmt: skip
