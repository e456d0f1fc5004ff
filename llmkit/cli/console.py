"""The CLI's two consoles and the small helpers every command prints with.

Progress and messages go to stderr (``err``); results (and ``--json``) go to stdout (``out``), so stdout
stays machine-readable. Imported inside command bodies only (rich is not needed for ``--help``).
"""

from __future__ import annotations

import math
import os
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)
TIMING_SUFFIXES = ("runtime", "samples_per_second", "steps_per_second", "tokens_per_second")


def world_size() -> int:
    """Processes in this run, as torchrun/accelerate announce them (1 when not launched)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def rank() -> int:
    """This process's global rank (0 when not launched)."""
    return int(os.environ.get("RANK", "0") or 0)


def is_main_process() -> bool:
    """Only rank 0 prints progress and summaries, so N processes do not print N times."""
    return rank() == 0


def error(kind: str, message: str) -> None:
    """Print an error: one line per problem, prefixed so it stands out (and with the rank when launched)."""
    where = f"rank {rank()}: " if world_size() > 1 else ""
    for line in message.splitlines() or [""]:
        err.print(f"[bold red]{where}{kind}:[/] {line}", markup=True, highlight=False, soft_wrap=True)


def setup_logging(verbose: bool) -> None:
    """Route llmkit's log records (resume decisions, warnings) to stderr through rich."""
    import logging

    from rich.logging import RichHandler

    logger = logging.getLogger("llmkit")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        handler = RichHandler(console=err, show_time=False, show_path=False, markup=False)
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO if is_main_process() else logging.WARNING)
    logger.propagate = False


def info(message: str) -> None:
    """A status line on stderr."""
    err.print(message, soft_wrap=True)


def warn(message: str) -> None:
    """A warning line on stderr (the command goes on)."""
    err.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True)


def log_as_lines(name: str) -> None:
    """Show one logger's records (``llmkit.generation``'s warnings) as plain ``warning:`` lines, unwrapped."""
    import logging

    class LineHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            (warn if record.levelno >= logging.WARNING else info)(record.getMessage())

    logger = logging.getLogger(name)
    if not any(type(h).__name__ == "LineHandler" for h in logger.handlers):
        logger.addHandler(LineHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def fmt(value: Any) -> str:
    """Numbers with 4 significant decimals, everything else as text."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"
    return str(value)


def size(n: int) -> str:
    """Bytes as B/KB/MB/GB (powers of 1024)."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def metrics_table(title: str, columns: dict[str, dict[str, float]], skip: tuple[str, ...] = ()) -> Table:
    """One row per metric, one column per split."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    keys: list[str] = []
    for values in columns.values():
        keys += [k for k in values if k not in keys and not any(k.endswith(s) for s in skip)]
    for key in keys:
        table.add_row(key, *(fmt(values.get(key, "")) for values in columns.values()))
    return table


def rows_table(title: str, rows: list[dict[str, Any]], limit: int | None = None) -> Table:
    """A table of homogeneous rows (per-class scores, sample predictions)."""
    table = Table(title=title, title_justify="left")
    if not rows:
        return table
    columns = list(rows[0])
    for column in columns:
        numeric = isinstance(rows[0][column], int | float) and not isinstance(rows[0][column], bool)
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows[: limit or len(rows)]:
        table.add_row(*(fmt(row.get(c, "")) for c in columns))
    return table


def ask(who: str) -> str:
    """One line from the user (raises EOFError at the end of input)."""
    return input(f"{who}> ")
