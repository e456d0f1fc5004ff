"""``report.html``: a run's curves, metrics, data, predictions and mistakes on one self-contained page.

Built from what the run directory already holds (``metrics.jsonl``, ``metrics.json``, ``run.json``,
``recipe.yaml``), so ``llmkit report RUN`` can rebuild it at any time. The page needs nothing beside it:
charts are inline SVG (matplotlib, the optional extra ``llmkit[report]``; without it the page has tables
only), styles are inline, and nothing is fetched from the network. Numbers are written by kind
(``report_format``); curves are grouped and drawn by ``report_plots``.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from llmkit.errors import ModelError
from llmkit.train.report_format import confusion_table, fields_table, format_value, percent, table
from llmkit.train.report_plots import SKIP_CURVES, Charts, curves, draw, finite_points
from llmkit.train.review import mistakes
from llmkit.train.rundir import METRICS_FILE, RECIPE_FILE, RUN_FILE, read_json

__all__ = ["REPORT_FILE", "SKIP_CURVES", "build_report", "curves", "finite_points"]

REPORT_FILE = "report.html"
SPLITS = ("train", "validation", "test")
TIMINGS = ("runtime", "samples_per_second", "steps_per_second", "tokens_per_second")

STYLE = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 1.5rem auto; max-width: 1150px;
       color: #1f2328; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; border-bottom: 1px solid #d0d7de;
       padding-bottom: .3rem; margin-top: 1.8rem; } h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
.sub { color: #59636e; margin-top: 0; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .85rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .55rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.bad { color: #cf222e; font-weight: 600; }
table.fields th { width: 14rem; } table.confusion td { min-width: 2.5rem; text-align: center; }
.row { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: flex-start; } .row > div { min-width: 0; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; } .plots figure { margin: 0; }
.plots img { width: 540px; border: 1px solid #d0d7de; } figcaption { color: #59636e; font-size: .8rem; }
pre { background: #f6f8fa; padding: .8rem; overflow-x: auto; font-size: .8rem; border-radius: 6px; }
details summary { cursor: pointer; color: #0969da; }
.status-finished { color: #1a7f37; } .status-failed, .status-diverged { color: #cf222e; }
.status-interrupted, .status-running { color: #9a6700; }
"""


def esc(value: Any) -> str:
    """HTML-escaped text of any value."""
    return html.escape(str(value))


def _header(run_dir: Path, record: dict[str, Any]) -> list[str]:
    status = str(record.get("status", "unknown"))
    return [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width, initial-scale=1'>",
        f"<title>llmkit run {esc(run_dir.name)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(run_dir.name)}: {esc(record.get('task', ''))} · {esc(record.get('model', ''))}</h1>",
        f"<p class=sub>status <b class='status-{esc(status)}'>{esc(status)}</b> · started "
        f"{esc(record.get('started', ''))} · ended {esc(record.get('ended', ''))} · "
        f"llmkit {esc(record.get('llmkit_version', ''))}</p>",
    ]


def _metrics(metrics: dict[str, Any]) -> list[str]:
    """One row per metric, one column per split; ``train_`` prefixes dropped so the splits line up."""
    splits = {s: metrics[s] for s in SPLITS if isinstance(metrics.get(s), dict)}
    if not splits:
        return []
    named = {s: {k.removeprefix("train_") if s == "train" else k: v for k, v in vs.items()} for s, vs in splits.items()}
    keys = list(dict.fromkeys(k for values in named.values() for k in values))
    keys = [k for k in keys if not k.endswith(TIMINGS)] + [k for k in keys if k.endswith(TIMINGS)]
    rows = [{"metric": k, **{s: values.get(k) for s, values in named.items()}} for k in keys]
    cells = []
    for row in rows:
        values = "".join(f"<td class=num>{esc(format_value(row['metric'], row[s]))}</td>" for s in named)
        cells.append(f"<tr><th>{esc(row['metric'].replace('_', ' '))}</th>{values}</tr>")
    head = "<tr><th>metric</th>" + "".join(f"<th>{esc(s)}</th>" for s in named) + "</tr>"
    return ["<h2>Metrics</h2>", f"<table>{head}{''.join(cells)}</table>"]


def _summary(summary: dict[str, Any], run_dir: Path) -> list[str]:
    """The run's facts; paths inside the run directory shown by their name."""
    if not summary:
        return []
    shown = {}
    for key, value in summary.items():
        if isinstance(value, str) and value.startswith(str(run_dir)):
            value = value[len(str(run_dir)) :].lstrip("/") or "."
        shown[key] = value
    return ["<h2>Run summary</h2>", fields_table(shown)]


def _charts(drawn: Charts) -> list[str]:
    parts = []
    if drawn.charts:
        figures = "".join(
            f"<figure><img src='{chart.image}' alt='{esc(chart.title)}: {esc(', '.join(chart.names))}'>"
            f"<figcaption>{esc(', '.join(chart.names))} against optimizer step"
            f"{f' ({chart.left_out} non-finite or overflowing value(s) not drawn)' if chart.left_out else ''}"
            "</figcaption></figure>"
            for chart in drawn.charts
        )
        parts += ["<h2>Curves</h2>", f"<div class=plots>{figures}</div>"]
    if drawn.constant:
        same = ", ".join(f"{name} = {format_value(name, value)}" for name, value in drawn.constant.items())
        parts.append(f"<p class=sub>Constant over the run (not drawn): {esc(same)}</p>")
    return parts


