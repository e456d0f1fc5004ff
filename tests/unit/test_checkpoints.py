"""Checkpoint commit, validation, rotation and recipe identity, on hand-made folders."""

import json

import pytest

from llmkit import faults
from llmkit.checkpoints import (
    MARKER,
    commit,
    find_resume_point,
    recipe_diff,
    recipe_hash,
    rejection,
    rotate,
)
from llmkit.errors import ModelError, UsageError


def staged(root, step, files=None):
    folder = root / ".llmkit-staging" / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for name, text in (files or {"model.safetensors": "weights", "rng_state.pth": "rng"}).items():
        (folder / name).write_text(text)
    return folder


def committed(root, step, **kw):
    return commit(staged(root, step, **kw), root / f"checkpoint-{step}", step, "h", 1)


def test_commit_writes_marker_last_and_renames(tmp_path):
    final = committed(tmp_path, 4)
    assert final == tmp_path / "checkpoint-4" and final.is_dir()
    assert not (tmp_path / ".llmkit-staging" / "checkpoint-4").exists()
    marker = json.loads((final / MARKER).read_text())
    assert marker["step"] == 4 and marker["files"] == {"model.safetensors": 7, "rng_state.pth": 3}
    assert marker["world_size"] == 1 and marker["recipe_hash"] == "h"
    assert rejection(final, world_size=1) is None


def test_commit_replaces_a_leftover_with_the_same_name(tmp_path):
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "junk").write_text("x")
    final = committed(tmp_path, 4)
    assert not (final / "junk").exists() and rejection(final, 1) is None


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: (p / MARKER).unlink(), "no completion marker"),
        (lambda p: (p / MARKER).write_text("{"), "unreadable"),
        (lambda p: (p / "model.safetensors").unlink(), "file model.safetensors is missing"),
        (lambda p: (p / "model.safetensors").write_text("torn"), "has 4 bytes, the marker says 7"),
    ],
)
def test_damaged_checkpoints_are_rejected_with_a_reason(tmp_path, damage, reason):
    final = committed(tmp_path, 2)
    damage(final)
    assert reason in rejection(final, 1)


def test_world_size_and_rng_files_must_match(tmp_path):
    final = committed(tmp_path, 2)
    assert "saved by 1 process(es), this run has 2" in rejection(final, 2)
    no_rng = committed(tmp_path, 3, files={"model.safetensors": "w"})
    assert "RNG state rng_state.pth is missing" in rejection(no_rng, 1)


def test_resume_point_is_the_newest_valid_one_and_names_the_rejected(tmp_path):
    committed(tmp_path, 2)
    committed(tmp_path, 10)
    (tmp_path / "checkpoint-10" / MARKER).unlink()
    (tmp_path / "checkpoint-12").mkdir()  # torn: never committed
    point = find_resume_point(tmp_path, 1)
    assert point.path.name == "checkpoint-2" and point.step == 2
    assert [name for name, _ in point.rejected] == ["checkpoint-12", "checkpoint-10"]


def test_no_checkpoint_is_a_usage_error_and_no_valid_one_a_model_error(tmp_path):
    with pytest.raises(UsageError):
        find_resume_point(tmp_path, 1)
    (tmp_path / "checkpoint-5").mkdir()
    with pytest.raises(ModelError, match="checkpoint-5: no completion marker"):
        find_resume_point(tmp_path, 1)


def test_rotation_keeps_newest_and_best_and_ignores_uncommitted(tmp_path):
    for step in (2, 4, 6, 8):
        committed(tmp_path, step)
    (tmp_path / "checkpoint-10").mkdir()  # uncommitted: not ours to judge, left alone
    deleted = rotate(tmp_path, keep=1, best=str(tmp_path / "checkpoint-2"))
    assert sorted(deleted) == ["checkpoint-4", "checkpoint-6"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("checkpoint")) == [
        "checkpoint-10",
        "checkpoint-2",
        "checkpoint-8",
    ]


def test_recipe_diff_ignores_observation_only_keys():
    saved = {"training": {"per_device_train_batch_size": 8, "logging_steps": 10}, "data": {"train_file": "a.csv"}}
    current = {"training": {"per_device_train_batch_size": 16, "logging_steps": 1}, "data": {"train_file": "b.csv"}}
    assert recipe_diff(saved, current) == [
        "data.train_file: 'a.csv' -> 'b.csv'",
        "training.per_device_train_batch_size: 8 -> 16",
    ]
    assert recipe_hash(saved) != recipe_hash(current)
    assert recipe_hash(saved) == recipe_hash({**saved, "training": {**saved["training"], "logging_steps": 3}})


def test_faults_need_the_test_gate(monkeypatch):
    monkeypatch.setenv("LLMKIT_FAULTS", "nan@3,signal=INT@2")
    monkeypatch.delenv("LLMKIT_TEST_FAULTS", raising=False)
    assert faults.active() == ()
    monkeypatch.setenv("LLMKIT_TEST_FAULTS", "1")
    assert faults.poison_loss(3) and not faults.poison_loss(2)
    assert faults.active()[1] == faults.Fault("signal", "INT", 2)
