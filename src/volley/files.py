"""Files volley writes (journal, cache, output, lock files) are private to the user: mode 0600.

SQLite creates a database's ``-wal`` and ``-shm`` files with the database file's own mode, so
creating the database file first with :func:`ensure_private` covers them too.

Example::

    ensure_private("answers.jsonl.journal.sqlite")      # created 0600, or tightened to 0600
    with open_private("answers.jsonl.tmp", "w") as f:    # a new file, 0600 whatever the umask
        f.write("...")
    with replace_private("answers.csv") as f:            # all or nothing: a temp file renamed over it
        f.write("...")
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

MODE = 0o600
DIR_MODE = 0o700


def ensure_private(path: str | os.PathLike[str]) -> None:
    """Create ``path`` empty with mode 0600 if missing; tighten an existing regular file to 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), MODE)
    try:
        _tighten(fd)
    finally:
        os.close(fd)


def _tighten(fd: int) -> None:
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:
        with contextlib.suppress(OSError):  # not ours to change (another user's file): leave it
            os.fchmod(fd, MODE)


def open_private(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for writing, creating the file 0600 (``"w"`` truncates, ``"a"``/``"a+"`` appends)."""
    flags = os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    if mode.startswith("w"):
        flags |= os.O_WRONLY | os.O_TRUNC
    elif mode.startswith("a"):
        flags |= (os.O_RDWR if "+" in mode else os.O_WRONLY) | os.O_APPEND
    else:
        raise ValueError(f"open_private writes: mode 'w' or 'a', got {mode!r}")
    fd = os.open(path, flags, MODE)
    try:
        _tighten(fd)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def replace_private(
    path: str | os.PathLike[str], mode: str = "w", *, durable: bool = True, **kwargs: Any
) -> Iterator[IO[Any]]:
    """Write ``path`` atomically and 0600: a private temp file beside it, flushed, fsynced and renamed
    over ``path`` when the block ends; on an error the temp file is removed and ``path`` is untouched.
    ``durable=False`` skips the fsync (a hint file that may be lost, never torn)."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open_private(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cache_dir() -> Path:
    """volley's cache directory: ``$VOLLEY_CACHE_DIR``, else ``$XDG_CACHE_HOME/volley``, else ``~/.cache/volley``."""
    root = os.environ.get("VOLLEY_CACHE_DIR")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "volley"
