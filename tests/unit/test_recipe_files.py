"""Recipe files that are not recipes, malformed overrides, and the one rule for relative paths."""

from pathlib import Path

import pytest

from llmkit.config import recipe_to_dict
from llmkit.config.overrides import parse_override
from llmkit.config.paths import resolve_file, resolve_ref
from llmkit.errors import ConfigError, UsageError
from llmkit.recipe import load_recipe

BASE = "task: textcls\nmodel:\n  name_or_path: tiny-bert\ndata:\n  train_file: train.csv\n"


def message_of(path: Path, error=ConfigError) -> str:
    with pytest.raises(error) as info:
        load_recipe(path)
    return str(info.value)


def test_a_recipe_that_is_not_utf8_names_line_and_byte_offset(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_bytes(b"task: textcls\nmodel:\n  name_or_path: caf\xe9\n")
    assert message_of(path) == (
        f"{path}:3: not UTF-8 text; save it as UTF-8 (byte 0xe9 at offset 40 is not valid UTF-8)"
    )


def test_binary_and_utf16_files_are_named_as_such(tmp_path):
    binary = tmp_path / "model.yaml"
    binary.write_bytes(b"\x00\x01\x02\xff\xfe")
    assert "a binary file, not YAML text" in message_of(binary)
    utf16 = tmp_path / "w.yaml"
    utf16.write_bytes("task: textcls\n".encode("utf-16"))
    assert "UTF-16" in message_of(utf16)


def test_a_utf8_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_recipe(path).recipe.task == "textcls"


@pytest.mark.parametrize("text", ["", "\n\n", "# nothing but a comment\n"])
def test_an_empty_recipe_has_its_own_error(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    assert message_of(path).startswith(f"{path}: the recipe is empty")


def test_a_directory_is_not_a_recipe_and_a_run_directory_points_to_from_run(tmp_path):
    assert "is a directory, not a recipe file" in message_of(tmp_path, UsageError)
    (tmp_path / "recipe.yaml").write_text(BASE)
    assert f"--from-run {tmp_path}" in message_of(tmp_path, UsageError)


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("training.seed", "no '='"),
        ("=3", "empty key before '='"),
        ("training..seed=1", "empty part in key"),
        ("second.yaml", "only one RECIPE is read"),
        ("training.seed=[1", "value is not valid YAML"),
    ],
)
def test_malformed_overrides_say_what_is_wrong(token, expected):
    with pytest.raises(UsageError, match=expected):
        parse_override(token)


def test_relative_paths_in_a_recipe_are_read_from_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.csv").write_text("text,label\n")
    (folder / "teacher").mkdir()
    monkeypatch.chdir(tmp_path)
    (folder / "r.yaml").write_text(
        BASE.replace("train.csv", "data/train.csv") + "training:\n  output_dir: runs/x\ndistill:\n  teacher: teacher\n"
    )
    recipe = load_recipe(folder / "r.yaml").recipe
    assert recipe.data.train_file == str(folder / "data" / "train.csv")
    assert recipe.training.output_dir == str(folder / "runs" / "x")  # created there, not under the cwd
    assert recipe.distill.teacher == str(folder / "teacher")
    assert recipe.model.name_or_path == "tiny-bert"  # an alias stays an alias


def test_the_working_directory_is_used_only_for_paths_that_exist_only_there(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    (tmp_path / "models" / "mine").mkdir(parents=True)
    (tmp_path / "train.csv").write_text("text,label\n")
    monkeypatch.chdir(tmp_path)
    (folder / "r.yaml").write_text(BASE.replace("tiny-bert", "models/mine"))
    recipe = load_recipe(folder / "r.yaml").recipe
    assert recipe.data.train_file == str(tmp_path / "train.csv")
    assert recipe.model.name_or_path == str(tmp_path / "models" / "mine")


def test_overrides_are_read_from_the_working_directory(tmp_path, monkeypatch):
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "r.yaml").write_text(BASE)
    monkeypatch.chdir(tmp_path)
    recipe = load_recipe(folder / "r.yaml", ["training.output_dir=out", "data.train_file=t.csv"]).recipe
    # made absolute, so the recipe.yaml a run saves reads the same files from any folder later
    assert recipe.training.output_dir == str(tmp_path / "out") and recipe.data.train_file == str(tmp_path / "t.csv")
    hub = load_recipe(folder / "r.yaml", ["model.name_or_path=org/model"]).recipe
    assert hub.model.name_or_path == "org/model"  # not a local folder: a hub id stays as written


def test_shipped_recipes_leave_output_dir_to_the_default_runs_folder():
    from llmkit.config import shipped_recipes

    for name, path in shipped_recipes().items():
        assert "output_dir" not in recipe_to_dict(load_recipe(path).recipe)["training"], name


def test_model_references_resolve_only_what_is_a_local_path(tmp_path):
    (tmp_path / "local").mkdir()
    assert resolve_ref("local", tmp_path) == str(tmp_path / "local")
    assert resolve_ref("bert-base-uncased", tmp_path) == "bert-base-uncased"  # hub id
    assert resolve_ref("org/model", tmp_path) == "org/model"
    assert resolve_ref("./missing", tmp_path) == "./missing"  # the loader reports it as written


def test_file_fields_keep_urls_inline_json_and_absolute_paths(tmp_path):
    assert resolve_file("https://x/y.csv", tmp_path) == "https://x/y.csv"
    assert resolve_file('{"stage": 2}', tmp_path) == '{"stage": 2}'
    assert resolve_file("/abs/file", tmp_path) == "/abs/file"
    assert resolve_file("new/dir", tmp_path) == str(tmp_path / "new" / "dir")
