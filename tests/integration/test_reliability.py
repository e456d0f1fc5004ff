"""Failures users meet every week, injected deterministically: kills, signals, NaN, torn saves, full disks.

Faults are switched on through LLMKIT_FAULTS, honoured only with LLMKIT_TEST_FAULTS=1 (llmkit/faults.py).
A subprocess is used only where the process itself must die (kill -9, a crash mid-save).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from paths import fixture_recipe
from safetensors.torch import load_file

FIXTURE = fixture_recipe("textcls")
# 10 optimizer steps, a committed checkpoint every 2 steps, a loss logged at every step.
STEPS = [
    "training.save_strategy=steps",
    "training.save_steps=2",
    "training.logging_steps=1",
    "training.eval_strategy=no",
    "training.save_total_limit=3",
    "data.test_file=null",
]


def losses(run_dir: Path) -> list[tuple[int, float]]:
    history = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
    return [(e["step"], e["loss"]) for e in history if "loss" in e]


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return wa.keys() == wb.keys() and all(bool((wa[k] == wb[k]).all()) for k in wa)


def status(run_dir: Path) -> str:
    return json.loads((run_dir / "run.json").read_text())["status"]


@pytest.fixture(scope="module")
def reference(cli, tmp_path_factory):
    """The uninterrupted run every resumed run must equal."""
    run_dir = tmp_path_factory.mktemp("reliability") / "reference"
    result = cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir)
    assert result.exit_code == 0, result.stderr
    return run_dir


@pytest.fixture
def faults(monkeypatch):
    def set_faults(spec: str) -> None:
        monkeypatch.setenv("LLMKIT_TEST_FAULTS", "1")
        monkeypatch.setenv("LLMKIT_FAULTS", spec)

    yield set_faults
    monkeypatch.delenv("LLMKIT_FAULTS", raising=False)


def run_in_subprocess(run_dir: Path, spec: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LLMKIT_TEST_FAULTS": "1", "LLMKIT_FAULTS": spec}
    command = [sys.executable, "-m", "llmkit", "finetune", str(FIXTURE), *STEPS, "--output-dir", str(run_dir)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_kill_dash_9_then_resume_is_exact(cli, reference, tmp_path):
    run_dir = tmp_path / "killed"
    killed = run_in_subprocess(run_dir, "kill@5")
    assert killed.returncode == -9, killed.stderr
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    resumed = cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming from checkpoint-4" in resumed.stderr
    assert losses(run_dir) == losses(reference) and len(losses(run_dir)) == 10
    assert same_weights(run_dir, reference)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["resumes"][0]["from"] == "checkpoint-4"


@pytest.mark.parametrize(("signal_name", "code"), [("TERM", 143), ("INT", 130)])
def test_signal_saves_a_checkpoint_and_resume_is_exact(cli, reference, tmp_path, faults, signal_name, code):
    run_dir = tmp_path / "stopped"
    faults(f"signal={signal_name}@3")
    stopped = cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir)
    assert stopped.exit_code == code, stopped.stderr
    assert "stopped after step 3" in stopped.stderr and "--resume" in stopped.stderr
    assert (run_dir / "checkpoint-3" / "llmkit-checkpoint.json").is_file()
    assert status(run_dir) == "interrupted" and not (run_dir / "model.safetensors").exists()
    faults("")
    resumed = cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert losses(run_dir) == losses(reference) and same_weights(run_dir, reference)


def test_nan_loss_stops_before_saving_with_exit_5(cli, tmp_path, faults):
    run_dir = tmp_path / "nan"
    faults("nan@3")
    result = cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir)
    assert result.exit_code == 5, result.stderr
    assert "training diverged at step 3" in result.stderr and "checkpoint-2" in result.stderr
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-2"]
    assert status(run_dir) == "diverged"


def test_crash_while_saving_leaves_no_usable_torn_checkpoint(cli, reference, tmp_path):
    run_dir = tmp_path / "torn"
    crashed = run_in_subprocess(run_dir, "crash_save=optimizer.pt@4")
    assert crashed.returncode == 137, crashed.stderr
    assert not (run_dir / "checkpoint-4").exists()  # never renamed into place
    resumed = cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming from checkpoint-2" in resumed.stderr
    assert not (run_dir / ".llmkit-staging").exists()
    assert losses(run_dir) == losses(reference) and same_weights(run_dir, reference)


def test_disk_full_while_saving_exits_6_and_keeps_the_previous_checkpoint(cli, tmp_path, faults):
    run_dir = tmp_path / "full"
    faults("disk_full=model.safetensors@4")
    result = cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir)
    assert result.exit_code == 6, result.stderr
    assert "out of disk space" in result.stderr
    assert sorted(p.name for p in run_dir.glob("checkpoint-*")) == ["checkpoint-2"]
    assert not (run_dir / ".llmkit-staging" / "checkpoint-4").exists()
    faults("")
    assert cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir, "--resume").exit_code == 0


def test_resume_rejects_damaged_checkpoints_by_name(cli, reference, tmp_path):
    import shutil

    run_dir = tmp_path / "damaged"
    shutil.copytree(reference, run_dir)
    (run_dir / "checkpoint-10" / "rng_state.pth").unlink()
    (run_dir / "checkpoint-8" / "llmkit-checkpoint.json").unlink()
    result = cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir, "--resume")
    assert result.exit_code == 0, result.stderr
    assert "not resuming from checkpoint-10: file rng_state.pth is missing" in result.stderr
    assert "not resuming from checkpoint-8: no completion marker" in result.stderr
    assert "resuming from checkpoint-6" in result.stderr
    (run_dir / "checkpoint-6" / "model.safetensors").write_text("torn")
    for name in ("checkpoint-8", "checkpoint-10"):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for extra in run_dir.glob("checkpoint-*"):
        if extra.name != "checkpoint-6":
            shutil.rmtree(extra)
    none_valid = cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir, "--resume")
    assert none_valid.exit_code == 4 and "no usable checkpoint" in none_valid.stderr


def test_resume_with_nothing_to_resume_is_exit_2(cli, tmp_path):
    result = cli("finetune", FIXTURE, *STEPS, "--output-dir", tmp_path / "empty", "--resume")
    assert result.exit_code == 2 and "holds no run to resume" in result.stderr


def test_resume_with_a_changed_recipe_is_refused_with_a_diff(cli, reference, tmp_path):
    import shutil

    run_dir = tmp_path / "changed"
    shutil.copytree(reference, run_dir)
    changed = [*STEPS, "training.per_device_train_batch_size=8", "training.logging_steps=5"]
    refused = cli("finetune", FIXTURE, *changed, "--output-dir", run_dir, "--resume")
    assert refused.exit_code == 2
    assert "training.per_device_train_batch_size: 16 -> 8" in refused.stderr
    assert "logging_steps" not in refused.stderr  # observation-only keys may change
    allowed = cli("finetune", FIXTURE, *changed, "--output-dir", run_dir, "--resume", "--allow-config-change")
    assert allowed.exit_code == 0, allowed.stderr


def test_overwrite_removes_only_what_llmkit_wrote(cli, reference, tmp_path):
    import shutil

    run_dir = tmp_path / "owned"
    shutil.copytree(reference, run_dir)
    (run_dir / "my-notes.txt").write_text("keep me")
    (run_dir / "checkpoint-10" / "llmkit-checkpoint.json").unlink()
    refused = cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir)
    assert refused.exit_code == 2 and "finished llmkit run" in refused.stderr
    result = cli("finetune", FIXTURE, *STEPS, "training.num_train_epochs=1", "--output-dir", run_dir, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert (run_dir / "my-notes.txt").read_text() == "keep me"
    assert "my-notes.txt" not in json.loads((run_dir / "run.json").read_text())["files"]
    assert not (run_dir / "checkpoint-10").exists()


def test_overwrite_refuses_a_directory_llmkit_did_not_write(cli, tmp_path):
    run_dir = tmp_path / "foreign"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    result = cli("finetune", FIXTURE, *STEPS, "--output-dir", run_dir, "--overwrite")
    assert result.exit_code == 2 and "did not write" in result.stderr
    assert (run_dir / "config.json").read_text() == "{}"


def test_secrets_never_reach_output_or_files(cli, tmp_path):
    run_dir = tmp_path / "secret"
    secret = "hf_SuperSecretValue123"
    result = cli(
        "finetune",
        FIXTURE,
        *STEPS,
        "training.num_train_epochs=1",
        f"training.hub_token={secret}",
        "--output-dir",
        run_dir,
    )
    assert result.exit_code == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert "<redacted>" in (run_dir / "recipe.yaml").read_text()
    os.environ.pop("HF_TOKEN", None)


def test_strict_turns_truncation_into_a_data_error(cli, tmp_path):
    result = cli("finetune", FIXTURE, *STEPS, "data.max_seq_length=8", "--strict", "--output-dir", tmp_path / "s")
    assert result.exit_code == 3 and "would be truncated" in result.stderr and "in train" in result.stderr


def test_trust_remote_code_on_a_hub_id_needs_a_pinned_revision(cli, tmp_path):
    result = cli(
        "finetune",
        FIXTURE,
        "model.name_or_path=someone/custom-model",
        "model.trust_remote_code=true",
        "--output-dir",
        tmp_path / "r",
    )
    assert result.exit_code == 2 and "model.revision" in result.stderr
