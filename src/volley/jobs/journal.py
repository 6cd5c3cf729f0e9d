"""The job journal: a SQLite file next to the output that makes ``volley run`` resumable.

One row per input item (a line, or a table row): its state, how many times it was sent, and, once
finished, its output line and what it cost. States::

    pending ──> done
       │   └──> failed ──(rerun, unless --no-retry-failed)──> pending
       └── (interrupted, crashed, or not sent because of the budget: stays pending)
    invalid   a malformed input line, or one whose request cannot be built; final, with its error line
    in_flight only in journals of older volley versions (pending again on resume)

An item being sent stays ``pending``: nothing is written when it goes out, so a crash re-sends
exactly the items that had no committed result. Results are committed in batches: :meth:`Journal.record`
writes every result that is ready at once in one transaction (not one or two per item).

Crash safety: a result is committed here *before* its output line is written, and every run first
rewrites the output file from the journal (atomically, via a temporary file), so a line that was
torn, lost or duplicated by a crash cannot survive. An item committed as finished is never sent
again. WAL mode; ``synchronous=NORMAL`` survives a killed process (not a power cut, which may lose
the last few results: they are then sent again). The file and its ``-wal`` / ``-shm`` are created 0600.

``meta`` holds the schema version, the input's size and SHA-256, and the settings that shape the
answers (model, parameters, api_base; never a key). Room for later: a ``batches`` table for
provider batch ids (schema version 2) can be added by a migration in ``_migrate``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import ensure_private, replace_private

SCHEMA_VERSION = 1
STATES = ("pending", "in_flight", "done", "failed", "invalid")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    line INTEGER PRIMARY KEY,          -- 1-based line number in the input file
    custom_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    seq INTEGER,                       -- position of the output line in the output file
    output TEXT,                       -- the output line (JSON), once finished
    error_type TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    latency_s REAL,
    cache_hit INTEGER NOT NULL DEFAULT 0,
    updated REAL
);
CREATE INDEX IF NOT EXISTS items_state ON items (state);
"""


@dataclass(slots=True)
class Outcome:
    """One item's result, as :meth:`Journal.record` commits it: ``state`` is ``done``, ``failed`` or
    ``invalid``, with its output line; ``attempts`` is added to the item's count."""

    line: int
    state: str
    output: str
    attempts: int = 0
    error_type: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None
    cache_hit: bool = False


_RECORD = (
    "UPDATE items SET state = ?, seq = ?, output = ?, attempts = attempts + ?, error_type = ?,"
    " prompt_tokens = ?, completion_tokens = ?, cost_usd = ?, latency_s = ?, cache_hit = ?, updated = ?"
    " WHERE line = ?"
)


def default_path(output: str | os.PathLike[str]) -> Path:
    """``OUTPUT.jsonl`` → ``OUTPUT.jsonl.journal.sqlite``."""
    return Path(str(output) + ".journal.sqlite")


def remove(path: str | os.PathLike[str]) -> None:
    """Delete a journal and its WAL side files."""
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(str(path) + suffix)
        except FileNotFoundError:
            pass


