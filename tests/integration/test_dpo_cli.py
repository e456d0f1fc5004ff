"""dpo through the real CLI on tiny-gpt2: TRL's DPOTrainer in llmkit's run directory, its rewards/* metrics per
split, the reward margin moving the right way on a toy preference set, `llmkit eval`, and LoRA."""

import json
from pathlib import Path

import pytest
from paths import FIXTURES, fixture_recipe

FIXTURE = fixture_recipe("dpo")
REWARDS = ("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins")
# The toy set is scored on its own pairs: a random tiny model cannot generalise a preference to unseen words, but
# the policy starts equal to its reference (every margin 0), so a positive margin is what training moved.
ON_TRAIN = [f"data.validation_file={FIXTURES / 'dpo' / 'train.jsonl'}"]


@pytest.fixture(scope="module")
def dpo_run(cli, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("dpo") / "run"
    result = cli("finetune", FIXTURE, *ON_TRAIN, "--output-dir", run_dir)
    assert result.exit_code == 0, result.stderr
    return run_dir


def test_rewards_move_toward_the_chosen_replies(dpo_run):
    validation = json.loads((dpo_run / "metrics.json").read_text())["validation"]
    assert set(REWARDS) <= set(validation)
    assert validation["rewards/margins"] > 0.1
    assert validation["rewards/chosen"] > validation["rewards/rejected"]
    assert validation["rewards/accuracies"] > 0.5
    assert validation["rewards/margins"] == pytest.approx(validation["rewards/chosen"] - validation["rewards/rejected"])
    logged = [json.loads(line) for line in (dpo_run / "metrics.jsonl").read_text().splitlines()]
    margins = [row["eval_rewards/margins"] for row in logged if "eval_rewards/margins" in row]
    assert len(margins) == 3 and margins[-1] > margins[0]  # one evaluation per epoch, the margin grows
    assert (dpo_run / "report.html").is_file() and "rewards/margins" in (dpo_run / "report.html").read_text()


def test_eval_scores_a_finished_run_with_the_same_metrics(cli, dpo_run):
    result = cli("eval", dpo_run, "--data", FIXTURES / "dpo" / "train.jsonl", "--json")
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    saved = json.loads((dpo_run / "metrics.json").read_text())["validation"]
    assert scores["rewards/margins"] == pytest.approx(saved["rewards/margins"], abs=1e-4)


def test_lora_reference_is_the_base_without_the_adapter(cli, tmp_path):
    run_dir = tmp_path / "lora"
    args = ["peft.r=4", "training.max_steps=2", "training.learning_rate=5e-2", *ON_TRAIN]
    result = cli("finetune", FIXTURE, *args, "-o", run_dir)
    assert result.exit_code == 0, result.stderr
    assert (run_dir / "adapter_model.safetensors").is_file() and not (run_dir / "model.safetensors").exists()
    assert not (run_dir / "ref").exists()  # no copy of the new (zero) adapter: the reference disables it
    validation = json.loads((run_dir / "metrics.json").read_text())["validation"]
    assert validation["rewards/margins"] != 0  # scored against the adapter-free base, which training left behind
