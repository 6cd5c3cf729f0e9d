"""Lanes remembered between processes (volley.engine.lane_memory): the next process opens at once."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from volley.engine import lane_memory
from volley.engine.limits import PROBE, RateInfo, get_lane
from volley.engine.limits import reset as limits_reset

KEY = ("openai", "https://api.example.test/v1", "gpt-x", "1a2b3c4d")


@pytest.fixture
def memory_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VOLLEY_LANE_MEMORY", "1")
    monkeypatch.setenv("VOLLEY_CACHE_DIR", str(tmp_path))
    lane_memory._records = None
    yield tmp_path
    lane_memory._records = None


def _answer(key: tuple[str, ...], *, ok: bool = True, rate: RateInfo | None = None) -> None:
    async def go() -> None:
        lane = get_lane(key)
        await lane.acquire()
        lane.release(ok=ok, rate_limited=not ok, retry_after=0.0, rate=rate)

    asyncio.run(go())


def _new_process_limit(key: tuple[str, ...], env: dict[str, str]) -> int:
    """The concurrency a fresh lane for ``key`` allows in a new Python process (max_workers 40)."""
    code = (
        "import asyncio, sys\n"
        "from volley.engine.limits import get_lane\n"
        f"async def main():\n    lane = get_lane({key!r}); lane.configure(max_workers=40); print(lane.limit)\n"
        "asyncio.run(main())\n"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **env, "PYTHONPATH": src})  # fmt: skip
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip())


def test_a_lane_that_answered_opens_at_once_in_the_next_process(memory_dir: Path) -> None:
    env = {"VOLLEY_LANE_MEMORY": "1", "VOLLEY_CACHE_DIR": str(memory_dir)}
    assert _new_process_limit(KEY, env) == PROBE  # nothing known yet: the new process probes
    _answer(KEY)
    assert _new_process_limit(KEY, env) == 40
    assert _new_process_limit(KEY, {**env, "VOLLEY_LANE_MEMORY": "0"}) == PROBE  # turned off
    other = ("openai", "https://api.example.test/v1", "gpt-x", "ffffffff")  # another account
    assert _new_process_limit(other, env) == PROBE


def test_a_429_is_remembered_as_probe_again(memory_dir: Path) -> None:
    env = {"VOLLEY_LANE_MEMORY": "1", "VOLLEY_CACHE_DIR": str(memory_dir)}
    _answer(KEY)
    _answer(KEY, ok=False)
    assert _new_process_limit(KEY, env) == PROBE


def test_learned_limits_carry_over_and_the_file_names_nothing(memory_dir: Path) -> None:
    _answer(KEY, rate=RateInfo(limit_requests=600, remaining_requests=10))
    lane_memory._records = None  # as a new process reads it
    assert lane_memory.recall(KEY) == (True, 600.0, None)
    f = memory_dir / "lanes.json"
    text = f.read_text()
    assert "example" not in text and "gpt-x" not in text and "1a2b3c4d" not in text
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    limits_reset()
    assert not f.exists() and lane_memory.recall(KEY) is None


def test_old_or_broken_records_are_ignored(memory_dir: Path) -> None:
    _answer(KEY)
    f = memory_dir / "lanes.json"
    data = json.loads(f.read_text())
    (name,) = data
    data[name][3] = time.time() - lane_memory.TTL - 10
    f.write_text(json.dumps(data))
    lane_memory._records = None
    assert lane_memory.recall(KEY) is None  # older than a day
    for broken in ("not json", "[1, 2]", json.dumps({name: ["yes", None, None, time.time()]})):
        f.write_text(broken)
        lane_memory._records = None
        assert lane_memory.recall(KEY) is None


def test_an_unwritable_directory_only_means_probing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("VOLLEY_LANE_MEMORY", "1")
    monkeypatch.setenv("VOLLEY_CACHE_DIR", str(blocker / "sub"))  # a directory that cannot be made
    lane_memory._records = None
    _answer(KEY)  # no error
    lane_memory._records = None
    assert lane_memory.recall(KEY) is None
