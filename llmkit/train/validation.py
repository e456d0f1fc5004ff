"""``llmkit validate``: open the data, tokenize it, resolve model and tokenizer and size the model, untrained."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from llmkit.config import LoadedRecipe, Recipe
from llmkit.tasks import get_task
from llmkit.tasks.spec import TaskSpec
from llmkit.train.arguments import build_training_args
from llmkit.train.libraries import quiet_libraries
from llmkit.train.results import ValidationReport
from llmkit.train.setup import Inputs, load_inputs


def validate(loaded: LoadedRecipe) -> ValidationReport:
    """Check a recipe the way a run would before its first step, without training.

    Raises the same errors (and exit codes) a real run would meet before its first step.
    """
    recipe = loaded.recipe
    task = get_task(recipe.task)
    quiet_libraries()
    args = build_training_args(recipe, Path(tempfile.gettempdir()) / "llmkit-validate", report_to="none")
    inputs = load_inputs(recipe, "validate", args=args)
    prepared, tokenizer = inputs.prepared, inputs.tokenizer
    checkpoint_labels = getattr(inputs.model_config, "num_labels", None)
    for key, value in prepared.model_kwargs.items():
        setattr(inputs.model_config, key, value)
    warnings: list[str] = []
    splits = {split: _split_info(inputs, split, warnings) for split in prepared.features}
    model = _meta_model(task, inputs.model_config)
    parameters = sum(p.numel() for p in model.parameters())
    labels = prepared.state.get("labels")
    warnings += _head_warnings(recipe, prepared.model_kwargs.get("num_labels"), checkpoint_labels)
    if "validation" not in prepared.features and args.eval_strategy != "no":
        warnings.append("no validation data, but training.eval_strategy is not 'no'")
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        warnings.append("the tokenizer has more tokens than the model's embeddings: they will be resized")
    return ValidationReport(
        task=recipe.task,
        model=recipe.model.label,
        splits=splits,
        labels=list(labels) if labels else None,
        parameters=parameters,
        trainable_memory_mb=round(parameters * 16 / 2**20, 1),
        tokenizer={
            "class": type(tokenizer).__name__,
            "vocab_size": len(tokenizer),
            "pad_token": tokenizer.pad_token,
            "model_max_length": getattr(tokenizer, "model_max_length", None),
        },
        warnings=warnings,
    )


def _split_info(inputs: Inputs, split: str, warnings: list[str]) -> dict[str, Any]:
    """Rows, features, length percentiles and truncated inputs of one split (a warning for the latter)."""
    import numpy as np

    features = inputs.prepared.features[split]
    info: dict[str, Any] = {"rows read": inputs.raw.rows_read.get(split), "features": len(features)}
    if "input_ids" in features.column_names:
        # one length per token sequence: a multiple-choice example holds one sequence per choice
        lengths = np.array([len(seq) for ids in features["input_ids"] for seq in _sequences(ids)])
        for q in (50, 90, 99):
            info[f"p{q}"] = int(np.percentile(lengths, q))
        info["max"] = int(lengths.max())
    info["truncated"] = int((inputs.prepared.summary.truncated or {}).get(split, 0))
    if info["truncated"]:
        warnings.append(f"{split}: {info['truncated']} input(s) longer than data.max_seq_length will be truncated")
    return info


def _sequences(ids: list[Any]) -> list[list[Any]]:
    """The token sequences of one feature: itself, or its rows when it nests them (multiple choice)."""
    return ids if ids and isinstance(ids[0], list) else [ids]


def _meta_model(task: TaskSpec, model_config: Any) -> Any:
    """The model built on the meta device: its size and embeddings, without allocating its weights."""
    import torch
    import transformers

    with torch.device("meta"):
        return getattr(transformers, task.auto_model).from_config(model_config)


def _head_warnings(recipe: Recipe, new_labels: int | None, checkpoint_labels: int | None) -> list[str]:
    """A checkpoint whose head does not match the data's labels gets a new head: worth saying."""
    source = "builtin" if recipe.model.name_or_path is None else resolve_source_kind(recipe.model.name_or_path)
    if new_labels and source != "builtin" and checkpoint_labels not in (None, new_labels):
        return [
            f"the checkpoint's head has {checkpoint_labels} outputs and the data {new_labels} labels: "
            "the head is initialised anew"
        ]
    return []


def resolve_source_kind(name_or_path: str) -> str:
    """builtin, local or hub (see models.resolve_source)."""
    from llmkit.models import resolve_source

    return resolve_source(name_or_path).kind
