"""Generic recipe validation: overrides, llmkit's training defaults, paths, schema, value checks.

The schema is a parameter: ``llmkit.recipe`` composes it for the recipe's task, so this layer stays
task-free. Every problem found is collected, and one ConfigError lists them all with ``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from llmkit.config.messages import Locator, Problem, describe
from llmkit.config.overrides import apply_overrides
from llmkit.config.paths import resolve_paths
from llmkit.config.sections import Recipe
from llmkit.config.training import RESERVED
from llmkit.config.training_checks import training_problems
from llmkit.config.yamlio import KeyPath
from llmkit.errors import ConfigError

# The run directory's record file (``rundir.RUN_FILE``); the config layer does not import the runner's modules.
RUN_FILE = "run.json"


@dataclass(frozen=True)
class LoadedRecipe:
    """A validated recipe plus where it came from."""

    recipe: Recipe  # of the class composed for its task (``llmkit.recipe.recipe_model``)
    name: str  # recipe file stem: default run directory name
    path: Path | None
    overrides: tuple[str, ...] = ()
    lines: dict[KeyPath, int] = field(default_factory=dict, compare=False, repr=False)


def with_overrides(
    raw: Any, *, source: str, lines: dict[KeyPath, int], overrides: list[str] | tuple[str, ...]
) -> tuple[dict[str, Any], Locator]:
    """The recipe mapping with ``a.b=value`` overrides applied, and the locator for its messages."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a recipe must be a YAML mapping of sections, got {type(raw).__name__}")
    data, touched = apply_overrides(raw, list(overrides))
    return data, Locator(source, lines, touched)


def validate_data(
    data: dict[str, Any],
    where: Locator,
    schema: type[BaseModel],
    *,
    task_defaults: dict[str, Any],
    reserved: dict[str, str] | None = None,
    arguments: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    command: str | None = None,
    path: Path | None = None,
    base_dir: Path | None = None,
    problems: list[Problem] | None = None,
) -> LoadedRecipe:
    """Validate overridden recipe data against ``schema``; raise one ConfigError listing every problem.

    ``command`` is the llmkit command about to run (None: only validating); with it, or for a recipe that
    is not the one saved in a run directory, the environment checks (packages, files) run too.
    ``problems``: what the caller already found (the task's own rules), reported with the rest.
    ``reserved``: training fields the task sets from its own keys (-> how to set them); ``arguments``: the
    TrainingArguments subclass the task trains with (its fields are the ``training:`` schema's).
    """
    reserved = {**RESERVED, **(reserved or {})}
    problems = [*(problems or []), *_reserved_training_keys(data, reserved)]
    given = set(data["training"]) if isinstance(data.get("training"), dict) else set()
    data = _with_defaults(data, task_defaults)
    data = resolve_paths(data, schema, base_dir or (path.parent if path else Path.cwd()), where.touched)
    try:
        recipe = schema.model_validate(data)
    except ValidationError as exc:
        problems += describe(exc, data, schema)
        recipe = None
    environment = command is not None or not _in_run_directory(path)
    problems += _value_problems(data, {p for p, _ in problems}, given, environment, reserved, arguments)
    if problems:
        raise ConfigError(where.lines_of(problems))
    name = path.stem if path else "run"
    return LoadedRecipe(recipe=recipe, name=name, path=path, overrides=tuple(overrides), lines=where.lines)


def _has_validation(data: dict[str, Any]) -> bool:
    """Whether the (raw) data section names validation data, as ``DataSection.has_validation`` says."""
    section = data.get("data") if isinstance(data.get("data"), dict) else {}
    return any(section.get(k) for k in ("validation_file", "validation_split_percentage", "dataset_name"))


def _in_run_directory(path: Path | None) -> bool:
    """Whether ``path`` is the recipe saved in a run directory (beside its ``run.json``)."""
    return path is not None and (path.parent / RUN_FILE).is_file()


def _value_problems(
    data: dict[str, Any],
    reported: set[tuple[Any, ...]],
    given: set[str],
    environment: bool,
    reserved: dict[str, str],
    arguments: str | None,
) -> list[Problem]:
    """What TrainingArguments, Trainer and torch would refuse later (``llmkit.config.training_checks``)."""
    training = data.get("training")
    if not isinstance(training, dict) or ("training",) in reported:
        return []
    evaluation = data.get("eval") if isinstance(data.get("eval"), dict) else {}
    skip = {str(p[1]) for p in reported if len(p) >= 2 and p[0] == "training"} | set(reserved)
    found = training_problems(
        {k: v for k, v in training.items() if k not in reserved},
        has_validation=_has_validation(data),
        early_stopping=bool(evaluation.get("early_stopping_patience")),
        skip=skip,
        given=given,
        environment=environment,
        arguments=arguments,
    )
    return [(p, m) for p, m in found if p not in reported]


def _with_defaults(data: dict[str, Any], task_defaults: dict[str, Any]) -> dict[str, Any]:
    """Fill llmkit's training defaults, then the task's (lowest precedence), so that --dry-run shows them."""
    training = data.get("training")
    if training is not None and not isinstance(training, dict):
        return data  # the validator reports the wrong type
    training = dict(training or {})
    has_validation = _has_validation(data)
    defaults: dict[str, Any] = {
        "eval_strategy": "epoch" if has_validation else "no",
        "logging_steps": 10,
        "report_to": "none",
        "save_total_limit": 2,
        "logging_nan_inf_filter": False,  # show NaN losses in logs; llmkit stops on them anyway
        **task_defaults,
    }
    for key, value in defaults.items():
        training.setdefault(key, value)
    # Trainer requires matching strategies when it keeps the best checkpoint.
    training.setdefault("save_strategy", training["eval_strategy"] if training["eval_strategy"] != "no" else "epoch")
    if training.get("load_best_model_at_end") and training["eval_strategy"] == "no":
        training["load_best_model_at_end"] = False
    return {**data, "training": training}


def _reserved_training_keys(data: dict[str, Any], reserved: dict[str, str]) -> list[Problem]:
    training = data.get("training")
    if not isinstance(training, dict):
        return []
    return [
        (("training", key), f"training.{key}: set by llmkit, not in recipes ({reserved[key]})")
        for key in training
        if key in reserved
    ]
