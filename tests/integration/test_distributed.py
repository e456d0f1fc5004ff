"""Multi-process runs on the CPU (gloo): `--nproc 2` through torchrun equals one process with twice the batch.

These spawn real processes because the process boundary is the point: two ranks, one run directory.
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
# Dropout off so both runs compute the same function; 80 rows / 16 per step = 5 steps; 30 eval rows in
# batches of 5 split evenly over 2 ranks (Trainer pads an uneven split with repeats, which bias the eval loss).
SAME = [
    "model.config_overrides.hidden_dropout_prob=0.0",
    "model.config_overrides.attention_probs_dropout_prob=0.0",
    "training.num_train_epochs=1",
    "training.logging_steps=1",
    "training.eval_strategy=no",
    "training.per_device_eval_batch_size=5",
]


def launch(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "llmkit", "finetune", str(FIXTURE), *args]
    return subprocess.run(
        command, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300, check=False
    )


def losses(run_dir: Path) -> list[float]:
    history = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
    return [e["loss"] for e in history if "loss" in e]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddp") / "two"
    result = launch(*SAME, "training.per_device_train_batch_size=8", "--output-dir", str(run_dir), "--nproc", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir, result


def test_two_processes_equal_one_process_with_twice_the_batch(cli, two_processes, tmp_path):
    two, _ = two_processes
    one = tmp_path / "one"
    result = cli("finetune", FIXTURE, *SAME, "training.per_device_train_batch_size=16", "--output-dir", one)
    assert result.exit_code == 0, result.stderr
    assert len(losses(one)) == 5 and len(losses(two)) == 5
    for a, b in zip(losses(two), losses(one), strict=True):
        assert abs(a - b) <= 1e-4 * abs(b)
    wa, wb = load_file(two / "model.safetensors"), load_file(one / "model.safetensors")
    assert wa.keys() == wb.keys()
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-3
    ma, mb = json.loads((two / "metrics.json").read_text()), json.loads((one / "metrics.json").read_text())
    for split in ("validation", "test"):
        for key in ("accuracy", "f1", "precision", "recall"):
            assert ma[split][key] == mb[split][key], (split, key)
        assert ma[split]["loss"] == pytest.approx(mb[split]["loss"], rel=1e-4)


def test_nproc_2_writes_one_run_directory_once(two_processes):
    run_dir, result = two_processes
    record = json.loads((run_dir / "run.json").read_text())
    assert record["world_size"] == 2 and record["status"] == "finished"
    assert sorted(p.name for p in run_dir.iterdir()) == record["files"]
    assert not (run_dir / ".llmkit-staging").exists()
    marker = json.loads((run_dir / "checkpoint-5" / "llmkit-checkpoint.json").read_text())
    assert marker["world_size"] == 2 and {"rng_state_0.pth", "rng_state_1.pth"} <= set(marker["files"])
    # Only rank 0 prints: the header, the progress bar and the summary appear once.
    assert result.stderr.count("handing off to torchrun") == 1
    assert result.stderr.count("· 2 processes") == 1
    assert result.stdout.count("Run saved to") == 1 and result.stdout.count("Results") == 1


def test_a_failing_rank_stops_every_rank_and_is_named(tmp_path):
    run_dir = tmp_path / "failing"
    env = {"LLMKIT_TEST_FAULTS": "1", "LLMKIT_FAULTS": "raise@2:1"}
    result = launch(*SAME, "training.per_device_train_batch_size=8", "-o", str(run_dir), "--nproc", "2", env=env)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "rank 1: internal error: RuntimeError: injected failure at the end of step 2" in result.stderr
    assert "distributed run failed: rank 1 exited with code 1" in result.stderr
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"


CLM = fixture_recipe("clm")
CLM_SAME = [
    "model.config.resid_pdrop=0.0",
    "model.config.embd_pdrop=0.0",
    "model.config.attn_pdrop=0.0",
    "tokenizer.train=null",
    "model.tokenizer_name_or_path=tiny-gpt2",
    "training.max_steps=4",
    "training.logging_steps=1",
    "training.eval_strategy=no",
    "training.save_strategy=no",
]


def test_causal_lm_two_processes_equal_one_process_with_twice_the_batch(cli, tmp_path):
    two = tmp_path / "clm-two"
    command = [
        sys.executable,
        "-m",
        "llmkit",
        "pretrain",
        str(CLM),
        *CLM_SAME,
        "training.per_device_train_batch_size=8",
    ]
    result = subprocess.run(
        [*command, "--output-dir", str(two), "--nproc", "2"], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    one = tmp_path / "clm-one"
    single = cli("pretrain", CLM, *CLM_SAME, "training.per_device_train_batch_size=16", "--output-dir", one)
    assert single.exit_code == 0, single.stderr
    assert len(losses(one)) == 4 and len(losses(two)) == 4
    for a, b in zip(losses(two), losses(one), strict=True):
        assert abs(a - b) <= 1e-4 * abs(b)
    wa, wb = load_file(two / "model.safetensors"), load_file(one / "model.safetensors")
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-3
    pa = json.loads((two / "metrics.json").read_text())["validation"]
    pb = json.loads((one / "metrics.json").read_text())["validation"]
    assert pa["tokens"] == pb["tokens"]  # repeats padded onto the last rank are dropped
    assert pa["perplexity"] == pytest.approx(pb["perplexity"], rel=1e-4)
