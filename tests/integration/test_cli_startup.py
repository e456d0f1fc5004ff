"""The CLI starts fast and light: no torch/transformers for dry runs or recipe listing (--help: test_help.py)."""

import subprocess
import sys

import pytest

# A fresh interpreter, since this test process has long imported torch.
CHECK = (
    "import sys\n"
    "from typer.testing import CliRunner\n"
    "from llmkit.cli import app\n"
    "for args in (['finetune', 'textcls', '--dry-run'], ['recipes', 'list']):\n"
    "    result = CliRunner().invoke(app, args)\n"
    "    assert result.exit_code == 0, (args, result.output)\n"
    "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]\n"
    "assert not heavy, heavy\n"
)


def test_dry_run_and_recipe_listing_import_no_heavy_library():
    result = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "llmkit", "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("llmkit ")


@pytest.mark.parametrize("args", [["recipes"], ["recipes", "list"]])
def test_recipes_lists_shipped_recipes_with_descriptions(cli, args):
    result = cli(*args)
    assert result.exit_code == 0
    line = next(line for line in result.stdout.splitlines() if line.startswith("textcls"))
    assert "Text classification" in line


def test_recipes_show_prints_the_recipe(cli):
    result = cli("recipes", "show", "textcls")
    assert result.exit_code == 0 and "task: textcls" in result.stdout


def test_recipes_show_unknown_name_suggests(cli):
    result = cli("recipes", "show", "textclz")
    assert result.exit_code == 2 and "did you mean 'textcls'" in result.stderr


def test_recipes_copy_writes_a_recipe_that_validates(cli, tmp_path):
    result = cli("recipes", "copy", "textcls", tmp_path)
    assert result.exit_code == 0
    copied = tmp_path / "textcls.yaml"
    dry = cli("finetune", copied, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "wordnet-topics/train.csv" in dry.stdout
    again = cli("recipes", "copy", "textcls", tmp_path)
    assert again.exit_code == 2 and "--force" in again.stderr


def test_dry_run_prints_resolved_recipe_with_overrides(cli):
    result = cli("finetune", "textcls", "training.learning_rate=3e-5", "data.max_seq_length=48", "--dry-run")
    assert result.exit_code == 0
    assert "learning_rate: 3.0e-05" in result.stdout and "max_seq_length: 48" in result.stdout


def test_recipes_schema_prints_writes_and_refuses_to_overwrite(cli, tmp_path):
    import json

    from llmkit.recipe import recipe_json_schema

    printed = cli("recipes", "schema", "textcls")
    assert printed.exit_code == 0 and json.loads(printed.stdout) == recipe_json_schema("textcls")
    out = tmp_path / "recipe.schema.json"
    assert cli("recipes", "schema", "--output", out).exit_code == 0
    assert json.loads(out.read_text())["discriminator"]["propertyName"] == "task"
    out.write_text("mine")
    again = cli("recipes", "schema", "qa", "-o", out)
    assert again.exit_code == 2 and "--overwrite" in again.stderr and out.read_text() == "mine"
    assert cli("recipes", "schema", "qa", "-o", out, "--overwrite").exit_code == 0
    assert json.loads(out.read_text())["properties"]["task"]["const"] == "qa"
    typo = cli("recipes", "schema", "textclz")
    assert typo.exit_code == 2 and "did you mean 'textcls'" in typo.stderr


def test_a_copied_recipe_keeps_a_schema_comment_that_resolves(cli, tmp_path):
    assert cli("recipes", "copy", "qa", tmp_path / "qa.yaml").exit_code == 0
    first = (tmp_path / "qa.yaml").read_text().splitlines()[0]
    schema = first.split("$schema=", 1)[1]
    assert first.startswith("# yaml-language-server: $schema=/") and schema.endswith("qa.schema.json")
    assert (tmp_path / schema).is_file()
