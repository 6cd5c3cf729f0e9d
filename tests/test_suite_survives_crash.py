"""The suite's own pytest configuration turns a native crash into one failed test, not a dead run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CRASHY = """
import os, signal

def test_before():
    assert 1 + 1 == 2

def test_segfaults():
    os.kill(os.getpid(), signal.SIGSEGV)

def test_after():
    assert "a" * 2 == "aa"
"""


def test_a_segfault_is_a_failed_test_and_the_summary_line_comes(tmp_path: Path) -> None:
    (tmp_path / "test_crashy.py").write_text(CRASHY)
    # The project's pyproject.toml (its addopts), on a file of tests of our own.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-p", "no:cacheprovider", str(tmp_path / "test_crashy.py")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "crashed while running" in out and "test_segfaults" in out, out
    assert "1 failed, 2 passed" in out, out
