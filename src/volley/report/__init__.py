"""HTML reports: one self-contained page per ``volley run`` (``volley report OUT``), and ``volley compare``'s.

Charts are drawn by plotly (``pip install 'volley-llm[report]'``), its JavaScript inlined, so the
page opens with no network.

Example::

    from volley.report import write_report
    write_report("answers.jsonl", "report.html")
"""

from __future__ import annotations

from .compare import render_compare, write_compare_report
from .data import RunData, load_run
from .run import render, write_report

__all__ = ["RunData", "load_run", "render", "render_compare", "write_compare_report", "write_report"]
