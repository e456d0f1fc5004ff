"""Every bad input ends with one clear line naming the file and key, and its exit code."""

import pytest

RECIPE = """\
task: textcls
model:
  name_or_path: tiny-bert
data:
  train_file: {train}
  validation_file: {validation}
training:
  num_train_epochs: 1
"""


@pytest.fixture
def make_recipe(tmp_path, fixtures):
    def make(extra: str = "", train: str | None = None, validation: str | None = None, **replace: str):
        text = RECIPE.format(
            train=train or fixtures / "textcls" / "train.csv",
            validation=validation or fixtures / "textcls" / "validation.csv",
        )
        for old, new in replace.items():
            text = text.replace(old, new)
        path = tmp_path / "recipe.yaml"
        path.write_text(text + extra)
        return path

    return make


def unseen_label_file(tmp_path, fixtures):
    path = tmp_path / "validation.csv"
    path.write_text((fixtures / "textcls" / "validation.csv").read_text() + "a mineral found in caves,mineral\n")
    return str(path)


CASES = [
    (
        "typo'd key",
        {"extra": "  num_train_epoch: 2\n"},
        2,
        ["recipe.yaml:9", "training.num_train_epoch", "did you mean 'num_train_epochs'"],
    ),
    ("wrong type", {"extra": "  learning_rate: three\n"}, 2, ["recipe.yaml:9", "training.learning_rate", "'three'"]),
    ("unknown section", {"extra": "evl:\n  metrics: [f1]\n"}, 2, ["evl: unknown key", "did you mean 'eval'"]),
    ("malformed yaml", {"extra": "training: [\n"}, 2, ["recipe.yaml:", "malformed YAML"]),
    (
        "missing file",
        {"train": "/nonexistent/train.csv"},
        3,
        ["data.train_file: file not found: /nonexistent/train.csv"],
    ),
    (
        "missing column",
        {"data:": "data:\n  text_column: sentence"},
        3,
        ["column 'sentence' (data.text_column) not found", "columns: text, label"],
    ),
    (
        "bad model path",
        {"name_or_path: tiny-bert": "name_or_path: ./no/such/model"},
        4,
        ["model.name_or_path", "./no/such/model", "not found"],
    ),
    ("offline hub id", {"name_or_path: tiny-bert": "name_or_path: someone/not-cached"}, 4, ["HF_HUB_OFFLINE=1"]),
]


@pytest.mark.parametrize(("name", "change", "code", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_table(cli, make_recipe, tmp_path, name, change, code, fragments):
    recipe = make_recipe(**change)
    result = cli("finetune", recipe, "--output-dir", tmp_path / "run")
    assert result.exit_code == code, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.stderr
    if code == 2:
        assert not (tmp_path / "run").exists()  # nothing created for an invalid recipe


def test_unseen_label_is_a_data_error(cli, make_recipe, tmp_path, fixtures):
    recipe = make_recipe(validation=unseen_label_file(tmp_path, fixtures))
    result = cli("finetune", recipe, "--output-dir", tmp_path / "run")
    assert result.exit_code == 3
    assert "validation.csv" in result.stderr and "'mineral' (1 rows)" in result.stderr
    assert "known labels: animal, artifact" in result.stderr


def test_empty_split_is_a_data_error(cli, make_recipe, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    result = cli("finetune", make_recipe(validation=str(empty)), "--output-dir", tmp_path / "run")
    assert result.exit_code == 3 and "data.validation_file" in result.stderr and "no rows" in result.stderr


def test_debug_shows_the_traceback(cli, make_recipe, tmp_path):
    result = cli("finetune", make_recipe(train="/nonexistent.csv"), "--output-dir", tmp_path / "run", "--debug")
    assert result.exit_code == 3 and "Traceback" in result.stderr


def test_eval_of_a_directory_that_is_not_a_run(cli, tmp_path):
    result = cli("eval", tmp_path)
    assert result.exit_code == 4 and "not an llmkit run directory" in result.stderr


def test_unknown_recipe_name(cli):
    result = cli("finetune", "textclass")
    assert result.exit_code == 2 and "did you mean 'textcls'" in result.stderr
