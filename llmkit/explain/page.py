"""The self-contained HTML page of an explanation: token heat maps and a layer x head grid of attention maps.

Everything is inline (CSS, and the attention maps as base64 PNG images), so the page works copied alone and
opened offline. The PNGs are written with ``zlib`` here rather than through matplotlib: a few hundred pixels
per map need no plotting library, and `llmkit explain` then works without the ``report`` extra.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from typing import Any

from llmkit.explain.results import Explained

MAX_TARGET_ROWS = 64  # seq2seq: heat-map rows shown for the generated tokens

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 70em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table.facts td { padding: 0.15em 1em 0.15em 0; }
.tokens { line-height: 2.2; margin: 0.4em 0 0.8em; }
.tok { padding: 0.15em 0.25em; margin: 0 1px; border-radius: 3px; font-family: ui-monospace, monospace; }
.row-label { display: inline-block; min-width: 9em; color: #555; font-size: 0.9em; }
.grid { display: grid; gap: 6px; }
.grid figure { margin: 0; text-align: center; font-size: 0.75em; color: #555; }
.grid img { width: 100%; image-rendering: pixelated; border: 1px solid #ddd; }
.legend { font-size: 0.85em; color: #555; }
"""


def heat_colour(value: float, scale: float) -> str:
    """Red for tokens that raise the explained score, blue for those that lower it; opacity by magnitude."""
    alpha = min(abs(value) / scale, 1.0) if scale > 0 else 0.0
    rgb = "220,38,38" if value >= 0 else "37,99,235"
    return f"rgba({rgb},{alpha:.3f})"


def token_line(tokens: list[str], values: list[float]) -> str:
    """One row of tokens, each coloured by its attribution (the value in its tooltip)."""
    scale = max((abs(v) for v in values), default=0.0)
    spans = (
        f'<span class="tok" style="background:{heat_colour(v, scale)}" title="{v:.4g}">{html.escape(t)}</span>'
        for t, v in zip(tokens, values, strict=False)
    )
    return '<div class="tokens">' + "".join(spans) + "</div>"


def png_data_uri(matrix: Any) -> str:
    """A (rows, columns) matrix of non-negative weights as a white-to-blue PNG ``data:`` URI (scaled to its max)."""
    rows = [list(map(float, row)) for row in matrix]
    top = max((v for row in rows for v in row), default=0.0) or 1.0
    raw = bytearray()
    for row in rows:
        raw.append(0)  # PNG filter type 0 (none) for each scanline
        for v in row:
            w = max(0.0, min(v / top, 1.0))
            raw += bytes((int(255 - 225 * w), int(255 - 180 * w), int(255 - 60 * w)))
    height, width = len(rows), len(rows[0]) if rows else 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    png += chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _facts(found: Explained, model: str) -> str:
    facts = [
        ("model", model),
        ("task", found.task),
        ("prediction", str(found.prediction)),
        ("score", f"{found.score:.4f}"),
        ("method", found.method + (f" ({found.steps} steps)" if found.steps else "")),
        ("time", f"{found.seconds:.2f} s"),
    ]
    if found.convergence_delta is not None:
        facts.append(
            ("convergence delta", f"{found.convergence_delta:.3g} (sum of attributions - (f(x) - f(baseline)))")
        )
    cells = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in facts)
    return f'<table class="facts">{cells}</table>'


def _heat_maps(found: Explained) -> str:
    parts = ["<h2>Attributions per input token</h2>", token_line(found.tokens, found.attributions)]
    if len(found.targets) > 1:
        parts.append('<p class="legend">Above: the sum over the explained outputs; below: each of them.</p>')
        for target in found.targets[:MAX_TARGET_ROWS]:
            label = html.escape(f"{target.name}: {target.label} ({target.score:.3f})")
            parts.append(
                f'<div><span class="row-label">{label}</span>{token_line(found.tokens, target.attributions)}</div>'
            )
    crossed = [t for t in found.targets if t.cross_attention is not None]
    if crossed:
        parts.append("<h2>Cross-attention over the source (mean of layers and heads)</h2>")
        for target in crossed[:MAX_TARGET_ROWS]:
            label = html.escape(f"{target.label}")
            line = token_line(found.tokens, target.cross_attention or [])
            parts.append(f'<div><span class="row-label">{label}</span>{line}</div>')
    parts.append('<p class="legend">Red raises the explained score, blue lowers it; hover a token for its value.</p>')
    return "\n".join(parts)


def _attention_grid(found: Explained) -> str:
    attention = found.attention
    if attention is None:
        return ""
    cross = attention.cross_maps is not None
    maps = attention.cross_maps if cross else attention.self_maps
    assert maps is not None
    heads = max(weights.shape[0] for weights in maps)  # a head-pruned model has fewer heads in some layers
    what = "cross-attention: rows are generated tokens, columns source tokens" if cross else "rows attend to columns"
    figures = []
    for layer, weights in enumerate(maps, start=1):
        for head in range(weights.shape[0]):
            uri = png_data_uri(weights[head].tolist())
            figures.append(
                f'<figure><img src="{uri}" alt="layer {layer} head {head + 1}"><figcaption>'
                f"L{layer} H{head + 1}</figcaption></figure>"
            )
        figures += ["<figure></figure>"] * (heads - weights.shape[0])  # keep one layer per grid row
    rows = ", ".join(html.escape(t) for t in (found.generated if cross else found.tokens))
    columns = ", ".join(html.escape(t) for t in found.tokens)
    return (
        f"<h2>Attention maps, layer x head ({what})</h2>"
        f'<p class="legend">Rows: {rows}<br>Columns: {columns}<br>Each map is scaled to its own maximum.</p>'
        f'<div class="grid" style="grid-template-columns: repeat({heads}, minmax(60px, 1fr))">{"".join(figures)}</div>'
    )


def render(found: Explained, model: str) -> str:
    """The whole page as one HTML string."""
    title = html.escape(f"llmkit explain: {found.task}, {found.method}")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
        f"{_facts(found, model)}{_heat_maps(found)}{_attention_grid(found)}</body></html>\n"
    )
