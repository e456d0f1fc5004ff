"""Multiple choice: finetune -> eval -> generate -> export on tiny-bert through the real CLI, offline; LoRA, SWAG
columns, validate and exact resume."""

import json

import pytest
import torch
from paths import FIXTURES
from safetensors.torch import load_file
from test_resume_every_task import STEPS, history

RECIPE = FIXTURES / "multiple_choice-tiny.yaml"
DATA = FIXTURES / "multiple_choice"
SWAG = [
    "data.question_column=sent1",
    "data.choice_prefix_column=sent2",
    "data.choices_column=[ending0,ending1,ending2,ending3]",
]


@pytest.fixture(scope="module")
def mc_run(cli, tmp_path_factory):
    """One fine-tuned tiny-bert multiple-choice run, shared by the tests below."""
    run_dir = tmp_path_factory.mktemp("runs") / "multiple_choice"
    result = cli("finetune", RECIPE, "--output-dir", run_dir)
    assert result.exit_code == 0, result.stdout + result.stderr
    return run_dir


def test_run_has_a_multiple_choice_model_and_accuracy(mc_run):
    config = json.loads((mc_run / "config.json").read_text())
    assert config["architectures"] == ["BertForMultipleChoice"]
    metrics = json.loads((mc_run / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert {"accuracy", "loss"} <= set(metrics[split]), split
        assert 0.0 <= metrics[split]["accuracy"] <= 1.0
    data = metrics["data"]
    assert data["rows"] == {"train": 64, "validation": 16, "test": 16}
    assert data["choices"] == {"train": 4, "validation": 4, "test": 4}
    assert data["truncated"]["train"] > 0  # max_seq_length 24 cuts some (definition, word) pairs


def test_training_reduced_the_loss(mc_run):
    state = json.loads((mc_run / "trainer_state.json").read_text())
    losses = [entry["loss"] for entry in state["log_history"] if "loss" in entry]
    assert len(losses) >= 3 and losses[-1] < losses[0] - 0.1


def test_eval_writes_index_predictions_that_score_what_it_printed(cli, mc_run, tmp_path):
    out = tmp_path / "preds.jsonl"
    result = cli("eval", mc_run, "--data", DATA / "test.jsonl", "--predictions", out, "--json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 16 and rows[0]["id"] == "test-0"
    assert all(isinstance(r["prediction"], int) and isinstance(r["reference"], int) for r in rows)
    gold = [json.loads(line)["label"] for line in (DATA / "test.jsonl").read_text().splitlines()]
    assert [r["reference"] for r in rows] == gold
    assert printed["accuracy"] == pytest.approx(sum(r["prediction"] == r["reference"] for r in rows) / 16)
    saved = json.loads((mc_run / "metrics.json").read_text())["test"]
    for key in ("accuracy", "loss"):
        assert printed[key] == pytest.approx(saved[key], rel=1e-5), key


def test_eval_of_swag_columns_reads_the_same_examples(cli, mc_run):
    plain = json.loads(cli("eval", mc_run, "--data", DATA / "test.jsonl", "--json").stdout)
    result = cli("eval", mc_run, *SWAG, "--data", DATA / "swag.csv", "--json")
    assert result.exit_code == 0, result.stderr
    swag = json.loads(result.stdout)
    assert swag["accuracy"] == pytest.approx(plain["accuracy"]) and swag["loss"] == pytest.approx(plain["loss"])


def test_a_row_with_another_number_of_choices_is_a_data_error_naming_its_line(cli, mc_run, tmp_path):
    rows = DATA.joinpath("test.jsonl").read_text().splitlines()
    odd = json.loads(rows[2])
    odd["choices"] = odd["choices"][:3]
    odd["label"] = 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*rows[:2], json.dumps(odd), *rows[3:]]) + "\n")
    result = cli("eval", mc_run, "--data", bad)
    assert result.exit_code == 3, result.stderr
    message = " ".join(result.stderr.split())
    assert "same number of choices" in message and "line 3" in message


def test_generate_prints_the_score_of_every_choice(cli, mc_run):
    question = "a daily or weekly publication on folded sheets"
    args = ("generate", "--model", mc_run, "--question", question, "--choice", "newspaper", "--choice", "hint")
    result = cli(*args, "--choice", "foliage")
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert question in text and "->" in text
    assert all(f"{choice} 0." in text for choice in ("newspaper", "hint", "foliage"))
    [row] = [json.loads(line) for line in cli(*args, "--json").stdout.splitlines()]
    assert row["choices"] == ["newspaper", "hint"] and row["choice"] == row["choices"][row["prediction"]]
    assert sum(row["scores"]) == pytest.approx(1.0, abs=1e-5)


