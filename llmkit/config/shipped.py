"""The recipes shipped with llmkit, found by bare name (``llmkit finetune textcls``)."""

from __future__ import annotations

from pathlib import Path

import llmkit
from llmkit.errors import ConfigError, did_you_mean

RECIPE_SUFFIXES = (".yaml", ".yml")
# The saved recipe of a run directory (``rundir.RECIPE_FILE``); the config layer does not import the runner's.
SAVED_RECIPE = "recipe.yaml"
# The first line of a shipped recipe: the editor (yaml-language-server) validates and completes keys with it.
SCHEMA_COMMENT = "# yaml-language-server: $schema="
SCHEMA_DIR = "schema"  # recipes/schema/<task>.schema.json, and recipe.schema.json for any task
ANY_TASK_SCHEMA = "recipe.schema.json"


def schema_file_name(task: str | None) -> str:
    """The file name of the shipped schema of ``task``'s recipe (None: the schema of any task's)."""
    return f"{task}.schema.json" if task else ANY_TASK_SCHEMA


def schema_comment(task: str) -> str:
    """The first line of a shipped recipe of ``task``: its schema, relative to the recipes folder."""
    return f"{SCHEMA_COMMENT}{SCHEMA_DIR}/{schema_file_name(task)}"


def shipped_recipes_dir() -> Path:
    """The folder of recipes shipped with llmkit.

    A wheel holds them in ``llmkit/recipes`` (pyproject's force-include); a source checkout (editable
    install) has them in ``recipes/`` beside the package. The folder is found from the ``llmkit`` package
    itself, not from this module's ``__file__``, so it does not depend on where in the package this module
    lives (``importlib.resources.files("llmkit")`` gives the same folder but costs ~4 ms of imports).
    """
    package = Path(llmkit.__file__).resolve().parent
    for candidate in (package / "recipes", package.parent / "recipes"):
        if candidate.is_dir():
            return candidate
    return package / "recipes"


def shipped_recipes() -> dict[str, Path]:
    """Bare name -> path of every shipped recipe."""
    folder = shipped_recipes_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix in RECIPE_SUFFIXES}


def recipe_description(path: Path) -> str:
    """The first line of a recipe's comment header (after the schema comment), or "" without one."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(SCHEMA_COMMENT):
                continue
            if line.startswith("#"):
                return line.lstrip("#").strip()
            if line.strip():
                break
    return ""


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    """A recipe path as given, or a shipped recipe found by bare name (``textcls``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_recipes()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    if path.is_dir():
        saved = path / SAVED_RECIPE
        hint = f"; to re-run the run recorded there: --from-run {name_or_path}" if saved.is_file() else ""
        raise ConfigError(f"{name_or_path}: is a directory, not a recipe file{hint}")
    if path.suffix in RECIPE_SUFFIXES or "/" in str(name_or_path):
        raise ConfigError(f"{name_or_path}: recipe file not found")
    raise ConfigError(
        f"{name_or_path}: no such recipe file or shipped recipe{did_you_mean(str(name_or_path), shipped)}"
        f" (shipped: {', '.join(shipped) or 'none'})"
    )