def _data(data: dict[str, Any]) -> list[str]:
    """One row per split (rows read and kept, dropped, truncated with its share, source, any other per-split
    count a task adds), then the labels and the remaining facts."""
    if not data:
        return []
    splits = list(data.get("rows") or {})
    per_split = [
        key
        for key, value in data.items()
        if isinstance(value, dict) and value and set(value) <= set(splits) and key != "problems"
        if all(not isinstance(v, dict | list) for v in value.values())
    ]
    order = ("rows_read", "rows", "dropped", "truncated")
    per_split = [k for k in order if k in per_split] + [k for k in per_split if k not in order and k != "sources"]
    per_split += ["sources"] if "sources" in data else []
    rows = []
    for split in splits:
        row: dict[str, Any] = {"split": split}
        for key in per_split:
            row["source" if key == "sources" else key] = data[key].get(split)
        kept, cut = row.get("rows"), row.get("truncated")
        if isinstance(kept, int) and isinstance(cut, int):
            row["truncated"] = f"{cut:,} ({percent(cut, kept)})" if kept else cut
        rows.append(row)
    parts = ["<h2>Data</h2>", table(rows)]
    if data.get("labels"):
        parts.append(f"<p>Labels ({len(data['labels'])}): {esc(', '.join(str(x) for x in data['labels']))}</p>")
    other = {k: v for k, v in data.items() if k not in (*per_split, "labels", "rows") and v not in (None, {}, [])}
    if other:
        parts.append(fields_table(other))
    return parts


def _predictions(metrics: dict[str, Any]) -> list[str]:
    """Per split: confusion matrix, per-class tables, the first rows and a sample of mistakes side by side."""
    parts = []
    samples, wrong = metrics.get("samples") or {}, metrics.get("mistakes")
    matrices = metrics.get("confusion") or {}
    for split in dict.fromkeys([*matrices, *(metrics.get("tables") or {}), *samples]):
        parts.append(f"<h2>Predictions ({esc(split)})</h2>")
        matrix = matrices.get(split)
        blocks = []
        if matrix:
            blocks.append(f"<div><h3>Confusion matrix</h3>{confusion_table(matrix['labels'], matrix['matrix'])}</div>")
        for name, rows in ((metrics.get("tables") or {}).get(split) or {}).items():
            blocks.append(f"<div><h3>{esc(name.replace('_', ' ').capitalize())}</h3>{table(rows)}</div>")
        parts.append(f"<div class=row>{''.join(blocks)}</div>")
        rows = samples.get(split) or []
        errors = (wrong or {}).get(split) if wrong is not None else mistakes(rows)
        first = f"<div><h3>First rows</h3>{table(rows)}</div>" if rows else ""
        if errors:
            title = f"Mistakes (first {len(errors)} wrong predictions)"
            shown = f"<div><h3>{title}</h3>{table(errors, mark='prediction')}</div>"
        elif rows and any("reference" in row for row in rows):
            shown = "<div><h3>Mistakes</h3><p class=sub>no wrong prediction</p></div>"
        else:
            shown = ""
        parts.append(f"<div class=row>{first}{shown}</div>")
    return parts


def _reproducibility(record: dict[str, Any], recipe_text: str) -> list[str]:
    facts = {k: record.get(k) for k in ("command", "argv", "world_size", "resumes")}
    parts = ["<h2>Reproducibility</h2>", fields_table({k: v for k, v in facts.items() if v not in (None, [], {})})]
    if record.get("versions"):
        parts += ["<h3>Versions</h3>", fields_table(record["versions"])]
    if record.get("environment"):
        parts += ["<h3>Environment</h3>", fields_table(record["environment"])]
    parts += [
        "<h2>Recipe</h2>",
        f"<details open><summary>{esc(RECIPE_FILE)}</summary><pre>{esc(recipe_text)}</pre></details>",
    ]
    return parts


def build_report(run_dir: str | Path, record: dict[str, Any] | None = None) -> Path:
    """Write ``report.html`` into a run directory and return its path.

    ``record`` is the run's record when the caller holds a newer one than ``run.json`` (a run writing its
    report just before it saves its final status).
    """
    from llmkit.train.runlog import read_metrics_log

    run_dir = Path(run_dir)
    record = record or read_json(run_dir / RUN_FILE)
    if not record:
        raise ModelError(f"{run_dir}: not an llmkit run directory (no {RUN_FILE})")
    metrics = read_json(run_dir / METRICS_FILE)
    recipe_file = run_dir / RECIPE_FILE
    recipe_text = recipe_file.read_text(encoding="utf-8") if recipe_file.is_file() else ""
    parts = _header(run_dir, record)
    parts += _metrics(metrics)
    parts += _charts(draw(curves(read_metrics_log(run_dir))))
    parts += _summary(metrics.get("summary") or {}, run_dir)
    parts += _predictions(metrics)
    parts += _data(metrics.get("data") or {})
    parts += _reproducibility(record, recipe_text)
    parts.append("</body></html>")
    target = run_dir / REPORT_FILE
    target.write_text("\n".join(parts), encoding="utf-8")
    return target