class Journal:
    """An open journal. ``Journal(path)`` creates the file; :meth:`initialised` tells whether a job is in it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        ensure_private(self.path)  # 0600, and so are its -wal and -shm files
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._seq = 0

    # ------------------------------------------------------------------ setup

    def initialised(self) -> bool:
        """True when a job was created in this file (a crash while creating it leaves it uninitialised)."""
        try:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:
            return False
        return row is not None

    def create(self, meta: dict[str, Any], rows: Iterable[tuple[int, str, str | None, str | None]]) -> None:
        """Start a job: ``meta`` and one ``(line, custom_id, output or None, error_type)`` row per item.

        Rows with an output are ``invalid`` (malformed lines, finished at once); the rest ``pending``.
        All in one transaction: a crash here leaves no job behind.
        """
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute("DELETE FROM meta")
            db.execute("DELETE FROM items")
            now = time.time()
            seq = 0
            batch: list[tuple[Any, ...]] = []
            for line, custom_id, output, error_type in rows:
                if output is None:
                    batch.append((line, custom_id, "pending", None, None, None, now))
                else:
                    seq += 1
                    batch.append((line, custom_id, "invalid", seq, output, error_type, now))
                if len(batch) >= 5000:
                    self._insert(batch)
                    batch = []
            self._insert(batch)
            full = {**meta, "schema_version": SCHEMA_VERSION, "created": now}
            db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in full.items()])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._seq = seq

    def _insert(self, batch: list[tuple[Any, ...]]) -> None:
        self.db.executemany(
            "INSERT INTO items (line, custom_id, state, seq, output, error_type, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
            batch,
        )

    def meta(self) -> dict[str, Any]:
        """The job's metadata (schema version, input digest, settings...)."""
        return {k: json.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta")}

    def set_meta(self, key: str, value: Any) -> None:
        """Store one metadata value (JSON), committed at once (e.g. the ids of submitted provider batches)."""
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def resume(self, *, retry_failed: bool) -> None:
        """Make unfinished items pending again: in-flight ones, and failed ones when ``retry_failed``."""
        self._migrate()
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        db.execute("UPDATE items SET state = 'pending' WHERE state = 'in_flight'")
        if retry_failed:
            db.execute("UPDATE items SET state = 'pending', seq = NULL, output = NULL WHERE state = 'failed'")
        db.execute("COMMIT")
        self._seq = int(db.execute("SELECT COALESCE(MAX(seq), 0) FROM items").fetchone()[0])

    def _migrate(self) -> None:
        version = int(self.meta().get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} was written by a newer volley (journal schema {version}); upgrade volley to resume it"
            )

    # ------------------------------------------------------------------ running

    def pending_lines(self) -> set[int]:
        """Line numbers of the items still to send."""
        return {r[0] for r in self.db.execute("SELECT line FROM items WHERE state = 'pending'")}

    def record(self, outcomes: Sequence[Outcome]) -> None:
        """Commit results, all in one transaction; only then may their output lines be written.

        On an error (a full disk) nothing of the batch is committed and the error is raised.
        """
        if not outcomes:
            return
        now = time.time()
        seq = self._seq
        rows = []
        for o in outcomes:
            seq += 1
            rows.append((o.state, seq, o.output, o.attempts, o.error_type, o.prompt_tokens, o.completion_tokens,
                         o.cost_usd, o.latency_s, int(o.cache_hit), now, o.line))  # fmt: skip
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(_RECORD, rows)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self._seq = seq

    def finish(
        self,
        line: int,
        *,
        ok: bool,
        output: str,
        attempts: int,
        error_type: str | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cost_usd: float | None = None,
        latency_s: float | None = None,
        cache_hit: bool = False,
    ) -> None:
        """Commit one item's result (see :meth:`record`)."""
        state = "done" if ok else "failed"
        self.record([Outcome(line, state, output, attempts, error_type, prompt_tokens, completion_tokens, cost_usd,
                             latency_s, cache_hit)])  # fmt: skip

    def mark_invalid(self, line: int, *, output: str) -> None:
        """Finish an item whose request cannot be built (final, like a malformed line)."""
        self.record([Outcome(line, "invalid", output, error_type="invalid_request")])

    # ------------------------------------------------------------------ reading

    def outputs(self) -> Iterator[str]:
        """Every finished item's output line, in output order."""
        yield from (r[0] for r in self.db.execute("SELECT output FROM items WHERE output IS NOT NULL ORDER BY seq"))

    def counts(self) -> Counter[str]:
        """Items per state."""
        return Counter({s: n for s, n in self.db.execute("SELECT state, COUNT(*) FROM items GROUP BY state")})

    def errors(self) -> Counter[str]:
        """Failed items per error type (exception class name)."""
        rows = self.db.execute(
            "SELECT COALESCE(error_type, 'unknown'), COUNT(*) FROM items WHERE state = 'failed' GROUP BY 1"
        )
        return Counter(dict(rows.fetchall()))

    def spent(self) -> float:
        """USD spent on the job's finished items, over every run (cache hits cost 0)."""
        return float(self.db.execute("SELECT COALESCE(SUM(cost_usd), 0) FROM items").fetchone()[0])

    def close(self) -> None:
        self.db.close()


def rewrite_output(journal: Journal, output: str | os.PathLike[str]) -> int:
    """Replace ``output`` with exactly the journal's finished lines (atomic: temp file, fsync, rename).

    Returns the number of lines written. This repairs whatever a crash left: a torn last line, a
    result committed but never written, or a line written twice.
    """
    n = 0
    with replace_private(output, "w", encoding="utf-8", newline="\n") as f:
        for line in journal.outputs():
            f.write(line if line.endswith("\n") else line + "\n")
            n += 1
    return n


def unfinished_lines(path: str | os.PathLike[str], *, retry_failed: bool, digest: str | None = None) -> set[int] | None:
    """The items a resume of the journal at ``path`` would send, read without writing anything; None when
    there is no readable journal there (or, with ``digest``, when it is another input's journal)."""
    p = Path(path)
    if not p.is_file():
        return None
    states = ("pending", "in_flight", "failed") if retry_failed else ("pending", "in_flight")
    try:
        db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
    except sqlite3.Error:
        return None
    try:
        if digest is not None:
            row = db.execute("SELECT value FROM meta WHERE key = 'input_sha256'").fetchone()
            if row is None or json.loads(row[0]) != digest:
                return None
        marks = ", ".join("?" * len(states))
        return {r[0] for r in db.execute(f"SELECT line FROM items WHERE state IN ({marks})", states)}
    except sqlite3.Error:
        return None
    finally:
        db.close()
