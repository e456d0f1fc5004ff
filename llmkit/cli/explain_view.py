"""How `llmkit explain` shows an explanation in the terminal: tokens on a background coloured by attribution."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape
from rich.text import Text

from llmkit.cli.console import err, out

MAX_ROWS = 20  # seq2seq: generated tokens shown one line each (the JSON and HTML page hold all)
POSITIVE = (220, 38, 38)  # red: raises the explained score
NEGATIVE = (37, 99, 235)  # blue: lowers it


def _background(value: float, scale: float) -> str:
    """White blended towards red or blue by the attribution's share of the largest magnitude."""
    share = min(abs(value) / scale, 1.0) if scale > 0 else 0.0
    colour = POSITIVE if value >= 0 else NEGATIVE
    r, g, b = (round(255 - share * (255 - c)) for c in colour)
    return f"black on rgb({r},{g},{b})"


def heat_text(tokens: list[str], values: list[float]) -> Text:
    """The tokens in one line, separated by spaces, each on its attribution's colour."""
    scale = max((abs(v) for v in values), default=0.0)
    line = Text()
    for token, value in zip(tokens, values, strict=False):
        line.append(token, style=_background(value, scale))
        line.append(" ")
    return line


def show_explanation(found: Any, as_json: bool) -> None:
    """One JSON object with ``--json``; otherwise the prediction, the heat line(s) and the completeness check."""
    if as_json:
        print(json.dumps(found.to_json(), ensure_ascii=False))
        return
    out.print(f"[bold]{escape(str(found.prediction))}[/] ({found.score:.4f})  [dim]{found.task}, {found.method}[/]")
    out.print(heat_text(found.tokens, found.attributions))
    if len(found.targets) > 1:
        for target in found.targets[:MAX_ROWS]:
            out.print(
                Text(f"{target.name} {target.label}: ", style="dim") + heat_text(found.tokens, target.attributions)
            )
        if len(found.targets) > MAX_ROWS:
            out.print(f"[dim]... {len(found.targets) - MAX_ROWS} more generated tokens in --json and --output[/]")
    delta = found.convergence_delta
    if delta is not None:
        gap = sum(t.score - (t.baseline_score or 0.0) for t in found.targets)
        out.print(
            f"[dim]completeness: sum of attributions {sum(found.attributions):.4g}, "
            f"f(input) - f(baseline) {gap:.4g}, convergence delta {delta:.2g} ({found.steps} steps)[/]"
        )
    out.print("[dim]red raises the explained score, blue lowers it[/]")
    err.print(f"[dim]explained in {found.seconds:.2f}s[/]")
