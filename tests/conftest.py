"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from volley.testing import FakeServer


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeServer]:
    """One fake provider server for the whole session, serving from a daemon thread."""
    with FakeServer() as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeServer) -> FakeServer:
    """The session's fake server, with scripts, records and counters cleared."""
    fake_server.reset()
    return fake_server


@pytest.fixture(autouse=True)
def _fresh_lanes() -> None:
    """Each test starts with lanes that learned nothing (a 429 in one test must not pause the next)."""
    from volley.engine import limits

    limits.reset()
