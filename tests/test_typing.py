"""volley ships its types (py.typed): a user's script type-checks against them, and mistakes are caught."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("mypy") is None:
    pytest.skip("mypy is a dev dependency: pip install -e '.[dev]'", allow_module_level=True)

GOOD = """
import volley

r = volley.completion("gpt-4o-mini", [{"role": "user", "content": "hi"}])
text: str | None = r.choices[0].message.content
tokens: int = r.usage.total_tokens if r.usage else 0
cost: float | None = r.cost
for chunk in volley.completion("gpt-4o-mini", [{"role": "user", "content": "hi"}], stream=True):
    piece: str | None = chunk.choices[0].delta.content
out = volley.batch_completion("gpt-4o-mini", [[{"role": "user", "content": "hi"}]])
first = out[0]
if isinstance(first, volley.ModelResponse):
    print(first.choices[0].finish_reason)
"""

BAD = """
import volley

r = volley.completion("gpt-4o-mini", [{"role": "user", "content": "hi"}])
r.choices[0].message.no_such_field_at_all.upper()
n: int = r.choices[0].message.content
"""


def _mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "user_script.py"
    script.write_text(code)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         "--cache-dir", str(tmp_path / "cache"), str(script)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_user_script_type_checks(tmp_path: Path) -> None:
    out = _mypy(tmp_path, GOOD)
    assert out.returncode == 0, out.stdout + out.stderr


def test_type_mistakes_are_caught(tmp_path: Path) -> None:
    out = _mypy(tmp_path, BAD)
    assert out.returncode == 1, out.stdout
    assert 'Incompatible types in assignment (expression has type "str | None", variable has type "int")' in out.stdout
