"""`llmkit pretrain mlm mlm.nsp=true` on a tiny BERT: MLM + NSP metrics, reproducible validation pairs, a
BertForPreTraining checkpoint, fill-mask with it, and its encoder warm-starting a textcls run."""

from __future__ import annotations

import json

import pytest
from paths import FIXTURES, fixture_recipe
from transformers import AutoModelForPreTraining, AutoModelForSequenceClassification


@pytest.fixture(scope="module")
def nsp_run(cli, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "nsp"
    result = cli("pretrain", FIXTURES / "mlm-nsp-tiny.yaml", "training.max_steps=12", "--output-dir", run_dir)
    assert result.exit_code == 0, result.stdout + result.stderr
    return run_dir


def test_nsp_run_reports_masked_perplexity_and_nsp_metrics(nsp_run):
    metrics = json.loads((nsp_run / "metrics.json").read_text())
    validation = metrics["validation"]
    assert {"perplexity", "nsp_accuracy", "nsp_loss", "loss"} <= set(validation)
    assert 0.0 <= validation["nsp_accuracy"] <= 1.0 and validation["nsp_loss"] > 0
    pairs = metrics["data"]["nsp_pairs"]["validation"]
    assert pairs["real"] > 0 and pairs["random"] > 0
    assert metrics["data"]["rows"]["validation"] == pairs["real"] + pairs["random"]


def test_validation_pairs_are_fixed_so_eval_repeats_the_run_figures(cli, nsp_run):
    figures = []
    for _ in range(2):
        result = cli("eval", nsp_run, "--split", "validation", "--json")
        assert result.exit_code == 0, result.stdout + result.stderr
        figures.append(json.loads(result.stdout.strip().splitlines()[-1]))
    assert figures[0] == figures[1]
    recorded = json.loads((nsp_run / "metrics.json").read_text())["validation"]
    for name in ("perplexity", "nsp_accuracy", "nsp_loss"):
        assert figures[0][name] == pytest.approx(recorded[name], rel=1e-5)


def test_the_checkpoint_is_bert_for_pretraining_and_fills_masks(cli, nsp_run):
    model = AutoModelForPreTraining.from_pretrained(nsp_run)
    assert type(model).__name__ == "BertForPreTraining"
    result = cli("generate", "--model", nsp_run, "--prompt", "This package provides the [MASK] files.", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert len(json.loads(result.stdout.strip().splitlines()[-1])["masks"]) == 1


def test_the_nsp_encoder_warm_starts_a_classifier(cli, nsp_run, tmp_path):
    run_dir = tmp_path / "textcls"
    result = cli(
        "finetune", fixture_recipe("textcls"), f"model.name_or_path={nsp_run}", "training.max_steps=2",
        "training.learning_rate=1e-4", "--output-dir", run_dir,
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    pretrained = AutoModelForPreTraining.from_pretrained(nsp_run).bert
    classifier = AutoModelForSequenceClassification.from_pretrained(run_dir).bert
    for name in ("embeddings.position_embeddings.weight", "encoder.layer.1.attention.self.query.weight"):
        before, after = pretrained.state_dict()[name], classifier.state_dict()[name]
        assert before.shape == after.shape
        assert float((before - after).abs().max()) < 2e-3  # two Adam steps of 1e-4 from the NSP weights, not new ones
