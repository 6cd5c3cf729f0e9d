"""The report's charts, drawn by plotly (``pip install 'volley-llm[report]'``): one function per chart.

Each returns a ``plotly.graph_objects.Figure``, or None when there is nothing to draw (no errors,
no latencies). Only aggregates and model / error-type names go into the charts; per-item text
(ids, messages) goes into the page's escaped HTML tables.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._optional import need
from .data import RunData

_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)
MAX_BINS = 60
MAX_POINTS = 2000  # points per cumulative line
COLORS = {
    "done": "#2a9d8f",
    "failed": "#e76f51",
    "invalid": "#f4a261",
    "cached": "#8ab17d",
    "prompt": "#264653",
    "completion": "#e9c46a",
    "cost": "#6d597a",
    "latency": "#457b9d",
}


def go() -> Any:
    """``plotly.graph_objects``, or a clear error naming the extra."""
    return need("plotly.graph_objects", extra="report", purpose="drawing the report's charts", package="plotly")


def _layout(fig: Any, title: str, **more: Any) -> Any:
    layout = {
        "title": {"text": title, "x": 0.01},
        "template": "plotly_white",
        "height": 360,
        "margin": {"l": 60, "r": 30, "t": 50, "b": 60},
        "legend": {"orientation": "h", "y": -0.3},
    }
    fig.update_layout(**{**layout, **more})
    return fig


def bin_width(span_s: float) -> int:
    """A round bin width (seconds) giving at most :data:`MAX_BINS` bins over ``span_s``."""
    return next((s for s in _STEPS if span_s / s <= MAX_BINS), math.ceil(span_s / MAX_BINS))


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t).isoformat(timespec="milliseconds")


def progress(run: RunData) -> Any:
    """Items finished over time (cumulative, by outcome) and throughput (items per second per bin)."""
    g = go()
    fig = g.Figure()
    finished = run.finished
    total = len(run.items)
    if finished:
        for state in ("done", "failed", "invalid"):
            times = [i.updated or 0.0 for i in finished if i.state == state]
            step = max(1, math.ceil(len(times) / MAX_POINTS))  # a long job: every step-th point, and the last
            keep = [*range(0, len(times), step), *([len(times) - 1] if (len(times) - 1) % step else [])]
            xs, ys = [_when(times[k]) for k in keep], [k + 1 for k in keep]
            if xs:
                fig.add_trace(
                    g.Scatter(
                        x=xs,
                        y=ys,
                        mode="lines",
                        name=f"{state} (cumulative)",
                        line={"shape": "hv", "color": COLORS[state]},
                    )
                )
        start, end = run.span() or (0.0, 0.0)
        width = bin_width(max(end - start, 1.0))
        bins = Counter(int(((i.updated or start) - start) // width) for i in finished)
        last = max(bins)
        fig.add_trace(
            g.Bar(
                x=[_when(start + (b + 0.5) * width) for b in range(last + 1)],
                y=[bins.get(b, 0) / width for b in range(last + 1)],
                name=f"items/s ({width} s bins)",
                yaxis="y2",
                marker={"color": "#a8dadc"},
                opacity=0.6,
            )
        )
    _layout(
        fig,
        f"Progress: {len(finished)} of {total} items finished",
        yaxis={"title": "items finished", "rangemode": "tozero"},
        yaxis2={"title": "items / s", "overlaying": "y", "side": "right", "rangemode": "tozero", "showgrid": False},
        xaxis={"title": "time (local)"},
    )
    return fig


def latency(run: RunData) -> Any | None:
    """Histogram of request latency with the p50 / p95 / p99 lines."""
    lat = run.latencies
    if not lat:
        return None
    g = go()
    n_bins = min(60, max(10, len(lat) // 5))
    width = (max(lat) or 1.0) / n_bins
    counts = Counter(min(int(v / width), n_bins - 1) for v in lat)  # binned here: the page holds 60 bars, not 1M values
    fig = g.Figure(
        g.Bar(
            x=[(b + 0.5) * width for b in range(n_bins)],
            y=[counts.get(b, 0) for b in range(n_bins)],
            width=width * 0.95,
            customdata=[[b * width, (b + 1) * width] for b in range(n_bins)],
            hovertemplate="%{customdata[0]:.3f}-%{customdata[1]:.3f} s: %{y} requests<extra></extra>",
            name="requests",
            marker={"color": COLORS["latency"]},
        )
    )
    for k, v in run.latency_percentiles().items():
        if v is not None:
            fig.add_vline(
                x=v,
                line_dash="dash",
                line_color="#e63946",
                annotation_text=f"{k} {v:.3f} s",
                annotation_position="top right",
            )
    return _layout(
        fig,
        f"Latency of {len(lat)} requests",
        xaxis={"title": "seconds", "rangemode": "tozero"},
        yaxis={"title": "requests"},
    )


def tokens_by_model(models: dict[str, dict[str, float]]) -> Any:
    """Stacked bars: prompt tokens (uncached, cached) and completion tokens per model."""
    g = go()
    names = list(models)
    fig = g.Figure()
    parts: tuple[tuple[str, Callable[[dict[str, float]], float], str], ...] = (
        ("prompt (uncached)", lambda m: m["prompt"] - m["cached"], "prompt"),
        ("prompt (cached)", lambda m: m["cached"], "cached"),
        ("completion", lambda m: m["completion"], "completion"),
    )
    for label, value, color in parts:
        fig.add_trace(g.Bar(x=names, y=[value(models[n]) for n in names], name=label, marker={"color": COLORS[color]}))
    return _layout(fig, "Tokens by model", barmode="stack", yaxis={"title": "tokens"})


def cost_by_model(models: dict[str, dict[str, float]]) -> Any:
    """Bars: USD per model, labelled with the cost per item."""
    g = go()
    names = list(models)
    costs = [models[n]["cost"] for n in names]
    labels = [f"${c:.4f} (${c / max(models[n]['items'], 1):.6f}/item)" for n, c in zip(names, costs)]
    fig = g.Figure(
        g.Bar(x=names, y=costs, text=labels, textposition="auto", marker={"color": COLORS["cost"]}, name="cost")
    )
    return _layout(fig, "Cost by model (USD)", yaxis={"title": "USD", "rangemode": "tozero"})


def errors(groups: Mapping[str, Sequence[Any]]) -> Any | None:
    """Horizontal bars: failed and invalid items per error type."""
    if not groups:
        return None
    g = go()
    names = list(groups)[::-1]
    fig = g.Figure(
        g.Bar(
            x=[len(groups[n]) for n in names],
            y=names,
            orientation="h",
            marker={"color": COLORS["failed"]},
            name="items",
        )
    )
    most = max(len(v) for v in groups.values())
    axis = {"title": "items", "rangemode": "tozero", **({"dtick": 1} if most <= 10 else {})}
    return _layout(fig, "Errors by type", xaxis=axis, height=max(220, 60 + 40 * len(names)))


def compare_bars(rows: Sequence[dict[str, Any]], key: str, title: str, axis: str) -> Any:
    """One bar per model of ``row[key]`` (``volley compare`` rows); failed models get no bar."""
    g = go()
    ok = [r for r in rows if r.get("ok") and r.get(key) is not None]
    fig = g.Figure(
        g.Bar(x=[r["model"] for r in ok], y=[r[key] for r in ok], marker={"color": COLORS["latency"]}, name=key)
    )
    return _layout(fig, title, yaxis={"title": axis, "rangemode": "tozero"}, height=300)
