"""The training progress bar: one rich bar with loss, learning rate and ETA, eval results above it.

Imports transformers (for ``TrainerCallback``), so only the train command imports it, after the recipe
has loaded; ``llmkit --help`` and ``--dry-run`` never do.
"""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback

from llmkit.cli.console import TIMING_SUFFIXES, err, fmt


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
