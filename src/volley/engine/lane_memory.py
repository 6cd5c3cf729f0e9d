"""What lanes learned, kept between processes: a small file in volley's cache directory.

A lane that answered without a 429 opens at once the next time (instead of sending a few probe
requests and waiting for the first answer), and starts at the limits it read from the headers;
a lane that drew a 429 is written down as "probe again". :mod:`volley.engine.limits` keeps the
same facts in the process; this module carries them to the next process, for a day
(:data:`TTL`). A lane is named in the file by a digest of its key (provider, api_base, model,
account id): no URL, model or key appears in it. The file is ``lanes.json`` in
``volley.files.cache_dir()``, 0600; it is a hint, so an unreadable file is ignored and writes are
not fsynced. ``VOLLEY_LANE_MEMORY=0`` turns it off.

Example::

    recall(("openai", "https://api.openai.com/v1", "gpt-4o-mini", "1a2b3c4d"))   # (True, 500.0, None) or None
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from ..files import DIR_MODE, cache_dir, replace_private

TTL = 24 * 3600.0
"""Seconds a lane's record is believed."""
MAX_LANES = 256
"""Records kept in the file (the most recent)."""

Known = tuple[bool, float | None, float | None]
"""``(opened, learned rpm, learned tpm)``: what ``limits.Lane`` remembers of a lane."""

_records: dict[str, list[Any]] | None = None  # the file as read once by this process, plus what it wrote


def enabled() -> bool:
    """Whether lanes are remembered on disk (``VOLLEY_LANE_MEMORY=0`` turns it off)."""
    return os.environ.get("VOLLEY_LANE_MEMORY", "1").strip().lower() not in ("0", "false", "no", "off")


def path() -> Path:
    """The file's place."""
    return cache_dir() / "lanes.json"


def _name(key: Hashable) -> str:
    return hashlib.sha256(b"volley-lane\0" + repr(key).encode("utf-8")).hexdigest()[:32]


def _read() -> dict[str, list[Any]]:
    try:
        data = json.loads(path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and _valid(v)}


def _valid(v: Any) -> bool:
    return (
        isinstance(v, list)
        and len(v) == 4
        and isinstance(v[0], bool)
        and all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0) for x in v[1:3])
        and isinstance(v[3], (int, float))
    )


def recall(key: Hashable) -> Known | None:
    """What an earlier process learned of lane ``key`` within :data:`TTL`, else None."""
    global _records
    if not enabled():
        return None
    if _records is None:
        _records = _read()
    v = _records.get(_name(key))
    if v is None or not 0 <= time.time() - float(v[3]) <= TTL:
        return None
    return bool(v[0]), v[1], v[2]


def store(key: Hashable, known: Known) -> None:
    """Write down what lane ``key`` learned (merged into the file as it is now; errors are ignored)."""
    global _records
    if not enabled():
        return
    name = _name(key)
    record = [known[0], known[1], known[2], time.time()]
    if _records is not None and (_records.get(name) or [None])[:3] == record[:3]:
        return  # nothing new: no write
    records = _read()
    records[name] = record
    if len(records) > MAX_LANES:
        records = dict(sorted(records.items(), key=lambda kv: kv[1][3])[-MAX_LANES:])
    _records = records
    try:
        path().parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        with replace_private(path(), "w", durable=False, encoding="utf-8") as f:
            json.dump(records, f, separators=(",", ":"))
    except OSError:
        pass  # a hint: a read-only or full disk only means the next process probes


def forget() -> None:
    """Forget every lane: the file is removed (``volley.engine.limits.reset``)."""
    global _records
    _records = None
    if not enabled():
        return
    try:
        path().unlink()
    except OSError:
        pass
