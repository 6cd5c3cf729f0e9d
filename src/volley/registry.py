"""Which hosts and wire formats volley knows: ``register_provider`` / ``register_protocol``.

The built-in hosts register themselves through the same calls (``volley.providers.builtin``), on
first lookup. A name the registry does not know is looked up once among the ``volley.providers``
entry points of installed packages (an entry point may name a :class:`~volley.providers.base.Provider`,
or a function returning one or a list of them), so plugins cost nothing until used.

Example::

    volley.register_provider(volley.Provider("acme", "openai", default_base="https://api.acme.ai/v1",
                                             key_env=("ACME_API_KEY",)))
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from .errors import BadRequestError

if TYPE_CHECKING:
    from .protocols.base import ProtocolModule
    from .providers.base import Provider

ENTRY_POINT_GROUP = "volley.providers"

_BUILTIN_PROTOCOLS = ("openai", "anthropic", "cohere", "gemini", "bedrock_converse", "local")
_protocols: dict[str, ModuleType | str] = {name: f"volley.protocols.{name}" for name in _BUILTIN_PROTOCOLS}
_providers: dict[str, Provider] = {}
_aliases: dict[str, str] = {}
_lock = threading.RLock()
_builtins = False
_looked_up: set[str] = set()


def register_protocol(name: str, module: ModuleType | str) -> None:
    """Make a wire format available to providers by ``name``: a module, or its import path (loaded on use).

    Example: ``volley.register_protocol("acme_wire", "acme_volley.wire")``
    """
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
    return cast("ProtocolModule", entry)


def register_provider(provider: Provider, *, replace: bool = False) -> Provider:
    """Route ``"<provider.name>/<model>"`` (and its aliases) to ``provider``; returns it.

    Registering a name that exists raises ``ValueError`` unless ``replace=True``.
    """
    _load_builtins()
    with _lock:
        for name in (provider.name, *provider.aliases):
            if not replace and (name in _providers or name in _aliases):
                raise ValueError(f"provider {name!r} is already registered (pass replace=True to replace it)")
        _providers[provider.name] = provider
        for alias in provider.aliases:
            _aliases[alias] = provider.name
    return provider


def unregister_provider(name: str) -> None:
    """Forget a registered provider (tests; a plugin being unloaded)."""
    with _lock:
        provider = _providers.pop(name, None)
        for alias in provider.aliases if provider else ():
            _aliases.pop(alias, None)


def get_provider(name: str) -> Provider | None:
    """The provider registered as ``name`` (or an alias), looking among entry points once if unknown."""
    _load_builtins()
    found = _lookup(name)
    if found is None and name not in _looked_up:
        _looked_up.add(name)
        _from_entry_points(name)
        found = _lookup(name)
    return found


def provider_names() -> list[str]:
    """Every registered provider name and alias, sorted."""
    _load_builtins()
    return sorted([*_providers, *_aliases])


def infer(model: str) -> Provider | None:
    """The provider a bare model name belongs to (``claude-…`` → anthropic), or None."""
    _load_builtins()
    for provider in _providers.values():
        if provider.matches(model):
            return provider
    return None


def _lookup(name: str) -> Provider | None:
    return _providers.get(_aliases.get(name, name))


def _load_builtins() -> None:
    global _builtins
    if _builtins:
        return
    with _lock:
        if not _builtins:
            _builtins = True
            from .providers import builtin

            builtin.register()


def _from_entry_points(name: str) -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name != name:
            continue
        try:
            loaded: Any = ep.load()
            made = loaded() if callable(loaded) and not hasattr(loaded, "protocol") else loaded
        except Exception as exc:
            msg = f"the {ENTRY_POINT_GROUP} plugin {ep.value!r} for {name!r} failed to load: {exc}"
            raise BadRequestError(msg) from exc
        for provider in made if isinstance(made, (list, tuple)) else [made]:
            if provider is not None and _lookup(provider.name) is None:
                register_provider(provider)
