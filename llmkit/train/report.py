"""``report.html``: a run's curves, metrics, recipe, data summary and sample predictions on one page.

Built from what the run directory already holds (``metrics.jsonl``, ``metrics.json``, ``run.json``,
``recipe.yaml``), so ``llmkit report RUN`` can rebuild it at any time. Plots are PNG files in
``report/`` made with matplotlib (the optional extra ``llmkit[report]``); without matplotlib the page
is still written, with tables only.
"""

from __future__ import annotations

import html
import json
import logging
import math
from pathlib import Path
from typing import Any

from llmkit.errors import ModelError
from llmkit.train.rundir import METRICS_FILE, RECIPE_FILE, RUN_FILE, read_json

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
PLOTS_DIR = "report"
SKIP_CURVES = ("runtime", "samples_per_second", "steps_per_second", "tokens_per_second", "epoch", "step", "time")

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1f2328; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; border-bottom: 1px solid #d0d7de;
       padding-bottom: .3rem; margin-top: 2rem; }
.sub { color: #59636e; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; } .plots figure { margin: 0; }
.plots img { width: 520px; border: 1px solid #d0d7de; } figcaption { color: #59636e; font-size: .85rem; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; font-size: .85rem; border-radius: 6px; }
.status-finished { color: #1a7f37; } .status-failed, .status-diverged { color: #cf222e; }
.status-interrupted, .status-running { color: #9a6700; }
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _table(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    if not rows:
        return "<p>none</p>"
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            value = row.get(c, "")
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cells.append(f"<td{' class=num' if numeric else ''}>{html.escape(_fmt(value))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def curves(rows: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """Series to plot, name -> [(step, value)]: training loss, learning rate, every evaluation metric."""
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        if row.get("kind") not in ("train", "eval"):
            continue
        for key, value in row.items():
            if key in ("kind",) or key.endswith(SKIP_CURVES) or not isinstance(value, int | float):
                continue
            if isinstance(value, bool):
                continue
            name = key if row["kind"] == "eval" else f"train_{key}" if key in ("loss", "grad_norm") else key
            series.setdefault(name, []).append((int(row.get("step", 0)), float(value)))
    return series


def finite_points(points: list[tuple[int, float]]) -> tuple[list[tuple[int, float]], int]:
    """The points a plot can draw (finite values) and how many were left out (inf, nan, or past float32)."""
    kept = [(step, value) for step, value in points if math.isfinite(value) and abs(value) < 1e38]
    return kept, len(points) - len(kept)


def _plot(series: dict[str, list[tuple[int, float]]], folder: Path) -> list[tuple[str, str]]:
    """One PNG per series group; returns (file name, caption) pairs. Empty when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed (pip install 'llmkit[report]'): report.html has no plots")
        return []
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    groups: dict[str, list[str]] = {}
    if "train_loss" in series or "eval_loss" in series:
        groups["loss"] = [n for n in ("train_loss", "eval_loss") if n in series]
    for name in series:
        if name not in groups.get("loss", []):
            groups[name] = [name]
    made = []
    for group, names in groups.items():
        drawn = {name: finite_points(series[name]) for name in names}
        names = [name for name in names if drawn[name][0]]
        if not names:
            continue  # nothing finite to draw: the tables still show the values
        left_out = sum(drawn[name][1] for name in names)
        fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=100)
        for name in names:
            steps, values = zip(*drawn[name][0], strict=True)
            ax.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3, label=name)
        ax.set_xlabel("step")
        ax.set_title(group.replace("_", " "))
        ax.grid(True, alpha=0.3)
        if len(names) > 1:
            ax.legend()
        fig.tight_layout()
        file_name = f"{group.replace('/', '_')}.png"  # TRL's metric names hold a slash: rewards/margins
        fig.savefig(folder / file_name)
        plt.close(fig)
        note = f" ({left_out} non-finite or overflowing value(s) not drawn)" if left_out else ""
        made.append((file_name, f"{', '.join(names)} against optimizer step{note}"))
    return made


def build_report(run_dir: str | Path) -> Path:
    """Write ``report.html`` (and its PNG plots) into a run directory and return its path."""
    from llmkit.train.runlog import read_metrics_log

    run_dir = Path(run_dir)
    record = read_json(run_dir / RUN_FILE)
    if not record:
        raise ModelError(f"{run_dir}: not an llmkit run directory (no {RUN_FILE})")
    metrics = read_json(run_dir / METRICS_FILE)
    log_rows = read_metrics_log(run_dir)
    plots = _plot(curves(log_rows), run_dir / PLOTS_DIR)
    recipe_text = (run_dir / RECIPE_FILE).read_text(encoding="utf-8") if (run_dir / RECIPE_FILE).is_file() else ""

    status = str(record.get("status", "unknown"))
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>llmkit run {html.escape(run_dir.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(run_dir.name)}: {html.escape(str(record.get('task', '')))} · "
        f"{html.escape(str(record.get('model', '')))}</h1>",
        f"<p class=sub>status <b class='status-{html.escape(status)}'>{html.escape(status)}</b> · started "
        f"{html.escape(str(record.get('started', '')))} · ended {html.escape(str(record.get('ended', '')))} · "
        f"llmkit {html.escape(str(record.get('llmkit_version', '')))}</p>",
    ]
    splits = {k: v for k, v in metrics.items() if k in ("train", "validation", "test") and isinstance(v, dict)}
    if splits:
        keys = list(dict.fromkeys(k for v in splits.values() for k in v if not k.endswith(SKIP_CURVES[:4])))
        rows = [{"metric": k, **{s: v.get(k, "") for s, v in splits.items()}} for k in keys]
        parts += ["<h2>Metrics</h2>", _table(rows, ["metric", *splits])]
    summary = metrics.get("summary") or {}
    if summary:
        parts += ["<h2>Run summary</h2>", _table([{"field": k, "value": v} for k, v in summary.items()])]
    if plots:
        figures = "".join(
            f"<figure><img src='{PLOTS_DIR}/{html.escape(name)}' alt='{html.escape(caption)}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            for name, caption in plots
        )
        parts += ["<h2>Curves</h2>", f"<div class=plots>{figures}</div>"]
    for split, tables in (metrics.get("tables") or {}).items():
        for name, rows in tables.items():
            parts += [f"<h2>{html.escape(name.replace('_', ' ').title())} ({html.escape(split)})</h2>", _table(rows)]
    data = metrics.get("data") or {}
    if data:
        shown = [{"field": k, "value": v} for k, v in data.items() if k != "labels"]
        parts += ["<h2>Data</h2>", _table(shown)]
    for split, rows in (metrics.get("samples") or {}).items():
        parts += [f"<h2>Sample predictions ({html.escape(split)})</h2>", _table(rows)]
    facts = {k: record.get(k) for k in ("command", "argv", "world_size", "resumes", "versions", "environment")}
    parts += [
        "<h2>Reproducibility</h2>",
        _table([{"field": k, "value": v} for k, v in facts.items() if v not in (None, [], {})]),
        "<h2>Recipe</h2>",
        f"<pre>{html.escape(recipe_text)}</pre>",
        "</body></html>",
    ]
    target = run_dir / REPORT_FILE
    target.write_text("\n".join(parts), encoding="utf-8")
    return target
