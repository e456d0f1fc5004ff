"""llmkit.outputs: output paths that would lose data are refused; writes are atomic; export folders."""

import json
import os

import pytest

from llmkit import outputs
from llmkit.errors import ResourceError, UsageError


def test_new_file_passes_and_existing_needs_overwrite(tmp_path):
    target = tmp_path / "out.jsonl"
    outputs.check_output_file(target, "--output", overwrite=False)
    target.write_text("mine")
    with pytest.raises(UsageError, match=r"--output: .* exists; pass --overwrite"):
        outputs.check_output_file(target, "--output", overwrite=False)
    outputs.check_output_file(target, "--output", overwrite=True)
    with pytest.raises(UsageError, match=r"pass --overwrite \(or --force\)"):
        outputs.check_output_file(target, "DEST", overwrite=False, flag="--overwrite (or --force)")


def test_directory_file_parent_and_input_are_refused_even_with_overwrite(tmp_path):
    with pytest.raises(UsageError, match=r"is a directory"):
        outputs.check_output_file(tmp_path, "--output", overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match=r"is a file, so"):
        outputs.check_output_file(tmp_path / "file" / "out.jsonl", "--output", overwrite=True)
    source = tmp_path / "prompts.txt"
    source.write_text("hi\n")
    with pytest.raises(UsageError, match=r"also the input file"):
        outputs.check_output_file(tmp_path / "." / "prompts.txt", "--output", overwrite=True, inputs=[source])


@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "tokenizer.json", "run.json", "recipe.yaml"])
def test_files_a_model_folder_needs_are_never_replaced(tmp_path, name):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / name).write_text("weights")
    with pytest.raises(UsageError, match=f"would replace '{name}' of the model in"):
        outputs.check_output_file(run / name, "--output", overwrite=True)


def test_run_manifest_and_checkpoints_are_protected_but_new_names_are_not(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoint-5").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"files": ["notes-by-llmkit.txt", "checkpoint-5"]}))
    with pytest.raises(UsageError, match=r"notes-by-llmkit.txt"):
        outputs.check_output_file(run / "notes-by-llmkit.txt", "--output", overwrite=True)
    with pytest.raises(UsageError, match=r"write inside 'checkpoint-5'"):
        outputs.check_output_file(run / "checkpoint-5" / "preds.jsonl", "--output", overwrite=True)
    outputs.check_output_file(run / "preds.jsonl", "--output", overwrite=False)  # a new file of the user's
    (tmp_path / "latest").symlink_to(run)
    with pytest.raises(UsageError, match=r"would replace 'run.json'"):
        outputs.check_output_file(tmp_path / "latest" / "sub" / ".." / "run.json", "--output", overwrite=True)


def test_write_atomic_creates_parents_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a" / "b" / "out.jsonl"
    outputs.write_jsonl(target, [{"text": "é", "n": 1}, {"text": "x"}])
    assert target.read_text(encoding="utf-8") == '{"text": "é", "n": 1}\n{"text": "x"}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.jsonl"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path, monkeypatch):
    target = tmp_path / "out.jsonl"
    target.write_text("old")

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(ResourceError, match=r"out of disk space while writing"):
        outputs.write_atomic(target, "new", "--output")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_a_row_that_cannot_be_written_writes_nothing(tmp_path):
    target = tmp_path / "out.jsonl"
    with pytest.raises(TypeError):
        outputs.write_jsonl(target, [{"x": 1}, {("tuple", "key"): 2}])  # JSON keys must be strings
    assert list(tmp_path.iterdir()) == []


def _export(folder, files, extra=()):
    folder.mkdir(parents=True, exist_ok=True)
    for name in [*files, *extra]:
        (folder / name).write_text(name)
    (folder / outputs.EXPORT_MANIFEST).write_text(json.dumps({"files": list(files)}))


def test_export_dir_rules(tmp_path):
    outputs.check_export_dir(tmp_path / "new", overwrite=False)
    (tmp_path / "empty").mkdir()
    outputs.check_export_dir(tmp_path / "empty", overwrite=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match=r"is a file"):
        outputs.check_export_dir(tmp_path / "file", overwrite=True)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match=r"files llmkit did not write"):
        outputs.check_export_dir(tmp_path / "mine", overwrite=True)
    _export(tmp_path / "old", ["model.safetensors", "README.md"])
    with pytest.raises(UsageError, match=r"earlier llmkit export; pass --overwrite"):
        outputs.check_export_dir(tmp_path / "old", overwrite=False)
    outputs.check_export_dir(tmp_path / "old", overwrite=True)
    _export(tmp_path / "mixed", ["model.safetensors"], extra=["notes.txt"])
    with pytest.raises(UsageError, match=r"not part of the earlier export \(notes.txt\)"):
        outputs.check_export_dir(tmp_path / "mixed", overwrite=True)


def test_commit_replaces_an_earlier_export_whole(tmp_path):
    out = tmp_path / "out"
    _export(out, ["old.onnx", "README.md"])
    staging = outputs.staging_dir(out)
    (staging / "model.safetensors").write_text("new")
    files = outputs.commit_export(staging, out, {"format": "hf"})
    assert files == ["llmkit-export.json", "model.safetensors"]
    assert sorted(p.name for p in out.iterdir()) == files
    assert json.loads((out / outputs.EXPORT_MANIFEST).read_text())["files"] == ["model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or old folder left
