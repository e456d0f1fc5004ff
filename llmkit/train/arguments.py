"""TrainingArguments from a recipe, and the hardware rules applied to them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from llmkit.config import Recipe
from llmkit.errors import ConfigError
from llmkit.tasks import get_task


def build_training_args(recipe: Recipe, output_dir: Path, for_training: bool = True, **extra: Any) -> Any:
    """TrainingArguments from the recipe's ``training`` section plus llmkit's fixed choices."""
    from transformers import Seq2SeqTrainingArguments, TrainingArguments

    task = get_task(recipe.task)
    values = recipe.training.model_dump(exclude_unset=True)
    values.pop("output_dir", None)
    # Trackers (wandb, mlflow, trackio...) name the run after it; llmkit's name for a run is its directory.
    values.setdefault("run_name", Path(output_dir).resolve().name)
    values.update(extra)
    apply_hardware_rules(values, for_training)
    token = values.pop("hub_token", None)
    if token:  # kept out of TrainingArguments, which Trainer pickles into every checkpoint
        os.environ.setdefault("HF_TOKEN", token)
    cls = Seq2SeqTrainingArguments if task.seq2seq else TrainingArguments
    if task.trainer is not None:  # TRL's SFTConfig/DPOConfig: values from the task's own sections first
        cls = import_class(task.trainer.arguments_class, task.name)
        if task.trainer.arguments is not None:
            values = {**task.trainer.arguments(recipe), **values}
    if task.seq2seq:  # seq2seq tasks are scored on generated text
        values.setdefault("predict_with_generate", True)
    try:
        return cls(output_dir=str(output_dir), disable_tqdm=True, **values)
    except (ValueError, TypeError) as exc:
        # The library's whole message: its later lines often hold the fix ("... but found ...").
        message = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
        raise ConfigError(f"training: {message}") from None


def import_class(dotted: str, task_name: str) -> Any:
    """The class a ``TaskSpec.trainer`` names (``trl.trainer.sft_config.SFTConfig``), imported now."""
    import importlib

    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        package = module.partition(".")[0]
        raise ConfigError(
            f"task: '{task_name}' trains with {dotted}, which needs the {package} package "
            f"(pip install 'llmkit[{package}]'): {exc}"
        ) from None


def apply_hardware_rules(values: dict[str, Any], for_training: bool) -> None:
    """Refuse precision this machine cannot run; make CPU-only multi-process runs real DDP (gloo)."""
    import importlib.util

    from llmkit.train import hardware

    machine = hardware.detect()
    problem = hardware.precision_refusal(
        bool(values.get("bf16")), bool(values.get("fp16")), bool(values.get("use_cpu")), machine
    )
    if problem and for_training:
        raise ConfigError(problem)
    if problem:  # evaluating a run trained elsewhere in mixed precision: full precision here
        values["bf16"] = values["fp16"] = False
    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if hardware.needs_cpu_flag(world_size, values.get("use_cpu"), machine):
        values["use_cpu"] = True
    if values.get("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        raise ConfigError("training.deepspeed: needs the deepspeed package (`pip install deepspeed`, on a GPU machine)")
