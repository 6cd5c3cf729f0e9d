"""The isolated environment of a `volley run` test: its own key, no provider base URL or price file from the
machine, a cache directory (and cache table) of its own, and the test's directory as the working one."""

from __future__ import annotations

from pathlib import Path

import pytest


def isolate_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str) -> None:
    from volley.hooks import cache

    monkeypatch.setenv("OPENAI_API_KEY", key)
    for name in ("OPENAI_BASE_URL", "VOLLEY_PRICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VOLLEY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_caches", {})
    monkeypatch.chdir(tmp_path)
