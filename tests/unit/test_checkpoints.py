"""Checkpoint commit, validation (sizes, hashes, safe loads), rotation and recipe identity, on hand-made folders."""

import json
import logging
import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from llmkit.errors import ModelError, UsageError
from llmkit.train import faults
from llmkit.train.checkpoints import MARKER, commit, find_resume_point, newest_valid, rejection, rotate
from llmkit.train.resume import recipe_diff, recipe_hash


def real_files(folder):
    """What Trainer writes, in miniature: safetensors weights, an optimizer pickle, numpy RNG state."""
    save_file({"w": torch.arange(64, dtype=torch.float32)}, folder / "model.safetensors")
    torch.save({"state": {0: {"exp_avg": torch.ones(64)}}, "param_groups": [{"lr": 0.1}]}, folder / "optimizer.pt")
    torch.save(
        {"python": (3, (1, 2), None), "numpy": np.random.get_state(), "cpu": torch.get_rng_state()},
        folder / "rng_state.pth",
    )


def staged(root, step, files=None):
    folder = root / ".llmkit-staging" / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    if files is None:
        real_files(folder)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    return folder


def committed(root, step, **kw):
    return commit(staged(root, step, **kw), root / f"checkpoint-{step}", step, "h", 1)


def flip_middle_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


class Payload:
    """A pickle that runs a shell command when loaded unsafely."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_commit_writes_marker_last_and_renames(tmp_path):
    final = committed(tmp_path, 4, files={"model.safetensors": "weights", "rng_state.pth": "rng"})
    assert final == tmp_path / "checkpoint-4" and final.is_dir()
    assert not (tmp_path / ".llmkit-staging" / "checkpoint-4").exists()
    marker = json.loads((final / MARKER).read_text())
    assert marker["step"] == 4 and marker["files"] == {"model.safetensors": 7, "rng_state.pth": 3}
    assert marker["world_size"] == 1 and marker["recipe_hash"] == "h"
    # sha256 of the bytes, as `printf weights | sha256sum` prints it
    assert marker["sha256"]["model.safetensors"] == "9a129038d9a00aed0cf6a7ea059ca50a813449061ab87848cf1a13eafdf33b2c"
    assert rejection(final, world_size=1) is None


@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.pt", "rng_state.pth"])
def test_same_size_corruption_is_caught_by_the_hash(tmp_path, name):
    final = committed(tmp_path, 2)
    size = (final / name).stat().st_size
    flip_middle_byte(final / name)
    assert (final / name).stat().st_size == size
    reason = rejection(final, 1)
    assert reason.startswith(f"file {name} is corrupt: same size but different content")


def test_resume_falls_back_past_a_same_size_corruption_naming_the_file(tmp_path):
    committed(tmp_path, 2)
    committed(tmp_path, 4)
    flip_middle_byte(tmp_path / "checkpoint-4" / "optimizer.pt")
    point = find_resume_point(tmp_path, 1)
    assert point.path.name == "checkpoint-2"
    assert point.rejected[0][0] == "checkpoint-4" and "file optimizer.pt is corrupt" in point.rejected[0][1]


def test_all_corrupt_is_a_model_error_naming_each_file(tmp_path):
    committed(tmp_path, 2)
    committed(tmp_path, 4)
    flip_middle_byte(tmp_path / "checkpoint-4" / "model.safetensors")
    flip_middle_byte(tmp_path / "checkpoint-2" / "rng_state.pth")
    with pytest.raises(ModelError) as info:
        find_resume_point(tmp_path, 1)
    message = str(info.value)
    assert "checkpoint-4: file model.safetensors is corrupt" in message
    assert "checkpoint-2: file rng_state.pth is corrupt" in message


def test_size_only_markers_are_still_accepted_with_a_warning(tmp_path, caplog):
    final = committed(tmp_path, 2)
    marker = json.loads((final / MARKER).read_text())
    del marker["sha256"]  # what llmkit wrote before content hashes
    (final / MARKER).write_text(json.dumps(marker))
    with caplog.at_level(logging.WARNING, logger="llmkit"):
        assert rejection(final, 1) is None
    assert "records file sizes only" in caplog.text and "contents not verified" in caplog.text
    (final / "optimizer.pt").write_text("x")  # a size change is still caught
    assert "has 1 bytes" in rejection(final, 1)


def test_newest_valid_skips_corrupt_and_unsafe_checkpoints(tmp_path):
    assert newest_valid(tmp_path, 1) is None
    for step in (2, 4, 6):
        committed(tmp_path, step)
    flip_middle_byte(tmp_path / "checkpoint-6" / "model.safetensors")
    assert newest_valid(tmp_path, 1) == tmp_path / "checkpoint-4"
    forge(tmp_path / "checkpoint-4", "optimizer.pt", Payload(tmp_path / "never"))
    assert newest_valid(tmp_path, 1) == tmp_path / "checkpoint-2"
    assert newest_valid(tmp_path, 2) is None  # saved by one process
    assert not (tmp_path / "never").exists()


def recommit(checkpoint):
    """Rewrite the marker to match the files as they are now: a checkpoint that was written that way."""
    marker = json.loads((checkpoint / MARKER).read_text())
    staging = checkpoint.parent / ".recommit"
    checkpoint.rename(staging)
    (staging / MARKER).unlink()
    commit(staging, checkpoint, marker["step"], marker["recipe_hash"], marker["world_size"])


def forge(checkpoint, name, obj):
    torch.save(obj, checkpoint / name)
    recommit(checkpoint)


def test_malicious_pickle_with_a_matching_hash_is_refused_and_never_run(tmp_path):
    committed(tmp_path, 2)
    committed(tmp_path, 4)
    target = tmp_path / "pwned"
    forge(tmp_path / "checkpoint-4", "optimizer.pt", {"state": Payload(target)})
    assert rejection(tmp_path / "checkpoint-4", 1) is None  # the hash matches: only the safe load can tell
    with pytest.raises(ModelError) as info:
        find_resume_point(tmp_path, 1)
    message = str(info.value)
    assert "checkpoint-4/optimizer.pt: it asks for posix.system, which a safe load refuses" in message
    assert "delete" in message and "older checkpoint" in message
    assert not target.exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "it is empty"),
        (b"GARBAGE" * 100, "neither a zip archive nor a pickle"),
        (b"\x80\x04" + b"\x00" * 50, "refuses"),
    ],
)
def test_garbage_state_files_are_model_errors(tmp_path, content, reason):
    committed(tmp_path, 2)
    (tmp_path / "checkpoint-2" / "scheduler.pt").write_bytes(content)
    recommit(tmp_path / "checkpoint-2")
    with pytest.raises(ModelError, match=rf"checkpoint-2/scheduler.pt: .*{reason}.*only checkpoint"):
        find_resume_point(tmp_path, 1)


def test_training_args_bin_is_never_loaded(tmp_path):
    committed(tmp_path, 2)
    target = tmp_path / "pwned"
    forge(tmp_path / "checkpoint-2", "training_args.bin", Payload(target))
    assert find_resume_point(tmp_path, 1).path.name == "checkpoint-2"
    assert not target.exists()


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
        (lambda p: (p / "rng_state.pth").write_text("torn"), "file rng_state.pth has 4 bytes, the marker says"),
    ],
)
def test_damaged_checkpoints_are_rejected_with_a_reason(tmp_path, damage, reason):
    final = committed(tmp_path, 2)
    damage(final)
    assert reason in rejection(final, 1)


def test_world_size_and_rng_files_must_match(tmp_path):
    final = committed(tmp_path, 2)
    assert "saved by 1 process(es), this run has 2" in rejection(final, 2)
    no_rng = committed(tmp_path, 3, files={"model.safetensors": "w"})  # no RNG file at all
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
