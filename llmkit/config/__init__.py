"""Recipes: YAML -> dotted overrides -> one validated, frozen ``Recipe``. This layer knows no task.

Only pydantic, yaml and ``llmkit.errors`` are imported here, so ``--dry-run`` and ``validate`` never pay
for torch. Precedence, lowest to highest: schema defaults < YAML < ``a.b=value`` overrides < invocation
options (applied by the CLI through :func:`updated`). The recipe of one task (its data model and options
section) is composed in ``llmkit.recipe``, above the task registry.
"""

from __future__ import annotations

from typing import Any

from llmkit.config.dump import REDACTED, recipe_to_dict, recipe_to_yaml, redact_argv, updated
from llmkit.config.sections import (
    DataSection,
    DistillSection,
    EvalSection,
    GenerateSection,
    ModelSection,
    PathField,
    PeftSection,
    Recipe,
    Section,
    TokenizerSection,
    TokenizerTrainSection,
)
from llmkit.config.shipped import RECIPE_SUFFIXES, resolve_recipe_path, shipped_recipes, shipped_recipes_dir
from llmkit.config.training import training_field_help
from llmkit.config.validate import LoadedRecipe

__all__ = [
    "RECIPE_SUFFIXES",
    "REDACTED",
    "DataSection",
    "DistillSection",
    "EvalSection",
    "GenerateSection",
    "LoadedRecipe",
    "ModelSection",
    "PathField",
    "PeftSection",
    "Recipe",
    "Section",
    "TokenizerSection",
    "TokenizerTrainSection",
    "recipe_to_dict",
    "recipe_to_yaml",
    "redact_argv",
    "resolve_recipe_path",
    "shipped_recipes",
    "shipped_recipes_dir",
    "training_field_help",
    "updated",
]

# Task-aware names that moved to llmkit.recipe. They resolve lazily (PEP 562), so that importing
# llmkit.config never imports the task registry; this shim goes when the last callers import llmkit.recipe.
_MOVED_TO_RECIPE = ("recipe_model", "load_recipe", "load_recipe_data", "load_saved_recipe", "parse_recipe_text")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_RECIPE:
        import llmkit.recipe

        return getattr(llmkit.recipe, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
