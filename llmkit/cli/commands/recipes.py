"""`llmkit recipes [list | show NAME | copy NAME DEST]`: the recipes shipped with llmkit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmkit.cli.guard import guarded

recipes_app = typer.Typer(help="List, show and copy the recipes shipped with llmkit.", invoke_without_command=True)


def _recipe_description(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


@recipes_app.callback()
def _recipes_root(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        recipes_list()


@recipes_app.command("list")
def recipes_list() -> None:
    """List shipped recipes, one line each."""
    from llmkit.cli import console
    from llmkit.config import shipped_recipes

    for name, path in shipped_recipes().items():
        console.out.print(f"[bold]{name:<14}[/] {_recipe_description(path)}")


@recipes_app.command("show")
def recipes_show(name: Annotated[str, typer.Argument(help="Recipe name, e.g. textcls.")]) -> None:
    """Print a shipped recipe."""
    from llmkit.cli import console
    from llmkit.config import resolve_recipe_path

    path = guarded(False, lambda: resolve_recipe_path(name))
    console.out.print(path.read_text(encoding="utf-8"), end="", markup=False, highlight=False)


@recipes_app.command("copy")
def recipes_copy(
    name: Annotated[str, typer.Argument(help="Recipe name, e.g. textcls.")],
    dest: Annotated[Path, typer.Argument(help="File or folder to copy it to.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", "--force", help="Replace an existing file.")] = False,
) -> None:
    """Copy a shipped recipe to edit it (its data paths are rewritten to stay valid)."""
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


def _rebase_paths(text: str, recipe_dir: Path) -> str:
    """Make relative data paths in a copied recipe absolute, so the copy finds the shipped data."""
    import re

    def repl(match: re.Match[str]) -> str:
        key, value = match.group(1), match.group(2)
        candidate = recipe_dir / value
        return f"{key}{candidate.resolve()}" if candidate.exists() else match.group(0)

    return re.sub(r"^(\s*\w+_file:\s*)([^\s#'\"]+)", repl, text, flags=re.M)
