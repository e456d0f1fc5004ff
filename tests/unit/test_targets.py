"""llmkit.models.targets: the model folders eval/generate/export read, refused with one line before loading."""

import json

import pytest

from llmkit.errors import ModelError
from llmkit.models.targets import check_eval_target, check_model_dir, check_model_ref


@pytest.fixture
def model_dir(tmp_path):
    """A folder shaped like a saved model: config, tokenizer and real (tiny) safetensors weights."""
    import torch
    from safetensors.torch import save_file

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (folder / "tokenizer.json").write_text("{}")
    save_file({"w": torch.zeros(64, 64)}, str(folder / "model.safetensors"))
    return folder


def test_a_whole_model_folder_passes(model_dir):
    check_model_dir(model_dir, "--model")
    check_model_ref(str(model_dir))


def test_invalid_config_json_names_the_file_and_position(model_dir):
    (model_dir / "config.json").write_text('{"model_type": ')
    with pytest.raises(ModelError, match=r"config.json is not valid JSON .* line 1 column 16"):
        check_model_dir(model_dir, "--model")
    (model_dir / "config.json").write_text("[1]")
    with pytest.raises(ModelError, match=r"must hold a JSON object"):
        check_model_dir(model_dir, "--model")


def test_deleted_and_truncated_weights(model_dir):
    weights = model_dir / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match=r"model.safetensors is truncated or damaged"):
        check_model_dir(model_dir, "TARGET")
    weights.unlink()
    (model_dir / "training_args.bin").write_bytes(b"x")  # not weights
    with pytest.raises(ModelError, match=r"has no model weights \(model.safetensors is missing\)"):
        check_model_dir(model_dir, "TARGET")


def test_missing_shard_and_missing_tokenizer(model_dir):
    (model_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": "model-2.safetensors"}}))
    with pytest.raises(ModelError, match=r"missing weight shards .*model-2.safetensors"):
        check_model_dir(model_dir, "RUN")
    (model_dir / "model.safetensors.index.json").unlink()
    (model_dir / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match=r"has no tokenizer files"):
        check_model_dir(model_dir, "RUN")


def test_folders_that_are_not_models(tmp_path):
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "run.json").write_text("{}")
    with pytest.raises(ModelError, match=r"llmkit run that holds no model"):
        check_model_dir(tmp_path / "failed", "--model")
    (tmp_path / "other").mkdir()
    with pytest.raises(ModelError, match=r"neither an llmkit run directory nor a model checkpoint"):
        check_model_dir(tmp_path / "other", "--model")


def test_model_refs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "demo").mkdir(parents=True)
    (tmp_path / "weights.bin").write_text("x")
    check_model_ref("tiny-gpt2")  # an alias
    check_model_ref("org/some-model")  # a hub id: left to the loader
    with pytest.raises(ModelError, match=r"is a file"):
        check_model_ref("weights.bin")
    with pytest.raises(ModelError, match=r"runs/dmeo: no such run directory .*did you mean 'runs/demo'"):
        check_model_ref("runs/dmeo")
    with pytest.raises(ModelError, match=r"RUN: some-model: no such run directory"):
        check_model_ref("some-model", "RUN", local=True)


def test_eval_targets(tmp_path, model_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_eval_target("textcls")  # a shipped recipe
    check_eval_target("missing.yaml")  # a recipe path: the recipe loader names it
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ModelError, match=r"TARGET: notes.txt is a file, not a run directory"):
        check_eval_target("notes.txt")
    with pytest.raises(ModelError, match=r"TARGET: runs/x: no such run directory"):
        check_eval_target("runs/x")
    with pytest.raises(ModelError, match=r"a model checkpoint, not an llmkit run"):
        check_eval_target(str(model_dir))
    (model_dir / "recipe.yaml").write_text("task: clm\n")
    check_eval_target(str(model_dir))
