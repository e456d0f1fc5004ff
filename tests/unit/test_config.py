"""Recipe validation: closed schemas, messages with file:line, dotted key and a suggestion."""

import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from llmkit.config import recipe_to_dict, recipe_to_yaml, resolve_recipe_path, shipped_recipes, updated
from llmkit.errors import ConfigError, UsageError
from llmkit.recipe import load_recipe, parse_recipe_text

BASE = """\
task: textcls
model:
  name_or_path: tiny-bert
data:
  train_file: train.csv
training:
  learning_rate: 1e-5
"""


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_of(tmp_path: Path, text: str, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_recipe(write(tmp_path, text), list(overrides))
    return str(info.value)


def test_valid_recipe_loads_frozen_with_numbers_typed(tmp_path):
    loaded = load_recipe(write(tmp_path, BASE))
    recipe = loaded.recipe
    assert loaded.name == "r"
    assert recipe.training.learning_rate == 1e-5
    assert recipe.options.problem_type == "single_label_classification"
    with pytest.raises(ValidationError):
        recipe.task = "other"  # frozen


def test_relative_data_paths_resolve_against_the_recipe_folder(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\n")
    recipe = load_recipe(write(tmp_path, BASE)).recipe
    assert recipe.data.train_file == str(tmp_path / "train.csv")


def test_unknown_key_names_file_line_and_suggests(tmp_path):
    message = errors_of(tmp_path, BASE + "  learning_rat: 3\n")
    assert f"{tmp_path / 'r.yaml'}:8: training.learning_rat: unknown key; did you mean 'learning_rate'?" in message


def test_unknown_section_suggests(tmp_path):
    message = errors_of(tmp_path, BASE + "trainng:\n  seed: 1\n")
    assert "trainng: unknown key; did you mean 'training'?" in message


def test_wrong_type_is_reported_with_the_value(tmp_path):
    message = errors_of(tmp_path, BASE.replace("1e-5", "three"))
    assert ":7: training.learning_rate:" in message and "'three'" in message


def test_all_problems_are_reported_at_once(tmp_path):
    text = BASE.replace("1e-5", "three") + "  num_train_epoch: 2\ndata2: {}\n"
    problems = errors_of(tmp_path, text).splitlines()
    assert len(problems) == 3


def test_missing_required_key(tmp_path):
    message = errors_of(tmp_path, "task: textcls\nmodel: {}\n")
    assert "model: give model.name_or_path (a checkpoint) or model.config" in message


def test_unknown_task_suggests(tmp_path):
    message = errors_of(tmp_path, BASE.replace("task: textcls", "task: textcl"))
    assert "unknown task 'textcl'; did you mean 'textcls'?" in message


def test_override_errors_say_command_line(tmp_path):
    message = errors_of(tmp_path, BASE, ["training.seed=abc"])
    assert message.startswith("command line: training.seed:")


def test_overrides_beat_yaml(tmp_path):
    recipe = load_recipe(write(tmp_path, BASE), ["training.learning_rate=2e-4", "data.max_seq_length=16"]).recipe
    assert recipe.training.learning_rate == 2e-4 and recipe.data.max_seq_length == 16


def test_impossible_values_are_rejected(tmp_path):
    message = errors_of(tmp_path, BASE.replace("  train_file: train.csv", "  train_file: t.csv\n  max_seq_length: 0"))
    assert "data.max_seq_length" in message and "greater than 0" in message


def test_choices_of_training_args_are_checked(tmp_path):
    message = errors_of(tmp_path, BASE + "  train_sampling_strategy: by_length\n")
    assert "training.train_sampling_strategy" in message and "group_by_length" in message


def test_reserved_training_keys_point_to_the_cli(tmp_path):
    message = errors_of(tmp_path, BASE + "  resume_from_checkpoint: x\n")
    assert "training.resume_from_checkpoint: set by llmkit" in message and "--resume" in message


def test_eval_strategy_defaults_follow_validation_data(tmp_path):
    no_val = load_recipe(write(tmp_path, BASE)).recipe
    assert no_val.training.eval_strategy == "no"
    with_val = load_recipe(write(tmp_path, BASE + "  seed: 3\n"), ["data.validation_file=v.csv"]).recipe
    assert with_val.training.eval_strategy == "epoch" and with_val.training.save_strategy == "epoch"


def test_secrets_are_redacted_when_saved(tmp_path):
    recipe = load_recipe(write(tmp_path, BASE + "  hub_token: hf_secret123\n")).recipe
    assert recipe.training.hub_token == "hf_secret123"
    text = recipe_to_yaml(recipe)
    assert "hf_secret123" not in text and "hub_token: <redacted>" in text
    assert "max_seq_length" in text  # not every key with 'token'-like words is redacted


def test_updated_returns_a_validated_copy(tmp_path):
    recipe = load_recipe(write(tmp_path, BASE)).recipe
    changed = updated(recipe, {"model.name_or_path": "tiny-gpt2"})
    assert changed.model.name_or_path == "tiny-gpt2" and recipe.model.name_or_path == "tiny-bert"
    with pytest.raises(ConfigError):
        updated(recipe, {"data.max_seq_length": -1})


def test_dump_round_trips(tmp_path):
    recipe = load_recipe(write(tmp_path, BASE)).recipe
    again = parse_recipe_text(recipe_to_yaml(recipe)).recipe
    assert recipe_to_dict(again) == recipe_to_dict(recipe)


def test_every_shipped_recipe_validates():
    shipped = shipped_recipes()
    assert "textcls" in shipped
    for name, path in shipped.items():
        loaded = load_recipe(path)
        assert loaded.recipe.task, name


def test_shipped_recipe_text_starts_with_a_header_comment():
    for path in shipped_recipes().values():
        assert path.read_text().startswith("# "), path


def test_bare_names_find_shipped_recipes_and_typos_get_suggestions():
    assert resolve_recipe_path("textcls") == shipped_recipes()["textcls"]
    with pytest.raises(UsageError, match="did you mean 'textcls'"):
        resolve_recipe_path("textclss")


def test_config_layer_imports_no_heavy_library():
    import subprocess

    code = (
        "import sys; from llmkit.recipe import load_recipe; load_recipe('textcls'); "
        "sys.exit(any(m in sys.modules for m in ('torch', 'transformers', 'datasets')))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_config_layer_knows_no_task():
    import subprocess

    code = (
        "import sys, llmkit.config; "
        "sys.exit(any(m == 'llmkit.recipe' or m.startswith('llmkit.tasks') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_task_aware_names_live_in_recipe_only():
    import llmkit.config
    import llmkit.recipe

    for name in ("recipe_model", "load_recipe", "load_recipe_data", "load_saved_recipe", "parse_recipe_text"):
        assert hasattr(llmkit.recipe, name)
        assert not hasattr(llmkit.config, name), f"llmkit.config must not know tasks ({name})"


def test_distill_on_a_task_without_distillation_is_found_when_the_recipe_loads():
    fixture = Path(__file__).parents[1] / "fixtures" / "qa-tiny.yaml"
    with pytest.raises(ConfigError) as info:
        load_recipe(fixture, ["distill.teacher=tiny-bert"])
    message = str(info.value)
    assert message.startswith("command line: distill: task 'qa' is not supported")
    assert "textcls" in message and "clm" in message
