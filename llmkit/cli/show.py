"""What the commands print when they are done: run summaries, metrics, predictions, exports, runs.

Results go to stdout (``console.out``), so ``--json`` output stays machine-readable; warnings go to
stderr. Nothing here imports torch or transformers.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from llmkit.cli.console import TIMING_SUFFIXES, err, fmt, metrics_table, out, rows_table, size

if TYPE_CHECKING:
    from llmkit.tasks.spec import DataSummary, TaskSpec


def show_run(result: Any) -> None:
    """The end-of-run summary: metrics per split, extra tables, a few predictions, where things are."""
    columns = {name: split.metrics for name, split in result.splits.items()}
    if columns:
        out.print(metrics_table("Results", columns, skip=TIMING_SUFFIXES))
    for name, split in result.splits.items():
        for table_name, rows in split.tables.items():
            out.print(rows_table(f"{table_name.replace('_', ' ').title()} ({name})", rows))
    sample_split = next(iter(result.splits.values()), None)
    if sample_split and sample_split.rows:
        from llmkit.tasks import get_task

        hidden = get_task(result.task).hidden_columns
        shown = [{k: v for k, v in row.items() if k not in hidden} for row in sample_split.rows[:5]]
        out.print(rows_table("Example predictions", shown))
    data = result.data  # the task's DataSummary (plus the adapter facts of a LoRA run)
    for line in (_data_line(data), _adapter_line(data.extra.get("adapter"))):
        if line:
            out.print(line)
    out.print(_summary_table(result))
    out.print(f"Run saved to [bold]{escape(str(result.run_dir))}[/]")
    events = (getattr(result, "facts", None) or {}).get("tensorboard")
    if events:
        out.print(f"TensorBoard curves: [bold]tensorboard --logdir {escape(tensorboard_logdir(events))}[/]")


def tensorboard_logdir(events: str) -> str:
    """The folder to give ``tensorboard --logdir``: ``<run>/runs`` holds one folder per (resumed) session."""
    from pathlib import Path

    folder = Path(events)
    return str(folder.parent if folder.parent.name == "runs" else folder)


def _data_line(data: DataSummary) -> str | None:
    """``Data: train 80, validation 20 rows`` plus truncated and bad rows, or None without counts."""
    rows = data.rows or data.rows_read or {}
    if not rows:
        return None
    shown = ", ".join(f"{split} {count}" for split, count in rows.items())
    truncated = {s: n for s, n in (data.truncated or {}).items() if n}
    note = (
        f"; truncated to data.max_seq_length: {', '.join(f'{s} {n}' for s, n in truncated.items())}"
        if truncated
        else ""
    )
    problems = {s: p["rows"] for s, p in (data.problems or {}).items() if p.get("rows")}
    if problems:
        listed = ", ".join(f"{s} {n}" for s, n in problems.items())
        note += f"; bad rows: {listed} (see data.problems in metrics.json)"
    return f"Data: {shown} rows{note}"


def _adapter_line(adapter: dict[str, Any] | None) -> str | None:
    """How much of the model a LoRA run trained, and what the adapter weighs against the full model."""
    if not adapter:
        return None
    share = adapter["trainable_params"] / max(adapter["total_params"], 1)
    return (
        f"LoRA: {adapter['trainable_params']:,} of {adapter['total_params']:,} parameters trained ({share:.2%}); "
        f"adapter {size(adapter['adapter_bytes'])} vs full model {size(adapter['full_model_bytes'])}"
    )


def _summary_table(result: Any) -> Table:
    """Wall time, loss, throughput, best checkpoint, memory and where the files are."""
    train = result.train_metrics
    facts = getattr(result, "facts", None) or {}
    table = Table(title="Run summary", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    table.add_row("wall time", f"{result.wall_time:.1f} s")
    if "train_loss" in train:
        table.add_row("train loss", fmt(train["train_loss"]))
    for key, label, unit in (
        ("train_samples_per_second", "throughput", " samples/s"),
        ("train_tokens_per_second", "throughput", " tokens/s"),
    ):
        if train.get(key):
            table.add_row(label, f"{train[key]:.1f}{unit}")
    if facts.get("best_checkpoint"):
        table.add_row(
            "best checkpoint",
            f"{facts['best_checkpoint']} ({facts.get('metric_for_best_model')} {fmt(facts.get('best_metric'))})",
        )
    if facts.get("peak_rss_mb"):
        table.add_row("peak memory", f"{facts['peak_rss_mb']:.0f} MiB RSS")
    if facts.get("peak_gpu_mb"):
        table.add_row("peak GPU memory", f"{facts['peak_gpu_mb']:.0f} MiB")
    table.add_row("model", str(result.run_dir))
    for key, label in (("report", "report"), ("log", "log"), ("tensorboard", "tensorboard events")):
        if facts.get(key):
            table.add_row(label, str(facts[key]))
    return table


def show_export(result: Any) -> None:
    """Where `llmkit export` wrote what."""
    from llmkit.export import check_text, quantized_lines

    what = {"adapter": "LoRA adapter", "onnx": "ONNX model"}.get(result.kind, "model")
    out.print(f"Exported {what} to [bold]{result.out_dir}[/] ({size(result.weight_bytes)} of weights)")
    for check in result.checks:
        out.print(f"{check.file}: ONNX Runtime vs PyTorch {check_text(check)}")
    if result.quantized is not None:
        out.print("Dynamic int8 quantization:")
        for line in quantized_lines(result.quantized):
            out.print("  " + line)
    out.print(f"Files: {', '.join(result.files)}")


def show_eval(result: Any, as_json: bool) -> None:
    """Metrics of `llmkit eval`: one JSON object with ``--json``, tables otherwise."""
    metrics = {k: v for k, v in result.result.metrics.items() if not k.endswith(TIMING_SUFFIXES)}
    if as_json:
        print(json.dumps(metrics))
        return
    out.print(metrics_table(f"Evaluation of {result.target} on {result.source}", {result.split: metrics}))
    for table_name, rows in result.result.tables.items():
        out.print(rows_table(table_name.replace("_", " ").title(), rows))


def show_predictions(rows: list[dict[str, Any]], as_json: bool, task: TaskSpec) -> None:
    """Results of `llmkit generate` for non-streaming tasks, each row as ``task.show_prediction`` puts it."""
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    for row in rows:
        shown = task.show_prediction(row)
        if shown.continuation:  # the prompt dim, the generated text bright right after it
            out.print(f"[dim]{escape(shown.source)}[/][bold]{escape(shown.result)}[/]")
            continue
        score = f" ({shown.score:.3f})" if shown.score is not None else ""
        out.print(f"[dim]{escape(shown.source)}[/] -> [bold]{escape(shown.result)}[/]{score}")


def show_validation(report: Any) -> None:
    """What `llmkit validate` found, as tables; warnings on stderr."""
    out.print(f"[bold]recipe OK[/] · task {report.task} · model {report.model}")
    rows = [{"split": split, **info} for split, info in report.splits.items()]
    out.print(rows_table("Data (tokens per input, after truncation)", rows))
    if report.labels:
        shown = ", ".join(report.labels[:20]) + (" ..." if len(report.labels) > 20 else "")
        out.print(f"Labels ({len(report.labels)}): {shown}")
    tok = report.tokenizer
    out.print(
        f"Tokenizer: {tok['class']}, {tok['vocab_size']} tokens, pad token {tok['pad_token']!r}, "
        f"model_max_length {tok['model_max_length']}"
    )
    out.print(
        f"Model: {report.parameters / 1e6:.2f}M parameters; about {report.trainable_memory_mb:.0f} MiB for "
        "fp32 weights, gradients and AdamW state (activations come on top)"
    )
    for warning in report.warnings:
        err.print(f"[yellow]warning:[/] {warning}")


# `llmkit runs` columns, and what goes, in this order, when the terminal is too narrow for all of them
# ("split": the "(test)" after the metric): the run name shows whole, with its metric and status; the rows
# are already newest first, so the date goes first.
RUN_COLUMNS = ("run", "task", "model", "metric", "status", "date")
DROPPED_FIRST = ("date", "model", "task", "split")
MODEL_WIDTH = 32  # a longer model (a local path) shows its end: the folder name tells most


def show_runs(rows: list[dict[str, Any]], as_json: bool, folder: Any = None) -> None:
    """`llmkit runs`: one line per run, run names relative to ``folder``, fitting the terminal's width."""
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    if not rows:
        out.print("no llmkit runs found")
        return
    shown = [_run_cells(row, folder) for row in rows]
    columns = list(RUN_COLUMNS)
    for step in DROPPED_FIRST:
        if _runs_table(shown, columns).__rich_measure__(out, out.options).maximum <= out.width:
            break
        if step == "split":
            shown = [{**row, "metric": row["metric"].rsplit(" (", 1)[0]} for row in shown]
        else:
            columns.remove(step)
    out.print(_runs_table(shown, columns))


