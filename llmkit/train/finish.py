"""The end of a run: final weights moved into place, metrics.json, the run's facts and report.html."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from llmkit.config import Recipe
from llmkit.tasks.spec import Prepared
from llmkit.train.lifecycle import is_disk_full
from llmkit.train.model import save_peft_extras
from llmkit.train.results import SplitResult
from llmkit.train.rundir import METRICS_FILE, RunRecord, write_json

log = logging.getLogger(__name__)

FINAL_STAGING = ".llmkit-final"
SAMPLE_ROWS = 10  # per-example rows kept in metrics.json for the report


def save_final(trainer: Any, recipe: Recipe, prepared: Prepared, record: RunRecord, writer: bool) -> None:
    """Save the final model, tokenizer and trainer state: into a staging folder, then moved into place.

    A full disk halfway through therefore leaves the run directory as it was (no torn weights), and the
    staging folder is removed.
    """
    run_dir = record.run_dir
    staging = run_dir / FINAL_STAGING
    if writer and staging.exists():
        shutil.rmtree(staging)
    try:
        trainer.save_model(str(staging))
        if writer:
            trainer.state.save_to_json(str(staging / "trainer_state.json"))
            if recipe.peft is None:
                _loading_code(trainer, recipe, staging)
            if recipe.peft is not None:
                prepared.summary.extra["adapter"] = save_peft_extras(trainer.model, staging)
            for path in sorted(staging.iterdir()):
                os.replace(path, run_dir / path.name)
                record.claim(path.name)
    finally:
        if writer:
            shutil.rmtree(staging, ignore_errors=True)


def _loading_code(trainer: Any, recipe: Recipe, folder: Path) -> None:
    """A model with heads removed by `llmkit prune` keeps the code that loads it without llmkit."""
    from llmkit.models.pruning import write_loading_code
    from llmkit.tasks import get_task

    model = trainer.accelerator.unwrap_model(trainer.model)
    write_loading_code(folder, model, get_task(recipe.task).auto_model)


def write_metrics(record: RunRecord, content: dict[str, Any]) -> None:
    """Write metrics.json and add it to the run's manifest."""
    write_json(record.run_dir / METRICS_FILE, content)
    record.claim(METRICS_FILE)


def metrics_file(
    recipe: Recipe,
    train_metrics: dict[str, float],
    splits: dict[str, SplitResult],
    prepared: Prepared,
    summary: dict[str, Any],
    wall: float,
) -> dict[str, Any]:
    """The content of metrics.json."""
    from llmkit.tasks import get_task
    from llmkit.train.review import confusion, mistakes

    labels = prepared.summary.labels
    matrices = {}
    if get_task(recipe.task).confusion_matrix:
        matrices = {split: confusion(result.rows, labels) for split, result in splits.items() if result.rows}
    wrong = {split: mistakes(result.rows) for split, result in splits.items()}
    return {
        "task": recipe.task,
        "train": train_metrics,
        **{split: result.metrics for split, result in splits.items()},
        "tables": {split: result.tables for split, result in splits.items() if result.tables},
        "samples": {split: result.rows[:SAMPLE_ROWS] for split, result in splits.items() if result.rows},
        "mistakes": {split: rows for split, rows in wrong.items() if rows},
        "confusion": {split: matrix for split, matrix in matrices.items() if matrix},
        "data": prepared.summary.to_json(),
        "summary": summary,
        "wall_time_s": round(wall, 3),
    }


def run_summary(trainer: Any, train_metrics: dict[str, float], wall: float, run_dir: Path) -> dict[str, Any]:
    """The end-of-run facts: best metric and checkpoint, wall time, throughput, peak memory, files."""
    from llmkit.train.report import REPORT_FILE
    from llmkit.train.runlog import METRICS_LOG, peak_memory_mb

    state = trainer.state
    best = state.best_model_checkpoint
    summary: dict[str, Any] = {
        "wall_time_s": round(wall, 2),
        "steps": state.global_step,
        "train_samples_per_second": train_metrics.get("train_samples_per_second"),
        "best_metric": state.best_metric,
        "metric_for_best_model": trainer.args.metric_for_best_model if best else None,
        "best_checkpoint": Path(best).name if best else None,
        **peak_memory_mb(),
        "model": str(run_dir),
        "report": str(run_dir / REPORT_FILE),
        "log": str(run_dir / METRICS_LOG),
        "tensorboard": tensorboard_dir(trainer),
    }
    return {k: v for k, v in summary.items() if v is not None}


def tensorboard_dir(trainer: Any) -> str | None:
    """Where Trainer's TensorBoard callback wrote this run's events (None when report_to leaves it out).

    Read from the callback itself: ``<run dir>/runs/<date>_<host>`` by default, or TENSORBOARD_LOGGING_DIR.
    """
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.logging_dir:
            return str(callback.logging_dir)
    return None


def write_card(run_dir: Path, task: Any) -> None:
    """README.md, the model card; a failure here is logged, never fatal to a finished run."""
    from llmkit.train.card import write_run_card

    try:
        write_run_card(run_dir, task)
    except Exception as exc:  # the model and metrics are already saved
        if is_disk_full(exc):
            raise
        log.warning("could not write the model card README.md: %s", exc)


def write_report(run_dir: Path, record: dict[str, Any] | None = None) -> None:
    """Build report.html (from ``record`` when given: newer than run.json); a failure is logged, never fatal."""
    from llmkit.train.report import build_report

    try:
        build_report(run_dir, record)
    except Exception as exc:  # the model and metrics are already saved
        if is_disk_full(exc):
            raise  # exit 6 like every other phase: the report is part of what the run promised to write
        log.warning("could not write report.html: %s", exc)
