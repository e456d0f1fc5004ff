"""Experiment trackers (Weights & Biases, MLflow) get llmkit's recipe, not only TrainingArguments.

Trainer's own integrations (``training.report_to: [wandb]`` / ``[mlflow]``) start the tracker run, name it
after ``training.run_name`` (llmkit's default: the run directory's name, see ``build_training_args``) and log
TrainingArguments and the model config. What they cannot know is the recipe: the data files, the task
options, LoRA and distillation settings. :class:`RecipeConfig` adds the resolved, redacted recipe to the
run the integration started, through each tracker's public API, after the integration's own setup (Trainer
places its integration callbacks before the ones llmkit passes). Neither package is imported unless the
recipe reports to it, and a tracker that is not installed is left to Trainer's own error.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from transformers import TrainerCallback

log = logging.getLogger(__name__)
PREFIX = "llmkit"  # the recipe's keys sit under it, apart from the TrainingArguments the integrations log
MLFLOW_VALUE_LIMIT = 6000  # MLflow's longest parameter value (characters); longer values are cut
MLFLOW_BATCH = 100  # parameters per request, MLflow's limit


def flatten(node: Any, prefix: str = PREFIX) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"llmkit.a.b": 1}``; lists stay values (as JSON text), so each key is one setting."""
    if isinstance(node, dict) and node:
        flat: dict[str, Any] = {}
        for key, value in node.items():
            flat.update(flatten(value, f"{prefix}.{key}"))
        return flat
    return {prefix: json.dumps(node) if isinstance(node, list | dict) else node}


class RecipeConfig(TrainerCallback):
    """On the main process at the start of training: the recipe into wandb's config and MLflow's params."""

    def __init__(self, recipe: dict[str, Any]) -> None:
        self.recipe = recipe  # already redacted (config.recipe_to_dict)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        report_to = set(args.report_to or ())
        if "wandb" in report_to:
            self._to_wandb()
        if "mlflow" in report_to:
            self._to_mlflow()

    def _to_wandb(self) -> None:
        try:
            import wandb
        except ImportError:
            return
        if wandb.run is not None:  # started by Trainer's WandbCallback (or by the user)
            wandb.config.update({PREFIX: self.recipe}, allow_val_change=True)

    def _to_mlflow(self) -> None:
        try:
            import mlflow
        except ImportError:
            return
        if mlflow.active_run() is None:
            log.warning("mlflow: no active run to log the recipe to")
            return
        params = [(key, str(value)[:MLFLOW_VALUE_LIMIT]) for key, value in flatten(self.recipe).items()]
        for start in range(0, len(params), MLFLOW_BATCH):
            mlflow.log_params(dict(params[start : start + MLFLOW_BATCH]))