def _run_cells(row: dict[str, Any], folder: Any) -> dict[str, str]:
    """A run row as shown: the run relative to the listed folder, a short model, the date to the minute."""
    from pathlib import Path

    run = Path(row["run"])
    if folder is not None and run != Path(folder) and run.is_relative_to(folder):
        run = run.relative_to(folder)
    model = str(row["model"])
    if len(model) > MODEL_WIDTH:
        model = "…" + model[-(MODEL_WIDTH - 1) :]
    date = str(row["date"]).replace("T", " ")[:16]  # 2026-12-07T05:34:30+00:00 -> 2026-12-07 05:34 (UTC)
    return {**{k: str(v) for k, v in row.items()}, "run": str(run), "model": model, "date": date}


def _runs_table(rows: list[dict[str, str]], columns: list[str]) -> Table:
    table = Table(
        title="Runs",
        title_justify="left",
        box=None,
        padding=(0, 2, 0, 0),
        pad_edge=False,
        header_style="bold underline",
    )
    for column in columns:
        longest = max(len(row.get(column, "")) for row in rows) if column == "run" else None
        table.add_column(column, no_wrap=True, overflow="ellipsis", min_width=longest)
    for row in rows:
        table.add_row(*(escape(row.get(column, "")) for column in columns))
    return table


def stream(prompt: str, pieces: Any) -> str:
    """Print a prompt dim and its continuation bright as the pieces arrive; return the continuation."""
    shown: list[str] = []
    if prompt:
        out.print(f"[dim]{escape(prompt)}[/]", end="")
    for piece in pieces:
        shown.append(piece)
        out.print(f"[bold]{escape(piece)}[/]", end="")
        out.file.flush()
    out.print()
    return "".join(shown)


class _NoProgress:
    def __enter__(self) -> Any:
        return lambda n: None

    def __exit__(self, *exc: Any) -> None:
        return None


def batch_progress(total: int, enabled: bool) -> Any:
    """A context manager yielding ``advance(n)``: a progress bar on stderr for many inputs, silence for few."""
    if not enabled:
        return _NoProgress()
    from contextlib import contextmanager

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    @contextmanager
    def bar() -> Any:
        with Progress(
            TextColumn("[bold]generate[/]"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=err
        ) as progress:
            task = progress.add_task("generate", total=total)
            yield lambda n: progress.advance(task, n)

    return bar()
