"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from volley.testing import FakeServer

# Lanes remembered on disk would carry a lane's state from one test (or xdist worker) to another:
# off for the suite; tests/test_lane_memory.py turns it on with a directory of its own.
os.environ["VOLLEY_LANE_MEMORY"] = "0"


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
    from volley.prepare import _MEMO

    limits.reset()
    _MEMO.clear()  # a test that patches volley's internals gets templates built with its patches


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real redis-server on a free loopback port for this test process (skipped if it is not installed)."""
    from _redis_server import RedisServer

    try:
        server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    except FileNotFoundError as exc:
        if os.environ.get("CI"):  # .ci/run installs it: missing there is a failure, not a skip
            raise
        pytest.skip(str(exc))
    yield server
    server.kill()


@pytest.fixture
def redis_url(redis_server: object) -> str:
    """The session's redis-server, emptied: its URL."""
    redis_server.flush()  # type: ignore[attr-defined]
    return redis_server.url  # type: ignore[attr-defined]
