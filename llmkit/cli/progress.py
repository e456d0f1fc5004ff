"""Training progress: a rich bar on a terminal, one plain line per logging step everywhere else.

A bar redraws itself in place; written to a file (nohup, SLURM, CI logs) rich prints it only when it
stops, so the log stays empty for the whole run. :func:`progress_callback` therefore picks the bar only
when stderr is a terminal, and plain lines (step, epoch, loss, learning rate, throughput, ETA) otherwise.

Imports transformers (for ``TrainerCallback``), so only the train command imports it, after the recipe
has loaded; ``llmkit --help`` and ``--dry-run`` never do.
"""

from __future__ import annotations

import time
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback

from llmkit.cli.console import TIMING_SUFFIXES, err, fmt


def progress_callback() -> TrainerCallback:
    """The bar on a terminal, plain lines when stderr goes to a file or a pipe."""
    return RichProgress() if err.is_terminal else LineProgress()


def eval_line(logs: dict[str, Any], state: Any) -> str | None:
    """``eval step 20 (epoch 1.00): accuracy 0.5000 ...`` for an evaluation's logs, None for other logs."""
    evals = {
        k.removeprefix("eval_"): v for k, v in logs.items() if k.startswith("eval_") and not k.endswith(TIMING_SUFFIXES)
    }
    if not evals:
        return None
    shown = "  ".join(f"{k} {fmt(v)}" for k, v in evals.items())
    return f"eval step {state.global_step} (epoch {state.epoch or 0:.2f}): {shown}"


def clock(seconds: float) -> str:
    """Seconds as H:MM:SS."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class LineProgress(TrainerCallback):
    """One plain line per logging step (and per evaluation) on stderr, for logs that are files."""

    def __init__(self) -> None:
        self.started: float | None = None
        self.first_step = 0

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self.started, self.first_step = time.perf_counter(), state.global_step  # a resumed run starts mid-way
        err.print(f"train: {state.max_steps} steps, logging every {args.logging_steps}", markup=False, soft_wrap=True)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self.started is None or not logs:
            return
        line = self.step_line(args, state, logs) if "loss" in logs else eval_line(logs, state)
        if line:
            err.print(line, markup=False, highlight=False, soft_wrap=True)

    def step_line(self, args: Any, state: Any, logs: dict[str, Any]) -> str:
        """``step 10/120  epoch 0.17  loss 1.6094  lr 9.20e-05  3.10 steps/s (49.6 samples/s)  eta 0:00:35``."""
        parts = [f"step {state.global_step}/{state.max_steps}", f"epoch {state.epoch or 0:.2f}"]
        parts.append(f"loss {fmt(float(logs['loss']))}")
        if "learning_rate" in logs:
            parts.append(f"lr {float(logs['learning_rate']):.2e}")
        elapsed = time.perf_counter() - (self.started or time.perf_counter())
        done = state.global_step - self.first_step
        if done > 0 and elapsed > 0:
            rate = done / elapsed
            samples = rate * args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
            parts.append(f"{rate:.2f} steps/s ({samples:.1f} samples/s)")
            parts.append(f"eta {clock((state.max_steps - state.global_step) / rate)}")
        return "  ".join(parts)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = None


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
        self.task_id = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, status="")

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

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self.progress is None or not logs:
            return
        if "loss" in logs:
            status = f"epoch {state.epoch or 0:.2f}  loss {fmt(float(logs['loss']))}"
            if "learning_rate" in logs:
                status += f"  lr {float(logs['learning_rate']):.2e}"
            self.progress.update(self.task_id, status=status)
        line = eval_line(logs, state)
        if line:
            self.progress.console.print(line, markup=False)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task_id, completed=state.global_step)
            self.progress.stop()
            self.progress = None
