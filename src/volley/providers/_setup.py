"""What a cloud provider resolves once per call or batch: the base URL, its typed options, its credential.

``Provider.resolve(api_key=..., api_base=..., options=..., environ=...)`` returns a :class:`Setup`
(raising a clear error before any request when something is missing); the send path then builds
``provider.url(setup.base, model, stream=..., options=setup.options)`` and, before every attempt,
awaits ``setup.credentials.prepare()`` and adds ``provider.auth(request, setup.credentials)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import BadRequestError


@dataclass(frozen=True, slots=True)
class Setup:
    """A provider resolved for one call or batch. ``credentials`` carries the secrets and is never shown."""

    base: str
    options: Mapping[str, Any]
    credentials: Any = field(repr=False)


def http_base(base: Any, provider: str, example: str) -> str:
    """``base`` checked to be an http(s) URL (trailing ``/`` dropped), else a clear error naming ``example``."""
    if not isinstance(base, str) or not base.strip():
        raise BadRequestError(f"{provider} needs api_base, e.g. {example}; got {base!r}", provider=provider)
    parts = urlsplit(base.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequestError(f"{provider} api_base must be an http(s) URL like {example}; got {base!r}",
                              provider=provider)  # fmt: skip
    return base.strip().rstrip("/")


def first_env(environ: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    """The value of the first of ``names`` set (non-empty) in ``environ``."""
    for name in names:
        value = environ.get(name)
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
