"""Errors of provider batch mode.

Tree (all under volley's ``APIError``)::

    BadRequestError
    ├── BatchModeUnsupportedError   raised before any request: provider, stream or input not batchable
    └── BatchResumeError            a resume id that none of the calls' providers (base, key) knows
    BatchItemError                  one item did not succeed inside its batch   .reason
    ├── BatchItemExpired            the batch ended (24 h window) before the item ran
    └── BatchItemCanceled           the batch was cancelled before the item ran

``BatchItemError.reason`` is ``"errored"`` (the provider answered the item with an error: ``status_code``
and ``error_type`` say which), ``"expired"``, ``"canceled"``, ``"failed"`` (the whole batch failed,
e.g. its input did not validate), ``"missing"`` (the batch ended without a result for the item) or
``"too_large"`` (the item alone exceeds the provider's batch size limit; it was never sent).
"""

from __future__ import annotations

from typing import Any

from ..errors import APIError, BadRequestError, error_from_status


class BatchModeUnsupportedError(BadRequestError):
    """The calls cannot go through a provider batch API (raised before any request)."""


class BatchResumeError(BadRequestError):
    """A ``resume_ids`` entry that none of the calls' providers (at their base, with their key) knows."""


class BatchItemError(APIError):
    """An item that did not succeed inside a provider batch.

    ``reason``: errored | expired | canceled | failed | missing | too_large. ``error_type`` is the
    provider's error type or code (e.g. ``invalid_request_error``, ``batch_expired``) when it gave
    one; ``status_code`` the HTTP status the item was answered with, when known. ``batch_id`` and
    ``custom_id`` locate the item at the provider.
    """

    reason = "errored"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        error_type: str | None = None,
        batch_id: str = "",
        custom_id: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        if reason is not None:
            self.reason = reason
        self.error_type = error_type
        self.batch_id = batch_id
        self.custom_id = custom_id

    @property
    def online_error(self) -> APIError | None:
        """The error the same answer would have raised online (e.g. ``RateLimitError``), when the status is known."""
        if self.status_code is None:
            return None
        return error_from_status(self.status_code, self.message, provider=self.provider, model=self.model)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(reason={self.reason!r}, status_code={self.status_code!r}, "
            f"error_type={self.error_type!r}, message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs = {
            "status_code": self.status_code,
            "provider": self.provider,
            "model": self.model,
            "reason": self.reason,
            "error_type": self.error_type,
            "batch_id": self.batch_id,
            "custom_id": self.custom_id,
        }
        return (_rebuild, (type(self), self.message, kwargs))


def _rebuild(cls: type[BatchItemError], message: str, kwargs: dict[str, Any]) -> BatchItemError:
    return cls(message, **kwargs)


class BatchItemExpired(BatchItemError):
    """The batch's completion window (24 h) ended before this item was processed."""

    reason = "expired"


class BatchItemCanceled(BatchItemError):
    """The batch was cancelled before this item was processed."""

    reason = "canceled"
