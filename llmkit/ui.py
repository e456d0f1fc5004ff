"""Terminal output of the CLI layer: progress while training, tables after.

Progress and messages go to stderr; results (and ``--json``) go to stdout, so stdout stays
machine-readable. Nothing here imports torch or transformers at module level.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


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


TIMING_SUFFIXES = ("runtime", "samples_per_second", "steps_per_second", "tokens_per_second")


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
        shown = [{k: v for k, v in row.items() if k not in ("scores",)} for row in sample_split.rows[:5]]
        out.print(rows_table("Example predictions", shown))
    summary = result.summary or {}
    rows = summary.get("rows") or summary.get("rows_read") or {}
    if rows:
        shown = ", ".join(f"{split} {count}" for split, count in rows.items())
        truncated = {s: n for s, n in (summary.get("truncated") or {}).items() if n}
        note = (
            f"; truncated to data.max_seq_length: {', '.join(f'{s} {n}' for s, n in truncated.items())}"
            if truncated
            else ""
        )
        problems = {s: p["rows"] for s, p in (summary.get("problems") or {}).items() if p.get("rows")}
        if problems:
            listed = ", ".join(f"{s} {n}" for s, n in problems.items())
            note += f"; bad rows: {listed} (see data.problems in metrics.json)"
        out.print(f"Data: {shown} rows{note}")
    adapter = summary.get("adapter")
    if adapter:
        share = adapter["trainable_params"] / max(adapter["total_params"], 1)
        out.print(
            f"LoRA: {adapter['trainable_params']:,} of {adapter['total_params']:,} parameters trained ({share:.2%}); "
            f"adapter {size(adapter['adapter_bytes'])} vs full model {size(adapter['full_model_bytes'])}"
        )
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
    for key in ("report", "log"):
        if facts.get(key):
            table.add_row(key, str(facts[key]))
    out.print(table)
    out.print(f"Run saved to [bold]{result.run_dir}[/]")


def size(n: int) -> str:
    """Bytes as B/KB/MB/GB (powers of 1024)."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


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


def show_predictions(rows: list[dict[str, Any]], as_json: bool) -> None:
    """Results of `llmkit generate` for non-streaming tasks."""
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    for row in rows:
        if "new_tokens" in row:  # a continuation: the prompt dim, the generated text bright
            out.print(f"[dim]{escape(str(row.get('text', '')))}[/][bold]{escape(str(row['prediction']))}[/]")
            continue
        label = row.get("label", row.get("prediction", row.get("answer")))
        if label == "":
            label = "(no answer)"
        score = row.get("probability", row.get("score"))
        shown = f"[bold]{escape(str(label))}[/]" + (f" ({score:.3f})" if isinstance(score, float) else "")
        source = row.get("text", row.get("question", ""))
        out.print(f"[dim]{escape(str(source))}[/] -> {shown}")


def progress_callback() -> Any:
    """A TrainerCallback that draws one rich progress bar with loss, learning rate and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        """Main-process progress display; evaluation results are printed as lines above the bar."""

        def __init__(self) -> None:
            self.progress: Progress | None = None
            self.task_id: Any = None
            self.eval_id: Any = None  # a second bar while an evaluation runs

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if not state.is_world_process_zero:
                return
            self.progress = Progress(
                TextColumn("[bold]{task.description}[/]"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=err,
                transient=False,
            )
            self.progress.start()
            self.task_id = self.progress.add_task(
                "train", total=state.max_steps, completed=state.global_step, status=""
            )

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.progress is not None:
                self.progress.update(self.task_id, completed=state.global_step)

        def on_prediction_step(
            self, args: Any, state: Any, control: Any, eval_dataloader: Any = None, **kwargs: Any
        ) -> None:
            if self.progress is None or eval_dataloader is None or not hasattr(eval_dataloader, "__len__"):
                return
            if self.eval_id is None:
                self.eval_id = self.progress.add_task("eval", total=len(eval_dataloader), status="")
            self.progress.advance(self.eval_id)

        def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.progress is not None and self.eval_id is not None:
                self.progress.remove_task(self.eval_id)
            self.eval_id = None

        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
        ) -> None:
            if self.progress is None or not logs:
                return
            if "loss" in logs:
                status = f"epoch {state.epoch or 0:.2f}  loss {fmt(float(logs['loss']))}"
                if "learning_rate" in logs:
                    status += f"  lr {float(logs['learning_rate']):.2e}"
                self.progress.update(self.task_id, status=status)
            evals = {
                k.removeprefix("eval_"): v
                for k, v in logs.items()
                if k.startswith("eval_") and not k.endswith(TIMING_SUFFIXES)
            }
            if evals:
                shown = "  ".join(f"{k} {fmt(v)}" for k, v in evals.items())
                self.progress.console.print(
                    f"[cyan]eval[/] step {state.global_step} (epoch {state.epoch or 0:.2f}): {shown}"
                )

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.progress is not None:
                self.progress.update(self.task_id, completed=state.global_step)
                self.progress.stop()
                self.progress = None

    return RichProgress()


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


def show_runs(rows: list[dict[str, Any]], as_json: bool) -> None:
    """`llmkit runs`: one line per run."""
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    if not rows:
        out.print("no llmkit runs found")
        return
    out.print(rows_table("Runs", rows))


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


def ask(who: str) -> str:
    """One line from the user (raises EOFError at the end of input)."""
    return input(f"{who}> ")


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
