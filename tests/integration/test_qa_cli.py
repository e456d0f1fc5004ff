"""Extractive QA: finetune -> eval -> generate on tiny-bert through the real CLI, offline."""

import json

import pytest

from llmkit.metrics import squad_v2_scores

V2_KEYS = {
    "exact_match",
    "f1",
    "total",
    "HasAns_exact",
    "HasAns_f1",
    "HasAns_total",
    "NoAns_exact",
    "NoAns_f1",
    "NoAns_total",
    "best_exact",
    "best_exact_thresh",
    "best_f1",
    "best_f1_thresh",
}


@pytest.fixture(scope="session")
def qa_finetune(cli, fixtures, tmp_path_factory):
    """One fine-tuned tiny-bert QA run (SQuAD v2 fixture data), shared by the tests below."""
    run_dir = tmp_path_factory.mktemp("runs") / "qa"
    result = cli("finetune", fixtures / "qa-tiny.yaml", "--output-dir", run_dir)
    assert result.exit_code == 0, result.stdout + result.stderr
    return run_dir, result


@pytest.fixture(scope="session")
def qa_run(qa_finetune):
    return qa_finetune[0]


def test_run_has_a_question_answering_model_and_v2_metrics(qa_run):
    config = json.loads((qa_run / "config.json").read_text())
    assert config["architectures"] == ["BertForQuestionAnswering"]
    metrics = json.loads((qa_run / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert set(metrics[split]) >= V2_KEYS, split
        assert metrics[split]["total"] == 12 and metrics[split]["NoAns_total"] == 3
        assert 0.0 <= metrics[split]["f1"] <= 100.0
    data = metrics["data"]
    assert data["rows"] == {"train": 33, "validation": 12, "test": 12}
    assert data["windows"]["train"] > data["rows"]["train"]  # long contexts were split into windows


def test_bad_training_rows_are_counted_and_shown(qa_run, qa_finetune):
    problems = json.loads((qa_run / "metrics.json").read_text())["data"]["problems"]["train"]
    assert problems["counts"] == {"relocated": 1, "not_in_context": 1, "dropped": 1, "no_context": 1}
    assert problems["rows"] == 3
    assert {row["id"] for row in problems["examples"]} == {"bad-offset", "bad-missing", "bad-nocontext"}
    result = qa_finetune[1]
    assert "bad rows: relocated 1, not_in_context 1, dropped 1, no_context 1" in " ".join(result.stderr.split())
    assert "bad rows: train 3" in result.stdout  # run summary


def test_training_reduced_the_loss(qa_run):
    state = json.loads((qa_run / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses) >= 3 and losses[-1] < losses[0]


def test_eval_writes_one_prediction_per_question_and_matching_metrics(cli, qa_run, fixtures, tmp_path):
    out = tmp_path / "preds.jsonl"
    result = cli("eval", qa_run, "--data", fixtures / "qa" / "test.csv", "--predictions", out, "--json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert set(printed) >= V2_KEYS
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12 and len({r["id"] for r in rows}) == 12
    assert all(isinstance(r["prediction"], str) and isinstance(r["reference"], list) for r in rows)
    assert sum(r["reference"] == [] for r in rows) == 3
    # The file's answers ("" = no answer) score exactly what eval printed.
    rescored = squad_v2_scores({r["id"]: r["prediction"] for r in rows}, {r["id"]: r["reference"] for r in rows})
    assert printed["exact_match"] == pytest.approx(rescored["exact_match"])
    assert printed["f1"] == pytest.approx(rescored["f1"])
    saved = json.loads((qa_run / "metrics.json").read_text())["test"]
    for key in ("exact_match", "f1", "best_f1", "loss"):
        assert printed[key] == pytest.approx(saved[key], rel=1e-5), key


def test_eval_of_nested_squad_json_as_v1(cli, qa_run, fixtures):
    result = cli("eval", qa_run, "qa.version_2_with_negative=false", "--data", fixtures / "qa" / "train.json", "--json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert {"exact_match", "f1"} <= set(printed) and "HasAns_exact" not in printed


def test_eval_keeps_only_start_end_logits_when_the_model_returns_hidden_states(cli, qa_run, fixtures):
    args = ("--data", fixtures / "qa" / "test.csv", "--json")
    plain = json.loads(cli("eval", qa_run, *args).stdout)
    result = cli("eval", qa_run, "model.config_overrides={output_hidden_states: true}", *args)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["f1"] == pytest.approx(plain["f1"])


def test_generate_answers_a_question_from_its_context(cli, qa_run):
    context = "lamp (a kind of source of illumination): an artificial source of visible illumination."
    result = cli("generate", "--model", qa_run, "--question", "What is a lamp a kind of?", "--context", context)
    assert result.exit_code == 0, result.stderr
    assert "What is a lamp a kind of?" in result.stdout and "->" in result.stdout
    result = cli("generate", "--model", qa_run, "--question", "What is a lamp?", "--context", context, "--json")
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert isinstance(row["score"], float) and 0.0 <= row["score"] <= 1.0
    assert row["answer"] == "" or context[row["start"] : row["end"]] == row["answer"]


def test_generate_reads_question_context_pairs_from_jsonl(cli, qa_run, tmp_path):
    inputs = tmp_path / "questions.jsonl"
    inputs.write_text(
        json.dumps({"question": "What is a cat?", "context": "cat (a kind of feline): a small domestic animal."})
        + "\n"
        + json.dumps({"question": "Who wrote it?", "context": "It was written by a famous author in 1851."})
        + "\n"
    )
    result = cli("generate", "--model", qa_run, "--input", inputs, "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == ["What is a cat?", "Who wrote it?"]


def test_generate_without_context_is_a_usage_error(cli, qa_run):
    result = cli("generate", "--model", qa_run, "--prompt", "What is a cat?")
    assert result.exit_code == 2 and "question and a context" in result.stderr
