"""summarization through the real CLI on tiny models: finetune -> eval -> generate, decoder-only, LoRA, export
(hf and onnx) and exact resume, offline, on slices of the Debian package descriptions."""

import csv
import json

import pytest
import torch
from paths import FIXTURES
from safetensors.torch import load_file
from test_resume_every_task import STEPS, history

RECIPE = FIXTURES / "summarization-tiny.yaml"
DATA = FIXTURES / "summarization"
ROUGE = ("rouge1", "rouge2", "rougeL", "rougeLsum")
QUICK = ["training.eval_strategy=no", "training.save_strategy=no", "eval.early_stopping_patience=null"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models train several times faster on one thread when the cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def finetune(cli, run_dir, *overrides):
    result = cli("finetune", RECIPE, "--output-dir", run_dir, *overrides)
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def t5_run(cli, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "t5"
    finetune(cli, run_dir)
    return run_dir


def check_metrics(metrics):
    for split in ("validation", "test"):
        scores = metrics[split]
        assert {*ROUGE, "gen_len", "loss", "gen_tokens_per_second"} <= set(scores)
        assert all(0.0 <= scores[name] <= 100.0 for name in ROUGE)
        assert 0.0 <= scores["gen_len"] <= 12  # data.max_target_length bounds generation
    assert metrics["data"]["rows"] == {"train": 160, "validation": 16, "test": 16}


def test_t5_run_has_rouge_and_rouge_l_selected_checkpoints(t5_run):
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "report.html"):
        assert (t5_run / name).is_file(), name
    metrics = json.loads((t5_run / "metrics.json").read_text())
    check_metrics(metrics)
    assert metrics["data"]["kind"] == "seq2seq"
    state = json.loads((t5_run / "trainer_state.json").read_text())
    evals = [entry for entry in state["log_history"] if "eval_rougeL" in entry]
    assert len(evals) == 2  # eval_steps 3 of max_steps 6, each generating
    assert state["best_metric"] == max(entry["eval_rougeL"] for entry in evals)
    generation = json.loads((t5_run / "generation_config.json").read_text())
    assert generation["max_new_tokens"] == 12 and generation["use_cache"] is True


def test_eval_predictions_are_id_prediction_reference_rows_in_input_order(cli, t5_run, tmp_path):
    out = tmp_path / "preds.jsonl"
    result = cli("eval", t5_run, "--data", DATA / "test.jsonl", "--predictions", out, "--json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    saved = json.loads((t5_run / "metrics.json").read_text())["test"]
    for key in (*ROUGE, "gen_len", "loss"):
        assert printed[key] == pytest.approx(saved[key], rel=1e-5), key
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [json.loads(line) for line in (DATA / "test.jsonl").read_text().splitlines()]
    assert all(set(row) == {"id", "prediction", "reference"} for row in rows)
    assert [r["id"] for r in rows] == [e["id"] for e in expected]
    assert [r["reference"] for r in rows] == [e["summary"] for e in expected]

    from llmkit.tasks.summarization import rouge_scores

    rescored = rouge_scores([r["prediction"] for r in rows], [r["reference"] for r in rows])
    assert rescored == pytest.approx({name: printed[name] for name in ROUGE})


def test_eval_reads_csv_with_other_column_names(cli, t5_run):
    args = ["data.text_column=text", "data.summary_column=abstract", "data.id_column=null"]
    result = cli("eval", t5_run, *args, "--data", DATA / "abstracts.csv", "--json")
    assert result.exit_code == 0, result.stderr
    assert {*ROUGE, "gen_len"} <= set(json.loads(result.stdout))


def test_generate_summarizes_a_prompt(cli, t5_run):
    with (DATA / "abstracts.csv").open(encoding="utf-8") as handle:
        document = next(csv.DictReader(handle))["text"]
    result = cli("generate", "--model", t5_run, "--prompt", document, "--num-beams", "2", "--json")
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["text"] == document and isinstance(row["prediction"], str)


def test_export_hf_and_onnx_encoder_decoder(cli, t5_run, tmp_path):
    assert cli("export", t5_run, tmp_path / "hf").exit_code == 0
    assert (tmp_path / "hf" / "generation_config.json").is_file()
    assert "pipeline_tag: summarization" in (tmp_path / "hf" / "README.md").read_text()
    pytest.importorskip("onnxruntime", reason="llmkit[onnx] not installed")
    pytest.importorskip("onnxscript", reason="llmkit[onnx] not installed")
    result = cli("export", t5_run, tmp_path / "onnx", "--format", "onnx")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "encoder.onnx: ONNX Runtime" in result.stdout and "decoder.onnx: ONNX Runtime" in result.stdout


def test_decoder_only_gpt2_trains_and_generates_the_summary_only(cli, tmp_path):
    run_dir = tmp_path / "gpt2"
    metrics = finetune(cli, run_dir, "model.name_or_path=tiny-gpt2", "training.max_steps=3", *QUICK)
    check_metrics(metrics)
    assert metrics["data"]["kind"] == "decoder-only"
    out = tmp_path / "preds.jsonl"
    assert cli("eval", run_dir, "--predictions", out, "--json").exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    documents = [json.loads(line)["document"] for line in (DATA / "validation.jsonl").read_text().splitlines()]
    # generation starts after the prompt: no prediction repeats the "...\nSummary:" prompt it was given
    assert len(rows) == 16 and not any("Summary:" in r["prediction"] for r in rows)
    assert not any(r["prediction"] and d.startswith(r["prediction"]) for r, d in zip(rows, documents, strict=True))


def test_lora_trains_an_adapter_and_generates(cli, tmp_path):
    run_dir = tmp_path / "lora"
    metrics = finetune(cli, run_dir, "peft.r=4", "training.max_steps=3", *QUICK)
    check_metrics(metrics)
    assert (run_dir / "adapter_config.json").is_file()
    assert json.loads((run_dir / "adapter_config.json").read_text())["task_type"] == "SEQ_2_SEQ_LM"
    result = cli("generate", "--model", run_dir, "--prompt", "A tool that prints files.", "--json")
    assert result.exit_code == 0, result.stderr


def test_sigterm_then_resume_is_exact(cli, tmp_path, monkeypatch):
    """The shared resume check (test_resume_every_task.py) for this task's fixture."""
    args = ["finetune", RECIPE, *STEPS, "eval.early_stopping_patience=null"]
    reference = tmp_path / "reference"
    assert cli(*args, "--output-dir", reference).exit_code == 0
    stopped = tmp_path / "stopped"
    monkeypatch.setenv("LLMKIT_TEST_FAULTS", "1")
    monkeypatch.setenv("LLMKIT_FAULTS", "signal=TERM@5")
    assert cli(*args, "--output-dir", stopped).exit_code == 143
    monkeypatch.setenv("LLMKIT_FAULTS", "")
    resumed = cli(*args, "--output-dir", stopped, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming from checkpoint-5" in resumed.stderr
    assert history(stopped) == history(reference) and len(history(reference)) == 8
    a, b = load_file(stopped / "model.safetensors"), load_file(reference / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
