"""How report.html writes numbers and tables: by kind (seconds, MiB, rates, percentages), never raw JSON.

The kind comes from the key's generic suffix (``_s``, ``runtime``, ``_mb``, ``bytes``, ``per_second``), the
conventions ``metrics.json``, ``run.json`` and Trainer's metrics already follow.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

SECONDS = ("_s", "runtime", "_seconds")
MIB = ("_mb", "_mib")
RATE = ("per_second",)
TEXT_CUT = 160  # characters of a long text cell shown; the whole text is in the cell's title


def seconds(value: float) -> str:
    """``0.42 s``, ``4.1 s``, ``2 min 05 s``, ``1 h 02 min``."""
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def mib(value: float) -> str:
    """Memory given in MiB: ``661 MiB``, ``12.50 GiB``."""
    return f"{value / 1024:.2f} GiB" if value >= 1024 else f"{value:,.0f} MiB"


def byte_size(value: float) -> str:
    """A byte count: ``512 B``, ``94.2 KiB``, ``87.4 MiB``, ``1.20 GiB``."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}" if unit != "GiB" else f"{value / scale:.2f} {unit}"
    return f"{value:.0f} B"


def percent(part: float, whole: float) -> str:
    """``part`` of ``whole`` as a percentage (``6.2%``); empty when ``whole`` is 0."""
    return f"{100 * part / whole:.1f}%" if whole else ""


def number(value: float) -> str:
    """A plain measurement: 4 decimals, or 4 significant digits when tiny or huge; inf and nan as words."""
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.4g}"
    return f"{value:.4f}"


def format_value(key: str, value: Any) -> str:
    """A value as the report shows it, by the kind its key names."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        name = key.lower()
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if name.endswith(SECONDS):
            return seconds(float(value))
        if name.endswith(MIB):
            return mib(float(value))
        if name.endswith("bytes"):
            return byte_size(float(value))
        if name.endswith(RATE):
            return f"{value:,.1f}/s"
        if isinstance(value, float) and value.is_integer() and abs(value) >= 10:
            value = int(value)  # a count stored as float (Trainer's token counts): no decimals
        return f"{value:,}" if isinstance(value, int) else number(value)
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def label(key: str) -> str:
    """A key as a heading: underscores as spaces, the unit suffix dropped (the value carries it)."""
    for suffix in (*SECONDS, *MIB):
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)]
            break
    return key.replace("_", " ")


def _cell(key: str, value: Any, css: str = "") -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    text = format_value(key, value)
    classes = " ".join(filter(None, ["num" if numeric else "", css]))
    attr = f" class='{classes}'" if classes else ""
    if len(text) > TEXT_CUT:
        return f"<td{attr} title='{html.escape(text)}'>{html.escape(text[:TEXT_CUT])}…</td>"
    return f"<td{attr}>{html.escape(text)}</td>"


def table(rows: list[dict[str, Any]], columns: list[str] | None = None, mark: str | None = None) -> str:
    """An HTML table, each cell formatted by its column name; the ``mark`` column's cells shown as wrong."""
    if not rows:
        return "<p class=sub>none</p>"
    columns = columns or list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(label(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(c, row.get(c), "bad" if c == mark else "") for c in columns) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def fields_table(values: dict[str, Any]) -> str:
    """A two-column table of named facts, each value formatted by its own key."""
    rows = [f"<tr><th>{html.escape(label(k))}</th>{_cell(k, v)}</tr>" for k, v in values.items()]
    return f"<table class=fields>{''.join(rows)}</table>" if rows else "<p class=sub>none</p>"


def confusion_table(labels: list[Any], matrix: list[list[int]]) -> str:
    """The confusion matrix as a shaded table: rows the reference, columns the prediction, the diagonal green."""
    top = max((max(row) for row in matrix), default=0) or 1
    head = "<tr><th>reference \\ prediction</th>" + "".join(f"<th>{html.escape(str(x))}</th>" for x in labels)
    body = []
    for i, row in enumerate(matrix):
        cells = []
        for j, count in enumerate(row):
            alpha = 0.08 + 0.7 * count / top if count else 0
            colour = f"rgba(26,127,55,{alpha:.2f})" if i == j else f"rgba(207,34,46,{alpha:.2f})"
            cells.append(f"<td class=num style='background:{colour}'>{count}</td>")
        total = sum(row)
        body.append(f"<tr><th>{html.escape(str(labels[i]))} ({total})</th>{''.join(cells)}</tr>")
    return f"<table class=confusion>{head}</tr>{''.join(body)}</table>"
