"""Progress of a batch: counters, an optional ``on_result`` callback, and an optional live display.

The display uses ``rich`` when it is installed (``pip install 'volley-llm[progress]'``) and falls
back to one self-updating line. Either way it goes to stderr, so a program's stdout (``--json``)
stays clean, and it is redrawn once more when the batch ends (also in Jupyter, where rich's own
stop skips that last redraw).
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

OnResult = Callable[[int, Any], None]


@dataclass
class Stats:
    """What a run did so far."""

    total: int | None = None
    done: int = 0
    failed: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def rate(self) -> float:
        """Finished items per second."""
        elapsed = time.monotonic() - self.started
        return self.finished / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, when the total is known."""
        if self.total is None or not self.rate:
            return None
        return max(0.0, (self.total - self.finished) / self.rate)


class Progress:
    """Counts results and retries; shows them when ``show`` is set; forwards each result to ``on_result``."""

    def __init__(
        self, total: int | None, *, show: bool = False, on_result: OnResult | None = None, label: str = ""
    ) -> None:
        self.stats = Stats(total=total)
        self._on_result = on_result
        self._view: _RichView | _LineView | None = None
        self._drawn = 0.0  # when the view was last redrawn (at most ten times a second)
        if show:
            try:
                self._view = _RichView(label, total)
            except ImportError:
                self._view = _LineView(label)

    def retry(self, exc: BaseException, attempt: int, wait: float) -> None:
        """``on_retry`` hook of the retry loop."""
        self.stats.retries += 1

    def result(self, index: int, result: Any) -> None:
        s = self.stats
        if isinstance(result, BaseException):
            s.failed += 1
            s.errors[type(result).__name__] += 1
        else:
            s.done += 1
            usage = getattr(result, "usage", None)
            if usage is not None:
                s.prompt_tokens += usage.prompt_tokens or 0
                s.completion_tokens += usage.completion_tokens or 0
        if self._on_result is not None:
            self._on_result(index, result)
        now = time.monotonic()
        if self._view is not None and now - self._drawn >= 0.1:
            self._drawn = now
            self._view.update(s)

    def close(self) -> None:
        if self._view is not None:
            self._view.update(self.stats)
            self._view.close()
            self._view = None


def _fmt_eta(eta: float | None) -> str:
    if eta is None:
        return "--:--"
    m, sec = divmod(int(eta), 60)
    return f"{m:02d}:{sec:02d}" if m < 60 else f"{m // 60}h{m % 60:02d}m"


def _summary(s: Stats) -> str:
    tokens = s.prompt_tokens + s.completion_tokens
    return (
        f"done {s.done}  failed {s.failed}  retries {s.retries}  tokens {tokens:,}  "
        f"{s.rate:.1f} req/s  ETA {_fmt_eta(s.eta)}"
    )


class _LineView:
    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr

    def update(self, s: Stats) -> None:
        total = f"/{s.total}" if s.total is not None else ""
        self.stream.write(f"\r{self.label} {s.finished}{total}  {_summary(s)}  ")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


class _RichView:
    def __init__(self, label: str, total: int | None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Column

        count = 2 * len(str(total or 0)) + 1
        # Narrow terminals cut the counters' text, never the count or the bar.
        self._progress = Progress(
            TextColumn(
                "[bold]{task.description}", table_column=Column(max_width=30, no_wrap=True, overflow="ellipsis")
            ),
            BarColumn(bar_width=None, table_column=Column(ratio=1, max_width=40)),
            MofNCompleteColumn(table_column=Column(no_wrap=True, min_width=count)),
            TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
            TextColumn("{task.fields[info]}", table_column=Column(ratio=3, no_wrap=True, overflow="ellipsis")),
            console=Console(stderr=True),
            transient=False,
            expand=True,
        )
        self._task = self._progress.add_task(label or "volley", total=total, info="")
        self._progress.start()

    def update(self, s: Stats) -> None:
        self._progress.update(self._task, completed=s.finished, info=_summary(s))

    def close(self) -> None:
        self._progress.refresh()  # the final state, drawn even where stop() would not (Jupyter)
        self._progress.stop()
