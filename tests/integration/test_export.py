"""`llmkit export`: model card and generation config, ONNX graphs that match PyTorch, int8 quantization."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from paths import FIXTURES

# One small run per task head; each takes a few seconds.
RUNS = {
    "clm": ("pretrain", "clm-tiny.yaml", ["training.max_steps=4"]),
    "mlm": ("pretrain", "mlm-tiny.yaml", ["training.max_steps=4"]),
    "qa": ("finetune", "qa-tiny.yaml", ["training.max_steps=2"]),
    "translation": ("finetune", "translation-tiny.yaml", ["training.max_steps=3"]),
}
OTHER_TEXTS = ["plants grow in the sun", "a person who repairs water pipes and drains", "bread"]
# ONNX exports shared by the tests below; the causal LM and the classifier are also quantized.
ONNX_ARGS = {"clm": ["--quantize", "dynamic-int8"], "textcls": ["--quantize", "dynamic-int8"]}
LOGITS = ("logits", "start_logits", "end_logits")


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


@pytest.fixture(scope="module")
def onnx_exports(cli, runs, tmp_path_factory):
    """task -> (run, ONNX export directory, CLI stdout), exported on first use."""
    pytest.importorskip("onnxruntime", reason="llmkit[onnx] not installed")
    pytest.importorskip("onnxscript", reason="llmkit[onnx] not installed")
    made = {}
    root = tmp_path_factory.mktemp("onnx-exports")

    def get(task: str) -> tuple[Path, Path, str]:
        if task not in made:
            run, out = runs(task), root / task
            result = cli("export", run, out, "--format", "onnx", *ONNX_ARGS.get(task, []))
            assert result.exit_code == 0, result.stdout + result.stderr
            made[task] = (run, out, result.stdout)
        return made[task]

    return get


def _positions(mask: np.ndarray) -> np.ndarray:
    """Position ids as transformers' generate makes them from a (left-)padded mask."""
    return np.where(mask == 1, mask.cumsum(-1) - 1, 0)


def _torch_outputs(run: Path, task: str, batch: dict) -> list[np.ndarray]:
    from llmkit.train import load_for_inference

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
    from llmkit.train import load_for_inference

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
def test_onnx_export_matches_pytorch_on_new_inputs(onnx_exports, task):
    import onnxruntime as ort
    from transformers import AutoTokenizer

    run, out, stdout = onnx_exports(task)
    assert "model.onnx: ONNX Runtime vs PyTorch max abs difference" in stdout
    assert (out / "tokenizer.json").is_file() and (out / "config.json").is_file() and (out / "README.md").is_file()
    tokenizer = AutoTokenizer.from_pretrained(out)
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    batch = _batch(tokenizer, task, "np")  # a batch size and length the export never saw
    if "position_ids" in names:  # causal LM graphs take them (left padding); here the padding is on the right
        batch["position_ids"] = _positions(batch["attention_mask"])
    logits = [o.name for o in session.get_outputs() if o.name in LOGITS]
    got = session.run(logits, {k: v for k, v in batch.items() if k in names})
    expected = _torch_outputs(run, task, {k: torch.from_numpy(v) for k, v in batch.items()})
    assert len(got) == len(expected) == (2 if task == "qa" else 1)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-4)


