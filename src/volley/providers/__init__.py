"""Hosts: one :class:`~volley.providers.base.Provider` per place a model can be sent, and the registry of them.

``builtin`` holds volley's own hosts; they are registered through the same ``register_provider``
a plugin uses, on the first lookup; the wire formats they speak live in ``volley.protocols``.
A name the registry does not know is looked up once among the ``volley.providers``
entry points of installed packages (an entry point may name a :class:`~volley.providers.base.Provider`,
or a function returning one or a list of them), so plugins cost nothing until used.

Example::

    volley.register_provider(volley.Provider("acme", "openai", default_base="https://api.acme.ai/v1",
                                             key_env=("ACME_API_KEY",)))
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import BadRequestError
from .base import Provider, RateInfo

__all__ = [
    "ENTRY_POINT_GROUP", "Provider", "RateInfo", "get_provider", "infer", "provider_names", "register_provider",
    "unregister_provider",
]  # fmt: skip

ENTRY_POINT_GROUP = "volley.providers"

_providers: dict[str, Provider] = {}
_aliases: dict[str, str] = {}
_lock = threading.RLock()
_builtins = False
_version = 0  # counts registrations and removals (prepare's template memo starts again after one)
_looked_up: set[str] = set()


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
        _changed()
    return provider


def _changed() -> None:
    global _version
    _version += 1


def registry_version() -> int:
    """A number that changes whenever a provider is registered or removed (the built-in ones loaded first)."""
    _load_builtins()
    return _version


def unregister_provider(name: str) -> None:
    """Forget a registered provider (tests; a plugin being unloaded)."""
    with _lock:
        provider = _providers.pop(name, None)
        for alias in provider.aliases if provider else ():
            _aliases.pop(alias, None)
        _changed()


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
            from . import builtin

            for provider in builtin.providers():
                register_provider(provider)


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
