"""Provider wire protocols, one module each; loaded on first use so ``import volley`` stays light."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from .base import ProviderModule

PROTOCOLS = ("openai", "anthropic", "cohere", "gemini", "local")


def get(protocol: str) -> ProviderModule:
    """The provider module for a wire protocol name, e.g. ``get("anthropic")``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    return cast("ProviderModule", importlib.import_module(f"{__name__}.{protocol}"))
