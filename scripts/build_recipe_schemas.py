"""Write the JSON Schemas of the recipe format into recipes/schema/ and point every shipped recipe at its own.

recipes/schema/<task>.schema.json describes the recipe of one task, recipes/schema/recipe.schema.json a
recipe of any task (both as `llmkit recipes schema [TASK]` prints them). Each shipped recipe's first line
becomes `# yaml-language-server: $schema=schema/<task>.schema.json`, which editors running
yaml-language-server (VS Code's YAML extension, Neovim and other LSP clients) read to validate and complete keys.
tests/unit/test_recipe_schema.py fails when these files fall behind the code; re-run after changing a
recipe section, a task's options, a task, or the transformers pin (the training section follows it):

    python scripts/build_recipe_schemas.py
"""

from __future__ import annotations

import yaml

from llmkit.config.shipped import SCHEMA_COMMENT, SCHEMA_DIR, schema_comment, schema_file_name, shipped_recipes_dir
from llmkit.recipe import recipe_schema_text
from llmkit.tasks import TASKS


def with_schema_comment(text: str, task: str) -> str:
    """``text`` starting with the schema comment of ``task`` (replacing an older one)."""
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith(SCHEMA_COMMENT):
        lines = lines[1:]
    return schema_comment(task) + "\n" + "".join(lines)


def main() -> None:
    recipes = shipped_recipes_dir()
    folder = recipes / SCHEMA_DIR
    folder.mkdir(exist_ok=True)
    for task in (*TASKS, None):
        (folder / schema_file_name(task)).write_text(recipe_schema_text(task), encoding="utf-8")
    shipped = sorted(recipes.glob("*.yaml"))
    for path in shipped:
        text = path.read_text(encoding="utf-8")
        path.write_text(with_schema_comment(text, yaml.safe_load(text)["task"]), encoding="utf-8")
    print(f"wrote {len(TASKS) + 1} schemas to {folder} and the schema comment of {len(shipped)} recipes")


if __name__ == "__main__":
    main()
