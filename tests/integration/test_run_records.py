"""What a run leaves behind for people: metrics.jsonl, report.html, run.json, `llmkit runs`, `validate`."""

import json
import re

import pytest


def test_metrics_jsonl_has_train_and_eval_lines_with_increasing_steps(textcls_run):
    rows = [json.loads(line) for line in (textcls_run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["kind"] == "train"]
    evals = [r for r in rows if r["kind"] == "eval"]
    assert len(train) >= 3 and all("loss" in r and "learning_rate" in r for r in train)
    assert [r["step"] for r in train] == sorted(r["step"] for r in train)
    assert len({r["step"] for r in train}) == len(train)
    assert len(evals) == 2 and all("eval_accuracy" in r for r in evals)  # one per epoch
    assert rows[-1]["kind"] == "summary" and "train_runtime" in rows[-1]


def test_report_command_rebuilds_the_page(cli, textcls_run):
    (textcls_run / "report.html").unlink()
    result = cli("report", textcls_run)
    assert result.exit_code == 0, result.stderr
    assert (textcls_run / "report.html").is_file()


def test_run_json_records_versions_environment_and_fingerprints(textcls_run):
    run = json.loads((textcls_run / "run.json").read_text())
    assert run["versions"]["torch"] and run["versions"]["transformers"] and run["versions"]["datasets"]
    assert run["environment"]["seed"] == 7 and run["environment"]["device"] == "cpu"
    assert run["environment"]["world_size"] == 1
    assert len(run["tokenizer_hash"]) == 16
    assert any(path.endswith("train.csv") for path in run["data_fingerprints"])
    assert run["started"] and run["ended"] and run["status"] == "finished"
    assert "report.html" in run["files"] and "metrics.jsonl" in run["files"]


def test_metrics_json_summary_names_best_checkpoint_and_memory(textcls_run):
    summary = json.loads((textcls_run / "metrics.json").read_text())["summary"]
    assert summary["steps"] > 0 and summary["peak_rss_mb"] > 0
    assert summary["report"].endswith("report.html")


def test_runs_lists_the_run_with_task_metric_and_status(cli, textcls_run):
    result = cli("runs", textcls_run.parent, "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    row = next(r for r in rows if r["run"] == str(textcls_run))
    assert row["task"] == "textcls" and row["status"] == "finished"
    assert row["metric"].startswith("accuracy ") and "(test)" in row["metric"]


def test_report_to_tensorboard_writes_event_files(textcls_run):
    events = list((textcls_run / "runs").glob("*/events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_runs_on_missing_folder_is_a_usage_error(cli, tmp_path):
    result = cli("runs", tmp_path / "nope")
    assert result.exit_code == 2 and "no such folder" in result.stderr


def test_validate_reports_data_labels_and_model_size(cli, fixtures):
    result = cli("validate", fixtures / "textcls-tiny.yaml")
    assert result.exit_code == 0, result.stderr
    assert "recipe OK" in result.stdout and "Labels (5): animal, artifact, food, person, plant" in result.stdout
    assert re.search(r"Model: 0\.\d+M parameters", result.stdout)
    assert "will be truncated" in result.stderr  # max_seq_length 32 cuts some fixture rows


@pytest.mark.parametrize(
    ("override", "code", "message"),
    [
        ("data.label_column=topic", 3, "column 'topic' (data.label_column) not found"),
        ("data.train_file=missing.csv", 3, "file not found"),
        ("training.num_train_epoch=2", 2, "did you mean 'num_train_epochs'"),
        ("model.name_or_path=./no-such-model", 4, "not found"),
    ],
)
def test_validate_catches_each_problem_with_its_exit_code(cli, fixtures, override, code, message):
    result = cli("validate", fixtures / "textcls-tiny.yaml", override)
    assert result.exit_code == code, result.stderr
    assert message in result.stderr


def test_from_run_reruns_the_recorded_recipe_with_the_same_metrics(cli, textcls_run, tmp_path):
    out = tmp_path / "rerun"
    result = cli("finetune", "--from-run", textcls_run, "training.report_to=none", "--output-dir", out)
    assert result.exit_code == 0, result.stderr
    first = json.loads((textcls_run / "metrics.json").read_text())
    second = json.loads((out / "metrics.json").read_text())
    for split in ("validation", "test"):
        for key in ("accuracy", "f1", "loss"):
            assert second[split][key] == pytest.approx(first[split][key], abs=1e-6), (split, key)
    assert second["train"]["train_loss"] == pytest.approx(first["train"]["train_loss"], abs=1e-6)


def test_finetune_without_recipe_or_from_run_is_a_usage_error(cli):
    result = cli("finetune")
    assert result.exit_code == 2 and "--from-run" in result.stderr
