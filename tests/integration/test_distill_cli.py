"""Distillation through the real CLI: the student's KL to the teacher falls, for causal LM and classification."""

import json
from pathlib import Path

import pytest
from paths import FIXTURES

STUDENT_GPT2 = "model.config={model_type: gpt2, n_embd: 32, n_layer: 1, n_head: 2, n_positions: 64}"
# alpha=1, T=1: the logged training loss is exactly KL(teacher || student) per token or example.
PURE_KL = ["distill.alpha=1.0", "distill.temperature=1.0", "training.logging_steps=1", "training.eval_strategy=no"]


def _losses(run: Path) -> list[float]:
    log = json.loads((run / "trainer_state.json").read_text())["log_history"]
    return [e["loss"] for e in log if "loss" in e]


@pytest.fixture(scope="module")
def clm_teacher(cli, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("distill") / "teacher"
    result = cli(
        "pretrain", FIXTURES / "clm-tiny.yaml", "training.max_steps=12", "training.eval_strategy=no", "-o", run
    )
    assert result.exit_code == 0, result.stderr
    return run


def test_causal_lm_student_with_fewer_layers_moves_toward_the_teacher(cli, clm_teacher, tmp_path):
    run = tmp_path / "student"
    args = [STUDENT_GPT2, f"model.name_or_path={clm_teacher}", "tokenizer.train=null", f"distill.teacher={clm_teacher}"]
    result = cli("pretrain", FIXTURES / "clm-tiny.yaml", *args, *PURE_KL, "training.max_steps=8", "-o", run)
    assert result.exit_code == 0, result.stdout + result.stderr
    losses = _losses(run)
    assert len(losses) == 8 and losses[-1] < 0.7 * losses[0], losses
    config = json.loads((run / "config.json").read_text())
    assert config["n_layer"] == 1


def test_classification_student_distils_and_keeps_the_task_loss_for_evaluation(cli, textcls_run, tmp_path):
    run = tmp_path / "student"
    args = ["model.config_overrides={num_hidden_layers: 1}", f"distill.teacher={textcls_run}", "distill.alpha=1.0"]
    args += ["distill.temperature=1.0", "training.logging_steps=1", "training.learning_rate=5e-3"]
    result = cli("finetune", FIXTURES / "textcls-tiny.yaml", *args, "-o", run)
    assert result.exit_code == 0, result.stdout + result.stderr
    losses = _losses(run)
    assert losses[-1] < losses[0], losses
    metrics = json.loads((run / "metrics.json").read_text())
    assert json.loads((run / "config.json").read_text())["num_hidden_layers"] == 1
    # Evaluation reports cross-entropy against the labels (about log 5 for five classes), not the KL.
    assert 1.0 < metrics["validation"]["loss"] < 2.5 and max(losses) < 0.5


def test_distill_of_an_unsupported_task_or_a_bad_teacher_is_a_config_error(cli, tmp_path):
    bad = cli("finetune", FIXTURES / "textcls-tiny.yaml", f"distill.teacher={tmp_path / 'nope'}", "-o", tmp_path / "a")
    assert bad.exit_code == 2 and "distill.teacher" in bad.stderr
    qa = cli("finetune", FIXTURES / "qa-tiny.yaml", "distill.teacher=tiny-bert", "-o", tmp_path / "b")
    assert qa.exit_code == 2 and "distill: task 'qa' is not supported" in qa.stderr