def test_generate_reads_questions_with_choices_from_jsonl(cli, mc_run, tmp_path):
    inputs = tmp_path / "questions.jsonl"
    items = [{"question": "a young dog", "choices": ["puppy", "kitten"]}, {"question": "q", "choices": ["a", "b", "c"]}]
    inputs.write_text("".join(json.dumps(item) + "\n" for item in items))
    result = cli("generate", "--model", mc_run, "--input", inputs, "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["question"], len(r["scores"])) for r in rows] == [("a young dog", 2), ("q", 3)]


def test_generate_without_choices_is_a_usage_error(cli, mc_run):
    result = cli("generate", "--model", mc_run, "--prompt", "a young dog")
    assert result.exit_code == 2 and "two or more choices" in result.stderr
    result = cli("generate", "--model", mc_run, "--question", "a young dog")
    assert result.exit_code == 2 and "--choice" in result.stderr


def test_validate_counts_tokens_per_question_choice_pair(cli):
    result = cli("validate", RECIPE)
    assert result.exit_code == 0, result.stderr
    train = next(line for line in result.stdout.splitlines() if "train" in line)
    cells = [cell.strip() for cell in train.split("│") if cell.strip()]
    assert cells[:3] == ["train", "64", "64"]
    assert int(cells[-2]) == 24 and int(cells[3]) > 4  # max = max_seq_length; lengths are tokens, not choices


def test_export_to_hf_and_onnx_with_any_number_of_choices(cli, mc_run, tmp_path):
    from transformers import AutoModelForMultipleChoice, AutoTokenizer

    from llmkit.tasks.multiple_choice import ChoicesCollator, encode

    result = cli("export", mc_run, tmp_path / "hf")
    assert result.exit_code == 0, result.stderr
    assert "pipeline_tag: multiple-choice" in (tmp_path / "hf" / "README.md").read_text()
    model = AutoModelForMultipleChoice.from_pretrained(tmp_path / "hf").eval()
    ort = pytest.importorskip("onnxruntime", reason="llmkit[onnx] not installed")
    pytest.importorskip("onnxscript", reason="llmkit[onnx] not installed")
    result = cli("export", mc_run, tmp_path / "onnx", "--format", "onnx")
    assert result.exit_code == 0, result.stderr
    assert "model.onnx: ONNX Runtime vs PyTorch" in result.stdout
    session = ort.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "onnx")
    for choices in (["a cat", "a dog"], ["newspaper", "a long word list here", "hint", "b", "c"]):
        blocks, _ = encode(tokenizer, ["a question", "another longer question here"], [choices] * 2, 64)
        batch = ChoicesCollator(tokenizer)([{k: v[i] for k, v in blocks.items()} for i in range(2)])
        [got] = session.run(None, {k: v.numpy() for k, v in batch.items()})
        with torch.no_grad():
            expected = model(**batch).logits.numpy()
        assert got.shape == (2, len(choices)) and abs(got - expected).max() < 1e-4


def test_lora_trains_the_adapter_and_its_run_answers(cli, tmp_path):
    run_dir = tmp_path / "lora"
    result = cli("finetune", RECIPE, "peft.r=4", "training.max_steps=4", "--output-dir", run_dir)
    assert result.exit_code == 0, result.stderr
    adapter = json.loads((run_dir / "adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_CLS" and "classifier" in adapter["modules_to_save"]
    assert not (run_dir / "model.safetensors").exists()
    result = cli("generate", "--model", run_dir, "--question", "a young dog", "--choice", "puppy", "--choice", "cat")
    assert result.exit_code == 0 and "puppy" in result.stdout, result.stderr
    result = cli("eval", run_dir, "--json")
    assert result.exit_code == 0 and 0.0 <= json.loads(result.stdout)["accuracy"] <= 1.0, result.stderr


def test_sigterm_then_resume_is_exact(cli, tmp_path, monkeypatch):
    """The shared resume check of test_resume_every_task.py on this task's fixture."""
    args = ["finetune", RECIPE, *STEPS]
    reference = tmp_path / "reference"
    assert cli(*args, "--output-dir", reference).exit_code == 0
    stopped = tmp_path / "stopped"
    monkeypatch.setenv("LLMKIT_TEST_FAULTS", "1")
    monkeypatch.setenv("LLMKIT_FAULTS", "signal=TERM@5")
    result = cli(*args, "--output-dir", stopped)
    assert result.exit_code == 143, result.stderr
    monkeypatch.setenv("LLMKIT_FAULTS", "")
    resumed = cli(*args, "--output-dir", stopped, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming from checkpoint-5" in resumed.stderr
    assert history(stopped) == history(reference) and len(history(reference)) == 8
    a, b = load_file(stopped / "model.safetensors"), load_file(reference / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
