"""Optional dependencies: import one when a feature needs it, or say which extra brings it.

Example::

    pa = need("pyarrow", extra="tables", purpose="reading Parquet")
"""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingDependencyError(ImportError):
    """A feature needs a package that is not installed; the message names the pip command."""


def need(module: str, *, extra: str | None, purpose: str, package: str | None = None) -> ModuleType:
    """``import module``, or raise :class:`MissingDependencyError` naming ``pip install 'volley-llm[extra]'``
    (or, with ``extra=None``, the package itself)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        name = package or module.split(".")[0]
        how = f"pip install 'volley-llm[{extra}]' (or pip install {name})" if extra else f"pip install {name}"
        raise MissingDependencyError(f"{purpose} needs the {name} package, which is not installed: {how}") from exc
