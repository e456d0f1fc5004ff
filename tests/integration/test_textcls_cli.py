"""finetune -> eval -> generate on tiny-bert through the real CLI, offline."""

import json

import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer


def test_run_directory_holds_model_tokenizer_recipe_metrics(textcls_run):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "recipe.yaml", "metrics.json", "run.json"):
        assert (textcls_run / name).is_file(), name
    model = AutoModelForSequenceClassification.from_pretrained(textcls_run)
    assert model.config.id2label == {0: "animal", 1: "artifact", 2: "food", 3: "person", 4: "plant"}
    assert AutoTokenizer.from_pretrained(textcls_run).pad_token == "[PAD]"
    run = json.loads((textcls_run / "run.json").read_text())
    assert run["status"] == "finished" and run["task"] == "textcls"
    assert "model.safetensors" in run["files"]


def test_metrics_json_has_train_validation_test_and_per_class(textcls_run):
    metrics = json.loads((textcls_run / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert {"accuracy", "f1", "precision", "recall", "loss"} <= set(metrics[split])
        assert 0.0 <= metrics[split]["accuracy"] <= 1.0
    assert metrics["train"]["train_loss"] > 0
    per_class = metrics["tables"]["test"]["per_class"]
    assert [row["label"] for row in per_class] == ["animal", "artifact", "food", "person", "plant"]
    assert sum(row["support"] for row in per_class) == 30
    assert metrics["data"]["rows"] == {"train": 80, "validation": 30, "test": 30}


def test_training_reduced_the_loss(textcls_run):
    state = json.loads((textcls_run / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses) >= 3 and losses[-1] < losses[0]


def test_eval_json_reproduces_saved_test_metrics(cli, textcls_run, fixtures):
    result = cli("eval", textcls_run, "--data", fixtures / "textcls" / "test.csv", "--json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)  # exactly one JSON object and nothing else on stdout
    saved = json.loads((textcls_run / "metrics.json").read_text())["test"]
    for key in ("accuracy", "f1", "precision", "recall", "loss"):
        assert printed[key] == pytest.approx(saved[key], rel=1e-5), key


def test_eval_on_jsonl_file_with_ids_writes_predictions(cli, textcls_run, fixtures, tmp_path):
    out = tmp_path / "preds.jsonl"
    result = cli(
        "eval",
        textcls_run,
        "data.id_column=id",
        "--data",
        fixtures / "textcls" / "test.jsonl",
        "--predictions",
        out,
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 30 and rows[0]["id"] == "ex0"
    assert {"id", "prediction", "reference"} <= set(rows[0])
    accuracy = sum(r["prediction"] == r["reference"] for r in rows) / len(rows)
    assert json.loads(result.stdout)["accuracy"] == pytest.approx(accuracy)


def test_generate_classifies_text(cli, textcls_run):
    result = cli("generate", "--model", textcls_run, "--prompt", "a small dog", "--prompt", "a hammer", "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2
    assert rows[0]["label"] in {"animal", "artifact", "food", "person", "plant"}
    assert sum(rows[0]["scores"].values()) == pytest.approx(1.0, abs=1e-5)


def test_existing_run_is_not_overwritten_without_asking(cli, textcls_run, fixtures):
    before = (textcls_run / "model.safetensors").stat().st_mtime_ns
    result = cli("finetune", fixtures / "textcls-tiny.yaml", "--output-dir", textcls_run)
    assert result.exit_code == 2 and "--overwrite" in result.stderr
    assert (textcls_run / "model.safetensors").stat().st_mtime_ns == before


def test_gpt2_classifier_handles_padding(cli, fixtures, tmp_path):
    result = cli(
        "finetune",
        fixtures / "textcls-tiny.yaml",
        "model.name_or_path=tiny-gpt2",
        "training.num_train_epochs=1",
        "data.test_file=null",
        "--output-dir",
        tmp_path / "gpt2",
    )
    assert result.exit_code == 0, result.stderr
    config = json.loads((tmp_path / "gpt2" / "config.json").read_text())
    assert config["pad_token_id"] == 0 and config["architectures"] == ["GPT2ForSequenceClassification"]


def test_local_evaluate_metric_script_is_used_when_named(cli, textcls_run, fixtures, tmp_path):
    pytest.importorskip("evaluate")
    script = tmp_path / "exact_count.py"
    script.write_text(EXACT_COUNT)
    result = cli(
        "eval", textcls_run, f"eval.metrics=[accuracy, {script}]", "--data", fixtures / "textcls" / "test.csv", "--json"
    )
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["exact_count"] == pytest.approx(printed["accuracy"] * 30)
    assert "f1" not in printed  # only what was named


EXACT_COUNT = """
import datasets
import evaluate


class ExactCount(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="number of exact matches", citation="", inputs_description="",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        return {"exact_count": sum(int(p == r) for p, r in zip(predictions, references))}
"""


def test_length_grouped_training_keeps_evaluation_rows_in_order(cli, fixtures, tmp_path):
    """transformers 5 also length-groups evaluation batches; llmkit evaluates in order so rows stay paired."""
    import csv

    run_dir = tmp_path / "grouped"
    result = cli(
        "finetune",
        fixtures / "textcls-tiny.yaml",
        "training.train_sampling_strategy=group_by_length",
        "training.num_train_epochs=1",
        "--output-dir",
        run_dir,
    )
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "preds.jsonl"
    evaluated = cli("eval", run_dir, "--predictions", out, "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    with (fixtures / "textcls" / "test.csv").open() as handle:
        truth = [(r["text"], r["label"]) for r in csv.DictReader(handle)]
    assert [(r["text"], r["reference"]) for r in rows] == truth
