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


# --- Examples, flags, fixed values and completion (#23) ---


def examples_of(command: Any) -> list[str]:
    """The example command lines of a command's epilog (rich markup escapes undone)."""
    return [line.strip()[2:].replace("\\[", "[") for line in (command.epilog or "").splitlines() if "$ " in line]


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda path: " ".join(path) or "llmkit")
def test_every_help_ends_with_an_examples_block_and_shows_no_bool_type(cli, path):
    # Walks the app, so a command added later without `epilog=examples_epilog(...)` fails here.
    name = " ".join(("llmkit", *path))
    examples = examples_of(COMMANDS[path])
    assert 2 <= len(examples) <= 3, f"{name}: give 2-3 examples with epilog=examples_epilog(...)"
    assert all(example.startswith(name) for example in examples), examples
    assert all(len(example) <= 74 for example in examples), "an example must fit an 80-column terminal unwrapped"
    shown = cli(*path, "--help").stdout  # CliRunner renders 80 columns wide
    lines = [line.strip() for line in shown[shown.index("Examples") :].splitlines()]
    assert [line for line in lines if line.startswith("$ ")] == [f"$ {example}" for example in examples]
    # Flags take no value, so no type column; a group built with plain typer.Typer shows <bool>.
    assert "<bool>" not in shown, f"{name}: build command groups with llmkit.cli.help.LlmkitTyper"


def test_options_with_fixed_values_list_them(cli):
    from typer.testing import CliRunner

    from llmkit.cli import app

    def squeezed(*args: str) -> str:  # 200 columns: at 80 rich folds a long value list over two lines
        shown = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "200"}).stdout
        return "".join(shown.split())

    assert "--format<hf|onnx>" in squeezed("export")
    assert "--quantize<dynamic-int8>" in squeezed("export")
    assert "--split<train|validation|test>" in squeezed("eval")
    assert "--device<cpu|cuda|cuda:N|mps>" in squeezed("generate")
    assert "--dtype<auto|float32|bfloat16|float16>" in squeezed("generate")


def dry_runnable() -> list[str]:
    """The examples of the commands that run without a finished run (train commands as dry runs, recipes)."""
    found = []
    for path, command in COMMANDS.items():
        if path[:1] in (("finetune",), ("pretrain",), ("recipes",)):
            found += [e for e in examples_of(command) if "|" not in e and "copy" not in e and "--output" not in e]
    return found


@pytest.mark.parametrize("example", dry_runnable())
def test_the_examples_of_train_and_recipes_commands_run(cli, example):
    import shlex

    args = shlex.split(example)[1:]
    if args[0] in ("finetune", "pretrain") and "--dry-run" not in args:
        args.append("--dry-run")
    result = cli(*args)
    assert result.exit_code == 0, (example, result.output)


def complete(cli, words: str) -> list[str]:
    """What bash gets when TAB is pressed after ``words`` (the last word is the incomplete one)."""
    from typer.testing import CliRunner

    from llmkit.cli import app

    parts = words.split(" ")
    env = {"_LLMKIT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}
    result = CliRunner().invoke(app, [], env=env, prog_name="llmkit")
    assert result.exit_code == 0, result.output
    return result.stdout.split()


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("llmkit finetune tex", ["textcls"]),
        ("llmkit finetune t", ["textcls", "tokencls", "translation"]),
        ("llmkit pretrain c", ["clm"]),
        ("llmkit validate multi", ["multiple_choice"]),
        ("llmkit recipes show q", ["qa"]),
        ("llmkit recipes copy summ", ["summarization"]),
        ("llmkit export RUN OUT --format ", ["hf", "onnx"]),
        ("llmkit export RUN OUT --quantize ", ["dynamic-int8"]),
        ("llmkit eval RUN --split v", ["validation"]),
        ("llmkit generate --dtype b", ["bfloat16"]),
        ("llmkit generate --device c", ["cpu", "cuda"]),
        ("llmkit generate --task m", ["mlm", "multiple_choice"]),
        ("llmkit recipes schema tr", ["translation"]),
    ],
)
def test_the_shell_completes_recipe_names_and_fixed_values(cli, words, expected):
    assert complete(cli, words) == expected


def test_completion_in_zsh_describes_each_recipe_and_the_script_is_offered(cli):
    from typer.testing import CliRunner

    from llmkit.cli import app

    env = {"_LLMKIT_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "llmkit finetune textc"}
    zsh = CliRunner().invoke(app, [], env=env, prog_name="llmkit")
    assert '"textcls":"Text classification"' in zsh.stdout
    script = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="llmkit")
    assert script.exit_code == 0 and "_LLMKIT_COMPLETE=complete_bash" in script.stdout
    assert "--install-completion" in cli("--help").stdout