def test_causal_lm_onnx_decodes_over_its_cache_like_generate(onnx_exports):
    """model.onnx on a left-padded prompt, then model_with_past.onnx fed its presents: generate's tokens and
    logits at every step; and teacher-forced steps over the cache give the full forward pass's logits."""
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from llmkit.train import load_for_inference

    run, out, stdout = onnx_exports("clm")
    assert "model_with_past.onnx: ONNX Runtime vs PyTorch max abs difference" in stdout
    assert "cached greedy steps" in stdout and "model_with_past.onnx" in (out / "README.md").read_text()
    model = load_for_inference(str(run), device="cpu").model
    prompt, step = (
        ort.InferenceSession(str(out / name), providers=["CPUExecutionProvider"])
        for name in ("model.onnx", "model_with_past.onnx")
    )
    layers = model.config.n_layer
    assert [o.name for o in prompt.get_outputs()] == [o.name for o in step.get_outputs()]
    assert [o.name for o in step.get_outputs()][1:] == [
        f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")
    ]
    past = [i.name for i in step.get_inputs() if i.name.startswith("past_key_values.")]
    assert len(past) == 2 * layers
    tokenizer = AutoTokenizer.from_pretrained(out, padding_side="left")
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    texts = ["a person who repairs water pipes and drains every day", "bread"]  # lengths the export never saw
    batch = tokenizer(texts, return_tensors="np", padding=True)
    assert (batch["attention_mask"] == 0).any()  # left padding in the batch
    steps = 5
    with torch.no_grad():
        generated = model.generate(
            **{k: torch.from_numpy(v) for k, v in batch.items()},
            do_sample=False,
            max_new_tokens=steps,
            pad_token_id=tokenizer.pad_token_id,
            output_logits=True,
            return_dict_in_generate=True,
        )
    ids, mask = batch["input_ids"], batch["attention_mask"]
    positions, cache, tokens = _positions(mask), [], []
    for index in range(steps):
        feed = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
        feed |= dict(zip(past, cache, strict=index > 0))
        logits, *cache = (step if index else prompt).run(None, feed)
        np.testing.assert_allclose(logits[:, -1], generated.logits[index].numpy(), atol=1e-4)
        ids = logits[:, -1].argmax(-1)[:, None]
        tokens.append(ids)
        mask = np.concatenate([mask, np.ones_like(ids)], axis=1)
        positions = positions[:, -1:] + 1
    np.testing.assert_array_equal(np.concatenate(tokens, axis=1), generated.sequences[:, -steps:].numpy())
    # Teacher forcing: known tokens one at a time over the cache == one forward pass over the whole text.
    full = tokenizer(["plants grow in the sun and people eat bread"], return_tensors="np")["input_ids"]
    with torch.no_grad():
        expected = model(input_ids=torch.from_numpy(full)).logits.numpy()
    start = 3
    ones = np.ones_like(full)
    feed = {"input_ids": full[:, :start], "attention_mask": ones[:, :start], "position_ids": np.arange(start)[None]}
    logits, *cache = prompt.run(None, feed)
    for i in range(start, full.shape[1]):
        feed = {"input_ids": full[:, i : i + 1], "attention_mask": ones[:, : i + 1], "position_ids": np.array([[i]])}
        feed |= dict(zip(past, cache, strict=True))
        logits, *cache = step.run(None, feed)
        np.testing.assert_allclose(logits[:, 0], expected[:, i], atol=1e-4)
    # --quantize dynamic-int8 quantized both graphs; the int8 cached step stays close to fp32.
    assert "validation perplexity:" in stdout and (out / "model.int8.onnx").is_file()
    int8 = ort.InferenceSession(str(out / "model_with_past.int8.onnx"), providers=["CPUExecutionProvider"])
    q8 = int8.run(None, feed)[0]
    assert not np.array_equal(q8, logits) and np.abs(q8 - logits).max() < 0.1


def test_torch_int8_export_reports_size_latency_and_metric_and_the_int8_model_evaluates(cli, textcls_run, tmp_path):
    from llmkit.export import quantize_dynamic_int8
    from llmkit.train import evaluate

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


def test_onnx_int8_is_smaller_runs_close_to_fp32_and_reports_the_metric_scored_by_onnx_runtime(onnx_exports):
    import onnxruntime as ort
    from transformers import AutoTokenizer

    from llmkit.export import onnx_runtime_model
    from llmkit.train import evaluate

    run, out, stdout = onnx_exports("textcls")
    assert (out / "model.int8.onnx").stat().st_size < (out / "model.onnx").stat().st_size / 2
    batch = _batch(AutoTokenizer.from_pretrained(out), "textcls", "np")
    fp32, int8 = (
        ort.InferenceSession(str(out / n), providers=["CPUExecutionProvider"])
        for n in ("model.onnx", "model.int8.onnx")
    )
    names = {i.name for i in fp32.get_inputs()}
    feed = {k: v for k, v in batch.items() if k in names}
    a, b = fp32.run(None, feed)[0], int8.run(None, feed)[0]
    assert not np.array_equal(a, b) and np.abs(a - b).max() < 0.1  # int8 weights, close outputs
    # The metric before -> after: the fp32 graph, scored by the run's own evaluation through ONNX Runtime,
    # gives the PyTorch model's validation metrics; the int8 graph gives its own.
    trained = json.loads((run / "metrics.json").read_text())["validation"]
    line = f"validation accuracy: {trained['accuracy']:.4g} -> "
    assert line in stdout and line in (out / "README.md").read_text()
    scored = evaluate(str(run), split="validation", model_transform=onnx_runtime_model(out / "model.onnx"))
    assert abs(scored.result.metrics["accuracy"] - trained["accuracy"]) < 1e-6
    assert abs(scored.result.metrics["f1"] - trained["f1"]) < 1e-6
    assert abs(scored.result.metrics["loss"] - trained["loss"]) < 1e-5
    quantized = evaluate(str(run), split="validation", model_transform=onnx_runtime_model(out / "model.int8.onnx"))
    assert quantized.result.metrics["loss"] != scored.result.metrics["loss"]  # another graph ran
    assert abs(quantized.result.metrics["loss"] - trained["loss"]) < 0.05


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
