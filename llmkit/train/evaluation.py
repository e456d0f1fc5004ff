"""``llmkit eval``: score a finished run (or a recipe's model) on one split or any file of its format."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmkit.tasks import get_task
from llmkit.train.arguments import build_training_args
from llmkit.train.libraries import quiet_libraries
from llmkit.train.model import build_model
from llmkit.train.results import EvalResult
from llmkit.train.setup import load_inputs, resolve_target
from llmkit.train.trainer import build_trainer, evaluate_split


def evaluate(
    target: str,
    overrides: list[str] | None = None,
    data_file: str | None = None,
    split: str | None = None,
    model_transform: Callable[[Any], Any] | None = None,
) -> EvalResult:
    """Score a finished run (or a recipe's model) on one split or on any file of the recipe's format.

    ``model_transform`` replaces the loaded model before scoring (`llmkit export --quantize` scores an int8 copy).
    """
    recipe = resolve_target(target, overrides or [])
    task = get_task(recipe.task)
    quiet_libraries()
    if split is None:
        split = "test" if (data_file or recipe.data.test_file) else "validation"
    inputs = load_inputs(recipe, "eval", split=split, data_file=data_file)
    model = build_model(recipe, task, inputs.tokenizer, inputs.model_config, inputs.prepared)
    if model_transform is not None:
        model = model_transform(model)
    with tempfile.TemporaryDirectory(prefix="llmkit-eval-") as scratch:
        args = build_training_args(
            recipe, Path(scratch), for_training=False, report_to="none", eval_strategy="no", save_strategy="no"
        )
        trainer = build_trainer(recipe, task, model, inputs.tokenizer, args, inputs.prepared, split, [])
        result = evaluate_split(trainer, recipe, task, inputs.prepared, split)
    return EvalResult(target=target, split=split, source=inputs.raw.sources.get(split, split), result=result)
