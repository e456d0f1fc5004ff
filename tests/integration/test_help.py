"""``--help`` works for every command and subcommand, shows the command's own help line, and stays light.

The command list is read from the Typer app itself, so a new command is covered without touching this file.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from llmkit.cli import app

HEAVY = ("torch", "transformers", "datasets")


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (argv path, command) under a click command, the root first.

    Typer vendors click, so a group is recognised by its ``commands`` mapping, not by ``click.Group``.
    """
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            yield from walk(sub, (*path, name))


COMMANDS = dict(walk(typer.main.get_command(app)))


def help_line(command: Any) -> str:
    """The first paragraph of a command's help, whitespace collapsed (rich wraps it to the terminal)."""
    return " ".join((command.help or "").split("\n\n")[0].split())


def test_the_walk_finds_every_command_of_the_cli():
    # A floor, not a copy of the list: a walk that stopped at the top level would still "pass" every case below.
    names = {" ".join(path) for path in COMMANDS}
    assert {"finetune", "pretrain", "eval", "generate", "validate", "export", "report", "runs"} <= names
    assert {"recipes", "recipes list", "recipes show", "recipes copy"} <= names


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda path: " ".join(path) or "llmkit")
def test_help_exits_0_and_shows_the_commands_own_help_line(cli, path):
    command = COMMANDS[path]
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    shown = " ".join(result.stdout.split())
    assert "Usage:" in shown
    assert help_line(command), f"{' '.join(path) or 'llmkit'} has no help text"
    assert help_line(command) in shown
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            assert name in shown, f"{name} missing from the help of {' '.join(path) or 'llmkit'}"


# Run the way a user does (`python -m llmkit --help`, through runpy as -m does), then every other --help in
# the same fresh interpreter (the walk is this module's), and only then look at what got imported.
LIGHT = f"""
import runpy, sys
sys.argv = ["llmkit", "--help"]
try:
    runpy.run_module("llmkit", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    assert stop.code in (0, None), stop.code
from typer.testing import CliRunner
from llmkit.cli import app
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
from test_help import COMMANDS
runner = CliRunner()
for path in COMMANDS:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, (path, result.output)
heavy = [name for name in {HEAVY!r} if name in sys.modules]
assert not heavy, f"--help imported {{heavy}}"
"""


def test_python_dash_m_help_and_every_subcommand_help_import_no_heavy_library():
    result = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout and "finetune" in result.stdout
