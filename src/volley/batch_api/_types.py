"""Provider-neutral shapes: one batch's state (``BatchInfo``), one item's outcome (``ItemResult``),
and the interface each provider adapter implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ItemKind = Literal["succeeded", "errored", "expired", "canceled"]


@dataclass(slots=True)
class ItemResult:
    """One item's outcome as the provider reported it.

    ``body`` is the online-shape answer for ``succeeded``; for ``errored``, ``status`` (when known),
    ``error_type`` and ``message`` describe the error.
    """

    kind: ItemKind
    body: Any = None
    status: int | None = None
    error_type: str | None = None
    message: str = ""


@dataclass(slots=True)
class BatchInfo:
    """A provider batch's state, the same for every provider.

    ``status`` is the provider's own word (OpenAI: validating, in_progress, finalizing, completed,
    failed, expired, cancelling, cancelled; Anthropic: in_progress, canceling, ended). ``done`` is
    True once no more results will come. ``counts`` are the provider's request counts; ``total``
    the number of requests when known. ``raw`` is the provider's object as it sent it.
    """

    provider: str
    id: str
    status: str
    done: bool
    counts: dict[str, int] = field(default_factory=dict)
    total: int | None = None
    created_at: Any = None
    errors: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (for the CLI)."""
        out: dict[str, Any] = {"provider": self.provider, "id": self.id, "status": self.status, "done": self.done}
        out["counts"] = self.counts
        if self.total is not None:
            out["total"] = self.total
        if self.created_at is not None:
            out["created_at"] = self.created_at
        if self.errors:
            out["errors"] = self.errors
        return out


class Adapter(Protocol):
    """One provider's batch API. ``items`` are ``(custom_id, online request body)`` pairs."""

    provider: str
    max_requests: int
    max_bytes: int

    def item_size(self, custom_id: str, body: dict[str, Any]) -> int:
        """Bytes the item adds to a batch (to split within ``max_bytes``)."""
        ...

    async def submit(self, items: Sequence[tuple[str, dict[str, Any]]]) -> BatchInfo: ...

    async def retrieve(self, batch_id: str) -> BatchInfo: ...

    async def cancel(self, batch_id: str) -> BatchInfo: ...

    async def list_batches(self, limit: int = 20) -> list[BatchInfo]: ...

    async def results(self, info: BatchInfo) -> dict[str, ItemResult]:
        """Every result the ended batch has, by custom_id (items without one are simply absent)."""
        ...
