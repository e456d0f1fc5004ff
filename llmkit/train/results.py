"""What the train layer hands back to its callers (the CLI renders these; nothing here prints)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmkit.config import Recipe
from llmkit.tasks.spec import DataSummary, TaskSpec


@dataclass
class RunOptions:
    """How a training run is invoked (the options that are not part of the recipe)."""

    command: str
    output_dir: Path
    resume: bool = False
    overwrite: bool = False
    allow_config_change: bool = False
    strict: bool = False
    callbacks: list[Any] = field(default_factory=list)  # TrainerCallbacks from the CLI (progress display)
    argv: list[str] = field(default_factory=list)


@dataclass
class SplitResult:
    """Metrics, tables and per-example rows of one evaluated split."""

    metrics: dict[str, float]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunResult:
    """What a finished training run produced."""

    run_dir: Path
    task: str
    train_metrics: dict[str, float]
    splits: dict[str, SplitResult]
    data: DataSummary  # what the task's prepare found (metrics.json "data")
    wall_time: float
    facts: dict[str, Any] = field(default_factory=dict)  # best checkpoint, throughput, peak memory, files
    # (metrics.json "summary")


@dataclass
class EvalResult:
    """Metrics of one evaluated split, with its per-example rows."""

    target: str
    split: str
    source: str
    result: SplitResult


@dataclass
class LoadedModel:
    """A model ready for `llmkit generate`."""

    task: TaskSpec
    model: Any
    tokenizer: Any
    recipe: Recipe | None


@dataclass
class ValidationReport:
    """What `llmkit validate` found: data per split, the model's size, and warnings worth reading."""

    task: str
    model: str
    splits: dict[str, dict[str, Any]]  # split -> rows, truncated, length percentiles
    labels: list[str] | None
    parameters: int
    trainable_memory_mb: float  # weights + gradients + AdamW moments in fp32
    tokenizer: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
