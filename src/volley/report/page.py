"""One self-contained HTML page: summary cards, plotly charts (plotly.js inlined once) and escaped tables.

Nothing on the page loads from the network: plotly's JavaScript is embedded by the first chart
(``include_plotlyjs=True``), there are no web fonts, images or links to load. Every text from the
data is HTML-escaped here; plotly escapes what goes into its figures' JSON.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._optional import need

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
header{background:#264653;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}main{padding:18px 28px;max-width:1400px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin-bottom:18px}
.card{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px #0002}
.card b{display:block;font-size:20px}.card span{color:#5b6573;font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:14px}
section{background:#fff;border-radius:8px;padding:12px 14px;box-shadow:0 1px 2px #0002;margin-bottom:14px;
overflow-x:auto}section h2{font-size:16px;margin:2px 0 8px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 8px;
border-bottom:1px solid #e3e6ea;vertical-align:top}th{background:#f0f2f5}td.num{text-align:right;
font-variant-numeric:tabular-nums}td.msg{max-width:640px;white-space:pre-wrap;word-break:break-word}
.answer{white-space:pre-wrap;word-break:break-word;max-height:420px;overflow:auto;background:#f8f9fb;
padding:8px;border-radius:6px}.none{color:#5b6573;font-style:italic}
"""


@dataclass
class Page:
    """A page being built: ``add_chart``, ``add_table``, ``add_html``, then :meth:`render`."""

    title: str
    subtitle: str = ""
    cards: list[tuple[str, str]] = field(default_factory=list)
    _parts: list[str] = field(default_factory=list)
    _charts: int = 0

    def card(self, label: str, value: str) -> None:
        """A summary number at the top."""
        self.cards.append((label, value))

    def add_chart(self, fig: Any, chart_id: str, *, empty: str = "nothing to show") -> None:
        """A plotly figure in its own section (or ``empty`` when ``fig`` is None)."""
        if fig is None:
            self._parts.append(f'<section id="{chart_id}"><p class="none">{html.escape(empty)}</p></section>')
            return
        pio = need("plotly.io", extra="report", purpose="writing the report", package="plotly")
        div = pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=self._charts == 0,
            div_id=chart_id,
            config={"displaylogo": False, "responsive": True},
            default_height="360px",
        )
        self._charts += 1
        self._parts.append(f'<section class="chart" data-chart="{chart_id}">{div}</section>')

    def add_table(
        self,
        title: str,
        headers: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        table_id: str,
        empty: str = "none",
        numeric: Sequence[int] = (),
    ) -> None:
        """An escaped HTML table; ``numeric``: indexes of right-aligned columns."""
        body = "".join(
            "<tr>" + "".join(_td(v, i in numeric, i == len(headers) - 1) for i, v in enumerate(r)) + "</tr>"
            for r in rows
        )
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        inner = (
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            if rows
            else (f'<p class="none">{html.escape(empty)}</p>')
        )
        self._parts.append(f'<section id="{table_id}"><h2>{html.escape(title)}</h2>{inner}</section>')

    def add_html(self, fragment: str) -> None:
        """Raw HTML, already escaped by the caller."""
        self._parts.append(fragment)

    def open_grid(self) -> None:
        self._parts.append('<div class="grid">')

    def close_grid(self) -> None:
        self._parts.append("</div>")

    def render(self) -> str:
        """The whole page."""
        cards = "".join(
            f'<div class="card"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>' for k, v in self.cards
        )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(self.title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{html.escape(self.title)}</h1><p>{html.escape(self.subtitle)}</p></header>"
            f'<main><div class="cards" id="summary">{cards}</div>{"".join(self._parts)}</main>{_RESIZE}</body></html>\n'
        )


# Charts are laid out as the page is parsed; once it is complete, fit each to its final box.
_RESIZE = (
    "<script>window.addEventListener('load',function(){if(window.Plotly){document.querySelectorAll("
    "'.plotly-graph-div').forEach(function(d){Plotly.Plots.resize(d);});}});</script>"
)


def _td(value: Any, numeric: bool, last: bool) -> str:
    text = "" if value is None else str(value)
    cls = ' class="num"' if numeric else (' class="msg"' if last else "")
    return f"<td{cls}>{html.escape(text)}</td>"


def money(x: float | None) -> str:
    """``$0.0123`` (more digits for small amounts); ``n/a`` for None."""
    if x is None:
        return "n/a"
    return f"${x:.4f}" if abs(x) >= 0.01 or x == 0 else f"${x:.6f}"


def seconds(x: float | None) -> str:
    """``0.123 s`` / ``2.5 min`` / ``1.2 h``; ``-`` for None."""
    if x is None:
        return "-"
    if x < 120:
        return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"
    return f"{x / 60:.1f} min" if x < 7200 else f"{x / 3600:.1f} h"


def count(n: float) -> str:
    """``1,234`` (an int with thousands separators)."""
    return f"{int(n):,}"
