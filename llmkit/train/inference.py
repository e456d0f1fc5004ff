"""Loading a model for `llmkit generate`, export and distillation teachers, outside any training run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmkit.config import updated
from llmkit.errors import ModelError
from llmkit.models import is_run_directory, load_config, load_model, load_tokenizer
from llmkit.recipe import load_saved_recipe
from llmkit.tasks import get_task
from llmkit.train.libraries import quiet_libraries
from llmkit.train.results import LoadedModel
from llmkit.train.rundir import RECIPE_FILE
from llmkit.train.setup import from_run_dir


def load_for_inference(
    model_ref: str, task_name: str | None = None, dtype: str | None = None, device: str | None = None
) -> LoadedModel:
    """Load a run directory (task from its recipe) or a plain checkpoint (task from its architecture),
    on ``device`` (default: CUDA, then MPS, then CPU) with weights in ``dtype`` when given."""
    quiet_libraries()
    from llmkit.config import ModelSection
    from llmkit.generation import pick_device

    path = Path(model_ref)
    recipe = load_saved_recipe(path / RECIPE_FILE) if is_run_directory(path) else None
    section = ModelSection(name_or_path=model_ref)
    if recipe is not None:
        task_name = task_name or recipe.task
        section = updated(recipe, from_run_dir(path)).model
    tokenizer = load_tokenizer(section)
    config = load_config(section, tokenizer)
    if task_name is None:
        task_name = task_for_config(config)
    task = get_task(task_name)
    if dtype is not None:
        section = section.model_copy(update={"dtype": dtype})
    if task.load_model is not None:
        model = task.load_model(section, config, recipe=recipe, tokenizer=tokenizer)
    else:
        model = load_model(section, task.auto_model, config)
    model.to(device or pick_device())
    model.eval()
    return LoadedModel(task=task, model=model, tokenizer=tokenizer, recipe=recipe)


def task_for_config(config: Any) -> str:
    """Guess the task of a plain checkpoint from its architecture name (each task lists its suffixes)."""
    from llmkit.tasks import TASKS

    architectures = list(getattr(config, "architectures", None) or [])
    for name in TASKS:
        suffixes = get_task(name).architectures
        if any(arch.endswith(suffix) for arch in architectures for suffix in suffixes):
            return name
    raise ModelError(
        f"cannot tell which task this checkpoint is for (architectures: {', '.join(architectures) or 'none'}); "
        f"pass --task ({', '.join(TASKS)})"
    )
