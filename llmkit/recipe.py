"""The recipe of one task: the task-free sections of ``llmkit.config`` composed with the task registry.

This is the one module that knows "the recipe for task X". It sits above ``llmkit.tasks`` because the
tasks subclass config's sections, so composing them in ``config`` would make config depend on the layer
that depends on it. Only the one task a recipe names is imported, so ``--dry-run`` stays cheap.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, create_model, field_validator

from llmkit.config.messages import Locator, Problem
from llmkit.config.sections import Recipe
from llmkit.config.shipped import resolve_recipe_path
from llmkit.config.training import training_section_model
from llmkit.config.validate import LoadedRecipe, validate_data, with_overrides
from llmkit.config.yamlio import KeyPath, parse_yaml, read_yaml
from llmkit.errors import ConfigError, UsageError, did_you_mean
from llmkit.tasks import TASKS, get_task

if TYPE_CHECKING:
    from llmkit.tasks.spec import TaskSpec


class TaskRecipe(Recipe):
    """Base of every composed recipe: ``task`` must name a registered task."""

    task: str = Field(description=f"One of: {', '.join(TASKS)}.")

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        if value not in TASKS:
            raise ValueError(f"unknown task '{value}'{did_you_mean(value, TASKS)} (known: {', '.join(TASKS)})")
        return value


@cache
def recipe_model(task_name: str) -> type[Recipe]:
    """The Recipe class for one task: its data model, its options section and the training section."""
    task = get_task(task_name)
    training = training_section_model(task.trainer.arguments_class if task.trainer else None)
    fields: dict[str, Any] = {
        "data": (task.data_model, Field(default_factory=task.data_model)),
        "training": (training, Field(default_factory=training)),
    }
    if task.options_model is not None:
        fields[task.name] = (task.options_model, Field(default_factory=task.options_model))
    return create_model(f"{task.name.title()}Recipe", __base__=TaskRecipe, **fields)


def load_recipe(
    name_or_path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    command: str | None = None,
) -> LoadedRecipe:
    """Read, override and validate a recipe file; raise one ConfigError listing every problem."""
    path = resolve_recipe_path(name_or_path)
    raw, lines = read_yaml(path)
    if raw is None:
        raise ConfigError(
            f"{path}: the recipe is empty (it needs task:, model: and data: sections); "
            "`llmkit recipes show textcls` prints a complete one"
        )
    return load_recipe_data(raw, source=str(path), lines=lines, overrides=overrides, command=command, path=path)


def load_recipe_data(
    raw: Any,
    *,
    source: str = "<recipe>",
    lines: dict[KeyPath, int] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    command: str | None = None,
    path: Path | None = None,
    base_dir: Path | None = None,
) -> LoadedRecipe:
    """Validate recipe data that is already parsed (a YAML mapping) against its task's recipe."""
    data, where = with_overrides(raw, source=source, lines=lines or {}, overrides=overrides)
    task = _task_of(data, where, command)
    return validate_data(
        data,
        where,
        recipe_model(task.name),
        task_defaults=task.training_defaults,
        reserved=task.trainer.reserved if task.trainer else None,
        arguments=task.trainer.arguments_class if task.trainer else None,
        overrides=overrides,
        command=command,
        path=path,
        base_dir=base_dir,
        problems=_task_problems(data, where, task),
    )


def _task_of(data: dict[str, Any], where: Locator, command: str | None) -> TaskSpec:
    """The spec of the recipe's task, checked against the registry and the command about to run."""
    task_name = data.get("task")
    if not isinstance(task_name, str) or task_name not in TASKS:
        shown = "missing" if task_name is None else f"unknown task '{task_name}'{did_you_mean(str(task_name), TASKS)}"
        raise ConfigError(f"{where(('task',))}task: {shown} (known: {', '.join(TASKS)})")
    task = get_task(task_name)
    if command is not None and command not in task.commands:
        raise UsageError(
            f"{where(('task',))}task: '{task_name}' runs with `llmkit {task.commands[0]}`, not `llmkit {command}`"
        )
    return task


def _task_problems(data: dict[str, Any], where: Locator, task: TaskSpec) -> list[Problem]:
    """What the task itself rules out, found at load time so that ``--dry-run`` and ``validate`` see it."""
    if data.get("distill") is None or task.distill is not None:
        return []
    able = ", ".join(name for name in TASKS if get_task(name).distill is not None)  # imports every task: error path
    # Where the section is written; when only overrides name it, the first of them ("command line: ").
    path = ("distill",)
    if path not in where.lines:
        path = next((key for key in sorted(where.touched) if key[:1] == path), path)
    return [(path, f"distill: task '{task.name}' is not supported (distillation works for: {able})")]


def load_saved_recipe(path: Path) -> Recipe:
    """Read a ``recipe.yaml`` written into a run directory (paths there are already absolute)."""
    raw, lines = read_yaml(path)
    return load_recipe_data(raw, source=str(path), lines=lines, path=path).recipe


def parse_recipe_text(text: str, source: str = "<string>") -> LoadedRecipe:
    """Validate recipe YAML given as text (used by tests and `recipes show`)."""
    raw, lines = parse_yaml(text, source)
    return load_recipe_data(raw, source=source, lines=lines)


def recipe_json_schema(task_name: str | None = None) -> dict[str, Any]:
    """The JSON Schema of the recipe of ``task_name``, or of any task (a union discriminated by ``task``).

    Editors running yaml-language-server (VS Code's YAML extension, Neovim) validate and complete recipe keys with it.
    The union is pydantic's discriminated union, a ``oneOf`` whose branches differ in ``task``'s ``const``:
    the form editors handle best, unlike ``if``/``then`` chains. Field descriptions come from the sections'
    (and ``TrainingArguments``') own docs. Imports every task module for the union, no model library.
    """
    from typing import Annotated, Union

    from pydantic import TypeAdapter

    if task_name is not None:
        get_task(task_name)  # an unknown name: ConfigError with a suggestion
        schema = _task_literal_model(task_name).model_json_schema()
        title = f"llmkit {task_name} recipe"
    else:
        branches = tuple(_task_literal_model(name) for name in TASKS)
        union = Annotated[Union[branches], Field(discriminator="task")]  # noqa: UP007 (a runtime tuple of models)
        schema = TypeAdapter(union).json_schema()
        title = "llmkit recipe"
    schema.pop("title", None)  # pydantic's class name; the title says what the file is
    return {"title": title, "$comment": "Written by `llmkit recipes schema`; do not edit.", **schema}


@cache
def _task_literal_model(task_name: str) -> type[Recipe]:
    """The recipe of one task with ``task`` typed as the literal name, so its schema says ``const``."""
    from typing import Literal

    task_type = Literal[task_name]  # type: ignore[valid-type]
    field = Field(description=f"The task this recipe trains: {task_name}.")
    return create_model(recipe_model(task_name).__name__, __base__=recipe_model(task_name), task=(task_type, field))


def recipe_schema_text(task_name: str | None = None) -> str:
    """:func:`recipe_json_schema` as the JSON text written to files (stable: the shipped files are compared)."""
    import json

    return json.dumps(recipe_json_schema(task_name), indent=1, ensure_ascii=False) + "\n"
