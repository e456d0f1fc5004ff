"""The curves of report.html: series from ``metrics.jsonl``, related ones on one chart, drawn inline as SVG.

Charts are embedded as ``data:`` URIs, so the page works when copied or mailed alone. Grouping is generic:
every loss on one chart, every evaluation score on a 0-1 scale on another, anything else alone; a series
that never changes is named under the charts instead of drawn as a flat line.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

SKIP_CURVES = ("runtime", "samples_per_second", "steps_per_second", "tokens_per_second", "epoch", "step", "time")
Series = dict[str, list[tuple[int, float]]]


@dataclass
class Chart:
    """One drawn chart: its title, y-axis label, the series on it, and the inline image."""

    title: str
    ylabel: str
    names: list[str]
    image: str = ""  # data: URI
    left_out: int = 0  # non-finite points not drawn


@dataclass
class Charts:
    """The report's charts and the series left undrawn because they never changed (name -> value)."""

    charts: list[Chart] = field(default_factory=list)
    constant: dict[str, float] = field(default_factory=dict)


def curves(rows: list[dict[str, Any]]) -> Series:
    """Series to plot, name -> [(step, value)]: training loss, learning rate, every evaluation metric."""
    series: Series = {}
    for row in rows:
        if row.get("kind") not in ("train", "eval"):
            continue
        for key, value in row.items():
            if key == "kind" or key.endswith(SKIP_CURVES) or isinstance(value, bool):
                continue
            if not isinstance(value, int | float):
                continue
            name = key if row["kind"] == "eval" else f"train_{key}" if key in ("loss", "grad_norm") else key
            series.setdefault(name, []).append((int(row.get("step", 0)), float(value)))
    return series


def finite_points(points: list[tuple[int, float]]) -> tuple[list[tuple[int, float]], int]:
    """The points a plot can draw (finite values) and how many were left out (inf, nan, or past float32)."""
    kept = [(step, value) for step, value in points if math.isfinite(value) and abs(value) < 1e38]
    return kept, len(points) - len(kept)


def group(series: Series) -> tuple[list[Chart], dict[str, float]]:
    """Charts to draw (losses together, 0-1 scores together, the rest alone) and the constant series."""
    constant: dict[str, float] = {}
    drawable: dict[str, list[tuple[int, float]]] = {}
    for name, points in series.items():
        kept, _ = finite_points(points)
        values = {value for _, value in kept}
        if len(values) == 1 and len(kept) > 1:
            constant[name] = kept[0][1]
        elif kept:
            drawable[name] = kept
    losses = [n for n in drawable if "loss" in n]
    scores = [
        n for n in drawable if n.startswith("eval_") and n not in losses and all(0 <= v <= 1 for _, v in drawable[n])
    ]
    charts = []
    if losses:
        charts.append(Chart("losses", "loss", losses))
    if scores:
        charts.append(Chart("evaluation scores", "score (0-1)", scores))
    for name in drawable:
        if name not in losses and name not in scores:
            charts.append(Chart(name.replace("_", " "), name.removeprefix("eval_").replace("_", " "), [name]))
    return charts, constant


def draw(series: Series) -> Charts:
    """Every chart drawn as an inline SVG; no images (tables only) when matplotlib is missing."""
    charts, constant = group(series)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        log.warning("matplotlib is not installed (pip install 'llmkit[report]'): report.html has no plots")
        return Charts([], constant)
    with matplotlib.rc_context({"svg.fonttype": "none", "font.size": 9}):
        for chart in charts:
            fig, ax = plt.subplots(figsize=(5.4, 3.0))
            for i, name in enumerate(chart.names):
                kept, left_out = finite_points(series[name])
                chart.left_out += left_out
                steps, values = zip(*kept, strict=True)
                marker = "os^dv"[i % 5] if len(steps) < 30 else None
                # Line styles differ so that equal series (macro recall = accuracy on balanced data) stay visible.
                style = ("-", "--", "-.", ":")[i % 4]
                ax.plot(steps, values, marker=marker, markersize=3, linestyle=style, label=name)
            ax.set_xlabel("optimizer step")
            ax.set_ylabel(chart.ylabel)
            ax.set_title(chart.title)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.grid(True, alpha=0.3)
            if len(chart.names) > 1:
                ax.legend(fontsize=8)
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="svg")
            plt.close(fig)
            chart.image = "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return Charts(charts, constant)
