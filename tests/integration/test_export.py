"""`llmkit export`: model card and generation config, ONNX graphs that match PyTorch, int8 quantization."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# One small run per task head; each takes a few seconds.
RUNS = {
    "clm": ("pretrain", "clm-tiny.yaml", ["training.max_steps=4"]),
    "mlm": ("pretrain", "mlm-tiny.yaml", ["training.max_steps=4"]),
    "qa": ("finetune", "qa-tiny.yaml", ["training.max_steps=2"]),
    "translation": ("finetune", "translation-tiny.yaml", ["training.max_steps=3"]),
}
OTHER_TEXTS = ["plants grow in the sun", "a person who repairs water pipes and drains", "bread"]


@pytest.fixture(scope="module")
def runs(cli, textcls_run, tmp_path_factory):
    """task -> run directory, trained on first use."""
    made = {"textcls": textcls_run}
    root = tmp_path_factory.mktemp("export-runs")

    def get(task: str) -> Path:
        if task not in made:
            command, recipe, extra = RUNS[task]
            result = cli(command, FIXTURES / recipe, *extra, "-o", root / task)
            assert result.exit_code == 0, result.stdout + result.stderr
            made[task] = root / task
        return made[task]

    return get


def _torch_outputs(run: Path, task: str, batch: dict) -> list[np.ndarray]:
    from llmkit.runner import load_for_inference

    model = load_for_inference(str(run), device="cpu").model
    with torch.no_grad():
        out = model(**batch)
    return [out[k].numpy() for k in ("logits", "start_logits", "end_logits") if out.get(k) is not None]


def _batch(tokenizer, task: str, framework: str) -> dict:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if task == "qa":
        return dict(
            tokenizer(OTHER_TEXTS, ["the sun shines on plants and people"] * 3, return_tensors=framework, padding=True)
        )
    return dict(tokenizer(OTHER_TEXTS, return_tensors=framework, padding=True))


def test_hf_export_writes_a_model_card_and_the_generation_config(cli, runs, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run = runs("clm")
    out = tmp_path / "clm-hf"
    result = cli("export", run, out)
    assert result.exit_code == 0, result.stderr
    assert (out / "generation_config.json").is_file() and (out / "model.safetensors").is_file()
    card = (out / "README.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert "pipeline_tag: text-generation" in card and "AutoModelForCausalLM" in card
    assert f"| validation | perplexity | {metrics['validation']['perplexity']:.4g} |" in card
    assert f"| train | {metrics['data']['rows']['train']} |" in card
    assert "## Recipe" in card and "block_size: 32" in card
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    batch = _batch(AutoTokenizer.from_pretrained(out), "clm", "pt")
    with torch.no_grad():
        got = model(**batch).logits.numpy()
    np.testing.assert_allclose(got, _torch_outputs(run, "clm", batch)[0], atol=1e-6)


def test_seq2seq_exports_to_hf_with_generation_config_and_to_onnx_encoder_and_decoder(cli, runs, tmp_path):
    run = runs("translation")
    assert cli("export", run, tmp_path / "hf").exit_code == 0
    assert (tmp_path / "hf" / "generation_config.json").is_file()
    assert "pipeline_tag: translation" in (tmp_path / "hf" / "README.md").read_text()
    ort = pytest.importorskip("onnxruntime", reason="llmkit[onnx] not installed")
    out = tmp_path / "onnx"
    result = cli("export", run, out, "--format", "onnx")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "encoder.onnx: ONNX Runtime" in result.stdout and "decoder.onnx: ONNX Runtime" in result.stdout
    from llmkit.runner import load_for_inference

    loaded = load_for_inference(str(run), device="cpu")
    batch = loaded.tokenizer(OTHER_TEXTS, return_tensors="pt", padding=True)  # lengths the export never saw
    target = torch.tensor([[0, 5, 7, 9, 11]] * len(OTHER_TEXTS))
    encoder = ort.InferenceSession(str(out / "encoder.onnx"), providers=["CPUExecutionProvider"])
    decoder = ort.InferenceSession(str(out / "decoder.onnx"), providers=["CPUExecutionProvider"])
    mask = batch["attention_mask"].numpy()
    hidden = encoder.run(None, {"input_ids": batch["input_ids"].numpy(), "attention_mask": mask})[0]
    feed = {"decoder_input_ids": target.numpy(), "encoder_hidden_states": hidden, "attention_mask": mask}
    got = decoder.run(None, feed)[0]
    with torch.no_grad():
        expected = loaded.model(**batch, decoder_input_ids=target).logits.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("task", ["textcls", "qa", "mlm", "clm"])
def test_onnx_export_matches_pytorch_on_new_inputs(cli, runs, tmp_path, task):
    ort = pytest.importorskip("onnxruntime", reason="llmkit[onnx] not installed")
    pytest.importorskip("onnxscript", reason="llmkit[onnx] not installed")
    from transformers import AutoTokenizer

    run, out = runs(task), tmp_path / f"{task}-onnx"
    result = cli("export", run, out, "--format", "onnx")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "model.onnx: ONNX Runtime vs PyTorch max abs difference" in result.stdout
    assert (out / "tokenizer.json").is_file() and (out / "config.json").is_file() and (out / "README.md").is_file()
    tokenizer = AutoTokenizer.from_pretrained(out)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    batch = _batch(tokenizer, task, "np")  # a batch size and length the export never saw
    got = session.run(None, {k: v for k, v in batch.items() if k in names})
    expected = _torch_outputs(run, task, {k: torch.from_numpy(v) for k, v in batch.items()})
    assert len(got) == len(expected) == (2 if task == "qa" else 1)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-4)


def test_torch_int8_export_reports_size_latency_and_metric_and_the_int8_model_evaluates(cli, textcls_run, tmp_path):
    from llmkit.export import quantize_dynamic_int8
    from llmkit.runner import evaluate

    result = cli("export", textcls_run, tmp_path / "int8", "--quantize", "dynamic-int8")
    assert result.exit_code == 0, result.stderr
    assert "size:" in result.stdout and "CPU latency" in result.stdout and "validation accuracy:" in result.stdout
    assert "quantize_dynamic" in (tmp_path / "int8" / "README.md").read_text()
    seen = []

    def transform(model):
        seen.append(quantize_dynamic_int8(model))
        return seen[-1]

    metrics = evaluate(str(textcls_run), split="validation", model_transform=transform).result.metrics
    modules = list(seen[0].modules())
    assert not any(type(m) is torch.nn.Linear for m in modules)
    assert any(type(m).__module__.startswith("torch.ao.nn.quantized.dynamic") for m in modules)
    trained = json.loads((textcls_run / "metrics.json").read_text())["validation"]
    assert 0 <= metrics["accuracy"] <= 1 and abs(metrics["loss"] - trained["loss"]) < 0.05


def test_onnx_int8_is_smaller_and_runs_close_to_fp32(cli, textcls_run, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="llmkit[onnx] not installed")
    pytest.importorskip("onnxscript", reason="llmkit[onnx] not installed")
    out = tmp_path / "onnx-int8"
    result = cli("export", textcls_run, out, "--format", "onnx", "--quantize", "dynamic-int8")
    assert result.exit_code == 0, result.stderr
    assert (out / "model.int8.onnx").stat().st_size < (out / "model.onnx").stat().st_size / 2
    from transformers import AutoTokenizer

    batch = _batch(AutoTokenizer.from_pretrained(out), "textcls", "np")
    fp32, int8 = (
        ort.InferenceSession(str(out / n), providers=["CPUExecutionProvider"])
        for n in ("model.onnx", "model.int8.onnx")
    )
    names = {i.name for i in fp32.get_inputs()}
    feed = {k: v for k, v in batch.items() if k in names}
    a, b = fp32.run(None, feed)[0], int8.run(None, feed)[0]
    assert not np.array_equal(a, b) and np.abs(a - b).max() < 0.1  # int8 weights, close outputs


def test_unknown_format_and_quantization_are_usage_errors(cli, textcls_run, tmp_path):
    bad = cli("export", textcls_run, tmp_path / "a", "--format", "tflite")
    assert bad.exit_code == 2 and "unknown format" in bad.stderr
    bad = cli("export", textcls_run, tmp_path / "b", "--quantize", "int4")
    assert bad.exit_code == 2 and "unknown method" in bad.stderr


def test_onnx_export_of_a_lora_run_is_merged_and_matches_the_adapter_model(cli, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="llmkit[onnx] not installed")
    pytest.importorskip("onnxscript", reason="llmkit[onnx] not installed")
    from transformers import AutoTokenizer

    run = tmp_path / "lora"
    args = ["peft.r=4", "training.learning_rate=5e-3", "training.num_train_epochs=1", "data.test_file=null"]
    assert cli("finetune", FIXTURES / "textcls-tiny.yaml", *args, "-o", run).exit_code == 0
    out = tmp_path / "lora-onnx"
    result = cli("export", run, out, "--format", "onnx")
    assert result.exit_code == 0, result.stdout + result.stderr
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    batch = _batch(AutoTokenizer.from_pretrained(out), "textcls", "np")
    got = session.run(None, {k: v for k, v in batch.items() if k in names})[0]
    expected = _torch_outputs(run, "textcls", {k: torch.from_numpy(v) for k, v in batch.items()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
