"""Exact resume for every task: stopped by SIGTERM at step 5 (checkpoint committed), then --resume, the
per-step losses and the final weights are bitwise those of an uninterrupted run.

The kill -9 variant (a process that dies without saving) runs for textcls in test_reliability.py; here the
stop is in-process so that each task costs only three tiny runs.
"""

import json
from pathlib import Path

import pytest
import torch
from paths import FIXTURES
from safetensors.torch import load_file

# 8 optimizer steps, a committed checkpoint every 5 steps, a loss at every step, no evaluation.
STEPS = [
    "training.max_steps=8",
    "training.save_strategy=steps",
    "training.save_steps=5",
    "training.logging_steps=1",
    "training.eval_strategy=no",
    "training.load_best_model_at_end=false",
    "data.test_file=null",
]
CASES = {
    "clm": ("pretrain", "clm-tiny.yaml", []),
    # the shipped WordPiece tokenizer: two WordPiece trainings on the same text may break ties differently
    "mlm": ("pretrain", "mlm-tiny.yaml", ["tokenizer.train=null", "model.tokenizer_name_or_path=tiny-bert"]),
    "mlm-trained-tokenizer": ("pretrain", "mlm-tiny.yaml", []),
    "translation": ("finetune", "translation-tiny.yaml", ["eval.early_stopping_patience=null"]),
    "qa": ("finetune", "qa-tiny.yaml", []),
    "sft": ("finetune", "sft-tiny.yaml", []),  # TRL's SFTTrainer under llmkit's committing checkpoints
}


def history(run_dir: Path) -> list[tuple[int, float]]:
    log = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
    return [(e["step"], e["loss"]) for e in log if "loss" in e]


@pytest.mark.parametrize("task", list(CASES))
def test_sigterm_then_resume_is_exact(cli, tmp_path, monkeypatch, task):
    command, fixture, extra = CASES[task]
    recipe = FIXTURES / fixture
    if not recipe.is_file():
        pytest.skip(f"{fixture} not present")
    args = [command, recipe, *STEPS, *extra]
    reference = tmp_path / "reference"
    first = cli(*args, "--output-dir", reference)
    assert first.exit_code == 0, first.stderr
    stopped = tmp_path / "stopped"
    monkeypatch.setenv("LLMKIT_TEST_FAULTS", "1")
    monkeypatch.setenv("LLMKIT_FAULTS", "signal=TERM@5")
    result = cli(*args, "--output-dir", stopped)
    assert result.exit_code == 143, result.stderr
    assert "--resume" in result.stderr
    monkeypatch.setenv("LLMKIT_FAULTS", "")
    resumed = cli(*args, "--output-dir", stopped, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming from checkpoint-5" in resumed.stderr
    if task == "mlm-trained-tokenizer":  # the resumed run reuses the tokenizer its checkpoint holds
        saved = json.loads((stopped / "checkpoint-5" / "tokenizer.json").read_text())["model"]["vocab"]
        assert json.loads((stopped / "tokenizer.json").read_text())["model"]["vocab"] == saved
        return
    assert history(stopped) == history(reference) and len(history(reference)) == 8
    a, b = load_file(stopped / "model.safetensors"), load_file(reference / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
