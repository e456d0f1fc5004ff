"""Token classification: finetune -> eval -> generate -> export on tiny-bert through the real CLI, offline; LoRA,
validate and exact resume."""

import json

import pytest
import torch
from paths import FIXTURES
from safetensors.torch import load_file
from seqeval.metrics import accuracy_score, f1_score
from test_resume_every_task import STEPS, history

RECIPE = FIXTURES / "tokencls-tiny.yaml"
DATA = FIXTURES / "tokencls"


@pytest.fixture(scope="module")
def tok_run(cli, tmp_path_factory):
    """One fine-tuned tiny-bert tagger, shared by the tests below."""
    run_dir = tmp_path_factory.mktemp("runs") / "tokencls"
    result = cli("finetune", RECIPE, "--output-dir", run_dir)
    assert result.exit_code == 0, result.stdout + result.stderr
    return run_dir


def test_run_has_a_token_classifier_and_seqeval_metrics(tok_run):
    config = json.loads((tok_run / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert "NOUN" in config["id2label"].values()
    metrics = json.loads((tok_run / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert {"precision", "recall", "f1", "accuracy", "loss"} <= set(metrics[split]), split
    data = metrics["data"]
    assert data["rows"] == {"train": 100, "validation": 24, "test": 24}  # CoNLL train file, -DOCSTART- skipped
    assert data["truncated_words"]["test"] > 0  # 32 sub-tokens cut the longer sentences


def test_eval_predictions_give_one_tag_per_word_and_seqeval_scores_them_alike(cli, tok_run, tmp_path):
    out = tmp_path / "preds.jsonl"
    result = cli("eval", tok_run, "--predictions", out, "--json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 24 and {"id", "tokens", "prediction", "reference"} <= set(rows[0])
    assert all(len(r["prediction"]) == len(r["tokens"]) == len(r["reference"]) for r in rows)

    # POS tags carry no B-/I- prefix: each word is a one-word entity, which seqeval reads as B-<tag>.
    def chunked(tags):
        return [t if t == "O" or t[:2] in ("B-", "I-", "E-", "S-") else f"B-{t}" for t in tags]

    predictions = [chunked(r["prediction"]) for r in rows]
    references = [chunked(r["reference"]) for r in rows]
    assert printed["f1"] == pytest.approx(f1_score(references, predictions))
    assert printed["accuracy"] == pytest.approx(accuracy_score(references, predictions))


def test_generate_tags_every_word_with_character_offsets(cli, tok_run):
    text = "Bugün İstanbul'da hava çok güzel."
    result = cli("generate", "--model", tok_run, "--prompt", text, "--json")
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["tokens"] == ["Bugün", "İstanbul'da", "hava", "çok", "güzel", "."]
    assert len(row["tags"]) == len(row["tokens"])
    for entity in row["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
    shown = cli("generate", "--model", tok_run, "--prompt", text)
    assert shown.exit_code == 0 and "İstanbul'da/" in shown.stdout, shown.stderr


def test_export_to_hf_and_onnx(cli, tok_run, tmp_path):
    assert cli("export", tok_run, tmp_path / "hf").exit_code == 0
    card = (tmp_path / "hf" / "README.md").read_text()
    assert "token-classification" in card
    result = cli("export", tok_run, tmp_path / "onnx", "--format", "onnx")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "onnx" / "model.onnx").is_file()


def test_lora_trains_the_adapter(cli, tmp_path):
    run_dir = tmp_path / "lora"
    result = cli("finetune", RECIPE, "peft.r=4", "training.max_steps=3", "--output-dir", run_dir)
    assert result.exit_code == 0, result.stderr
    assert json.loads((run_dir / "adapter_config.json").read_text())["task_type"] == "TOKEN_CLS"
    result = cli("generate", "--model", run_dir, "--prompt", "hava çok güzel", "--json")
    assert result.exit_code == 0 and len(json.loads(result.stdout)["tags"]) == 3, result.stderr


def test_sigterm_then_resume_is_exact(cli, tmp_path, monkeypatch):
    """The shared resume check of test_resume_every_task.py on this task's fixture."""
    args = ["finetune", RECIPE, *STEPS]
    reference = tmp_path / "reference"
    assert cli(*args, "--output-dir", reference).exit_code == 0
    stopped = tmp_path / "stopped"
    monkeypatch.setenv("LLMKIT_TEST_FAULTS", "1")
    monkeypatch.setenv("LLMKIT_FAULTS", "signal=TERM@5")
    assert cli(*args, "--output-dir", stopped).exit_code == 143
    monkeypatch.setenv("LLMKIT_FAULTS", "")
    resumed = cli(*args, "--output-dir", stopped, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert history(stopped) == history(reference) and len(history(reference)) == 8
    a, b = load_file(stopped / "model.safetensors"), load_file(reference / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
