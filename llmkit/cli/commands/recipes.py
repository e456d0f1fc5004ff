"""`llmkit recipes [list | show NAME | copy NAME DEST | schema [TASK]]`: the recipes shipped with llmkit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmkit.cli.examples import examples_epilog
from llmkit.cli.guard import guarded
from llmkit.cli.help import LlmkitTyper
from llmkit.cli.options import RecipeNameArg, complete_task

recipes_app = LlmkitTyper(
    help="List, show and copy the recipes shipped with llmkit; write the recipe format's JSON Schema.",
    invoke_without_command=True,
    epilog=examples_epilog(
        "llmkit recipes", "llmkit recipes show textcls", "llmkit recipes copy textcls my-textcls.yaml"
    ),
)


@recipes_app.callback()
def _recipes_root(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        recipes_list()


@recipes_app.command("list", epilog=examples_epilog("llmkit recipes list", "llmkit recipes list | grep MiniLM"))
def recipes_list() -> None:
    """List shipped recipes, one line each."""
    from llmkit.cli import console
    from llmkit.config import shipped_recipes
    from llmkit.config.shipped import recipe_description

    for name, path in shipped_recipes().items():
        console.out.print(f"[bold]{name:<14}[/] {recipe_description(path)}")


@recipes_app.command(
    "show", epilog=examples_epilog("llmkit recipes show textcls", "llmkit recipes show clm | head -20")
)
def recipes_show(name: RecipeNameArg) -> None:
    """Print a shipped recipe."""
    from llmkit.cli import console
    from llmkit.config import resolve_recipe_path

    path = guarded(False, lambda: resolve_recipe_path(name))
    console.out.print(path.read_text(encoding="utf-8"), end="", markup=False, highlight=False)


@recipes_app.command(
    "copy",
    epilog=examples_epilog(
        "llmkit recipes copy textcls my-textcls.yaml", "llmkit recipes copy qa my-qa.yaml --overwrite"
    ),
)
def recipes_copy(
    name: RecipeNameArg,
    dest: Annotated[Path, typer.Argument(help="File or folder to copy it to.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", "--force", help="Replace an existing file.")] = False,
) -> None:
    """Copy a shipped recipe to edit it (its data paths and schema comment are rewritten to stay valid)."""
    from llmkit.cli import console
    from llmkit.config import resolve_recipe_path

    def action() -> None:
        from llmkit.outputs import check_output_file, write_atomic

        source = resolve_recipe_path(name)
        target = dest / source.name if dest.is_dir() else dest
        check_output_file(target, "DEST", overwrite, flag="--overwrite (or --force)")
        write_atomic(target, _rebase_paths(source.read_text(encoding="utf-8"), source.parent), "DEST")
        console.info(f"copied {name} to {target}")

    guarded(False, action)


@recipes_app.command(
    "schema",
    epilog=examples_epilog(
        "llmkit recipes schema textcls",
        "llmkit recipes schema --output recipe.schema.json",
        "llmkit recipes schema qa -o qa.schema.json --overwrite",
    ),
)
def recipes_schema(
    task: Annotated[
        str | None,
        typer.Argument(
            help="The task whose recipe it describes (default: any task).",
            autocompletion=complete_task,
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write it to this file, not stdout (an existing file needs --overwrite)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --output file.")] = False,
) -> None:
    """Print the JSON Schema of the recipe format, for editors that validate and complete YAML keys.

    Editors read it from a recipe's first line: `# yaml-language-server: $schema=recipe.schema.json`.
    """
    from llmkit.cli import console

    def action() -> None:
        from llmkit.outputs import check_output_file, write_atomic
        from llmkit.recipe import recipe_schema_text

        if output is not None:
            check_output_file(output, "--output", overwrite)
        text = recipe_schema_text(task)
        if output is None:
            console.out.file.write(text)
            return
        write_atomic(output, text, "--output")
        console.info(f"wrote the {task or 'recipe'} schema to {output}")

    guarded(False, action)


def _rebase_paths(text: str, recipe_dir: Path) -> str:
    """Make relative data paths and the schema comment of a copied recipe absolute, so they stay valid."""
    import re

    from llmkit.config.shipped import SCHEMA_COMMENT

    def repl(match: re.Match[str]) -> str:
        key, value = match.group(1), match.group(2)
        candidate = recipe_dir / value
        return f"{key}{candidate.resolve()}" if candidate.exists() else match.group(0)

    text = re.sub(r"^(\s*\w+_file:\s*)([^\s#'\"]+)", repl, text, flags=re.M)
    return re.sub(rf"^({re.escape(SCHEMA_COMMENT)})(\S+)", repl, text, count=1)
