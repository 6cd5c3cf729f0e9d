"""Wire formats: pure mappings between OpenAI-shape chat requests/answers and one provider API.

One module per protocol (``openai``, ``anthropic``, ``cohere``, ``gemini``, ``bedrock_converse``,
``ollama``, ``local``); ``base`` says what a protocol module provides. ``register_protocol`` adds
one (by module or import path, loaded on first use); hosts name their protocol (``volley.providers``).

Example::

    volley.register_protocol("acme_wire", "acme_volley.wire")
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import ProtocolModule

_BUILTIN = ("openai", "anthropic", "cohere", "gemini", "bedrock_converse", "ollama", "local")
_protocols: dict[str, ModuleType | str] = {name: f"volley.protocols.{name}" for name in _BUILTIN}
_lock = threading.Lock()


def register_protocol(name: str, module: ModuleType | str) -> None:
    """Make a wire format available to providers by ``name``: a module, or its import path (loaded on use)."""
    with _lock:
        _protocols[name] = module


def get_protocol(name: str) -> ProtocolModule:
    """The protocol module registered as ``name`` (imported on first use)."""
    entry = _protocols.get(name)
    if entry is None:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(sorted(_protocols))}")
    if isinstance(entry, str):
        entry = importlib.import_module(entry)
        _protocols[name] = entry
    return entry


def protocol_names() -> list[str]:
    """Every registered protocol, sorted."""
    return sorted(_protocols)
