"""Recipes: YAML -> dotted overrides -> one validated, frozen ``Recipe``. This layer knows no task.

Only pydantic, yaml and ``llmkit.errors`` are imported here, so ``--dry-run`` and ``validate`` never pay
for torch. Precedence, lowest to highest: schema defaults < YAML < ``a.b=value`` overrides < invocation
options (applied by the CLI through :func:`updated`). The recipe of one task (its data model and options
section) is composed in ``llmkit.recipe``, above the task registry.
"""

from __future__ import annotations

from llmkit.config.dump import REDACTED, recipe_to_dict, recipe_to_yaml, redact_argv, updated
from llmkit.config.sections import (
    CardSection,
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
    "CardSection",
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
