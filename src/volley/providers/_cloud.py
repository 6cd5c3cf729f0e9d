"""Small checks the cloud hosts (AWS, Azure, Vertex AI) share: an http(s) base, a string option, an env lookup."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import BadRequestError, MissingExtraError


def http_base(base: Any, provider: str, example: str) -> str:
    """``base`` checked to be an http(s) URL (trailing ``/`` dropped), else a clear error naming ``example``.

    Example: ``http_base("https://r.openai.azure.com/", "azure", "https://<resource>.openai.azure.com")``
    """
    if not isinstance(base, str) or not base.strip():
        raise BadRequestError(f"{provider} needs api_base, e.g. {example}; got {base!r}", provider=provider)
    parts = urlsplit(base.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequestError(f"{provider} api_base must be an http(s) URL like {example}; got {base!r}",
                              provider=provider)  # fmt: skip
    return base.strip().rstrip("/")


def first_env(names: tuple[str, ...], environ: Mapping[str, str] | None = None) -> str | None:
    """The value of the first of ``names`` set (non-empty) in ``environ`` (the process environment by default)."""
    env = os.environ if environ is None else environ
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def option_str(options: Mapping[str, Any], name: str, provider: str) -> str | None:
    """``options[name]`` as a non-empty string, None when unset; anything else is a clear error."""
    value = options.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequestError(f"{name} must be a non-empty string; got {value!r}", provider=provider)
    return value.strip()


_found: set[str] = set()


def require(module: str, *, extra: str, purpose: str, provider: str) -> None:
    """Raise :class:`~volley.errors.MissingExtraError` naming ``pip install 'volley-llm[extra]'`` unless
    ``module`` can be imported (it is not imported here; a module once found is not looked for again)."""
    if module in sys.modules:
        found = sys.modules[module] is not None
    elif module in _found:
        found = True
    else:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            _found.add(module)
    if not found:
        raise MissingExtraError(
            f"{purpose} needs {module}, which is not installed: pip install 'volley-llm[{extra}]'", provider=provider
        )
