"""The recipe format's JSON Schema: shipped files up to date, recipes pointing at them, keys all described."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from llmkit.config import shipped_recipes, shipped_recipes_dir
from llmkit.config.shipped import SCHEMA_DIR, schema_comment, schema_file_name
from llmkit.recipe import recipe_json_schema, recipe_schema_text
from llmkit.tasks import TASKS

REBUILD = "out of date; run `python scripts/build_recipe_schemas.py` and commit recipes/"


@pytest.mark.parametrize("task", [*TASKS, None], ids=lambda task: task or "any-task")
def test_the_shipped_schema_files_match_the_code(task):
    path = shipped_recipes_dir() / SCHEMA_DIR / schema_file_name(task)
    assert path.is_file(), f"{path} missing: {REBUILD}"
    assert path.read_text(encoding="utf-8") == recipe_schema_text(task), f"{path} {REBUILD}"


def resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The object schema behind a property: follow ``$ref`` and the non-null branch of ``anyOf``."""
    if "$ref" in schema:
        return resolve(root["$defs"][schema["$ref"].rsplit("/", 1)[-1]], root)
    for branch in schema.get("anyOf", []):
        if branch.get("type") != "null":
            return resolve(branch, root)
    return schema


def unknown_keys(value: Any, schema: dict[str, Any], root: dict[str, Any], where: str = "") -> list[str]:
    """Keys of ``value`` (nested mappings included) that a closed object schema does not describe."""
    schema = resolve(schema, root)
    if not isinstance(value, dict) or "properties" not in schema:
        return []
    found = []
    for key, item in value.items():
        if key not in schema["properties"]:
            found.append(f"{where}{key}")
        else:
            found += unknown_keys(item, schema["properties"][key], root, f"{where}{key}.")
    return found


@pytest.mark.parametrize("name", sorted(shipped_recipes()))
def test_each_shipped_recipe_points_at_its_schema_which_describes_every_key(name):
    path = shipped_recipes()[name]
    text = path.read_text(encoding="utf-8")
    recipe = yaml.safe_load(text)
    assert text.splitlines()[0] == schema_comment(recipe["task"]), f"{path}: first line {REBUILD}"
    schema = json.loads((path.parent / SCHEMA_DIR / schema_file_name(recipe["task"])).read_text(encoding="utf-8"))
    assert schema["properties"]["task"]["const"] == recipe["task"]
    assert unknown_keys(recipe, schema, schema) == []
    # Closed at every level, so an editor flags a typo where it is typed.
    assert unknown_keys({**recipe, "trainig": {}}, schema, schema) == ["trainig"]
    assert unknown_keys({"training": {"learning_rte": 1}}, schema, schema) == ["training.learning_rte"]
    assert schema["additionalProperties"] is False


def test_the_any_task_schema_is_a_union_discriminated_by_task():
    schema = recipe_json_schema()
    assert schema["discriminator"]["propertyName"] == "task"
    assert set(schema["discriminator"]["mapping"]) == set(TASKS)
    consts = [
        schema["$defs"][branch["$ref"].rsplit("/", 1)[-1]]["properties"]["task"]["const"] for branch in schema["oneOf"]
    ]
    assert consts == list(TASKS)


def test_training_fields_carry_the_transformers_docs():
    training = recipe_json_schema("textcls")["$defs"]["TrainingSection"]["properties"]
    assert "learning rate" in training["learning_rate"]["description"]
