"""The model card (README.md) an export carries, and the check/quantization lines the CLI prints too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.export.results import ExportResult, OnnxCheck, Quantized
from llmkit.export.samples import LATENCY_RUNS, SAMPLE_TEXTS

if TYPE_CHECKING:
    from llmkit.tasks.spec import TaskSpec

TIMING_SUFFIXES = ("runtime", "samples_per_second", "steps_per_second", "tokens_per_second")


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def write_model_card(run: str, out_dir: Path, task: TaskSpec, result: ExportResult) -> None:
    """A README.md the Hub and people can read: what the model is, how to load it, its data and metrics."""
    run_dir = Path(run)
    metrics = _read_json(run_dir / "metrics.json")
    base = _read_json(run_dir / "run.json").get("model", "")
    lines = ["---", "library_name: " + ("onnx" if result.format == "onnx" else "transformers")]
    if task.pipeline_tag:
        lines.append(f"pipeline_tag: {task.pipeline_tag}")
    if base and not Path(str(base)).exists():
        lines.append(f"base_model: {base}")
    lines += ["tags: [llmkit]", "---", "", f"# {run_dir.resolve().name}", ""]
    lines.append(f"Exported by `llmkit export` ({result.format}) from run `{run_dir.resolve()}`: task `{task.name}`")
    lines[-1] += f", model `{base}`." if base else "."
    lines += ["", "## Use", "", *_usage(task, result), ""]
    lines += _data_lines(metrics.get("data") or {})
    lines += _metric_lines(metrics)
    if result.checks:
        lines += ["## ONNX check", "", f"ONNX Runtime vs PyTorch on {len(SAMPLE_TEXTS)} sample inputs:", ""]
        lines += [f"- `{c.file}`: {check_text(c)}" for c in result.checks]
        lines.append("")
    if result.quantized is not None:
        lines += ["## Dynamic int8 quantization", "", *quantized_lines(result.quantized), ""]
    recipe = run_dir / "recipe.yaml"
    if recipe.is_file():
        lines += ["## Recipe", "", "```yaml", recipe.read_text().rstrip(), "```", ""]
    (out_dir / "README.md").write_text("\n".join(lines))


def _data_lines(data: dict[str, Any]) -> list[str]:
    """The card's data table from metrics.json ``data``: rows, truncated and source per split, and the labels."""
    if not data.get("rows"):
        return []
    lines = ["## Data", "", "| split | rows | truncated | source |", "|---|---|---|---|"]
    for split, rows in data["rows"].items():
        truncated = (data.get("truncated") or {}).get(split, "")
        lines.append(f"| {split} | {rows} | {truncated} | {(data.get('sources') or {}).get(split, '')} |")
    if data.get("labels"):
        lines += ["", "Labels: " + ", ".join(str(label) for label in data["labels"])]
    return [*lines, ""]


def _metric_lines(metrics: dict[str, Any]) -> list[str]:
    """The card's metrics table: every number of the validation and test splits except timings."""
    splits = {s: metrics[s] for s in ("validation", "test") if isinstance(metrics.get(s), dict)}
    if not splits:
        return []
    lines = ["## Metrics", "", "| split | metric | value |", "|---|---|---|"]
    for split, values in splits.items():
        for name, value in values.items():
            if isinstance(value, (int, float)) and not name.endswith(TIMING_SUFFIXES):
                lines.append(f"| {split} | {name} | {value:.4g} |")
    return [*lines, ""]


def _usage(task: TaskSpec, result: ExportResult) -> list[str]:
    auto = task.auto_model
    if result.format == "onnx" and (result.out_dir / "model_with_past.onnx").exists():
        return _usage_with_past()
    if result.format == "onnx":
        first = "encoder.onnx" if (result.out_dir / "encoder.onnx").exists() else "model.onnx"
        return [
            "```python",
            "import onnxruntime as ort",
            "from transformers import AutoTokenizer",
            'tokenizer = AutoTokenizer.from_pretrained(".")',
            f'session = ort.InferenceSession("{first}", providers=["CPUExecutionProvider"])',
            "names = [i.name for i in session.get_inputs()]",
            'batch = tokenizer(["some text"], return_tensors="np")',
            "outputs = session.run(None, {k: v for k, v in batch.items() if k in names})",
            "```",
        ]
    if result.kind == "adapter":
        return ["```python", "from peft import AutoPeftModel", 'model = AutoPeftModel.from_pretrained(".")', "```"]
    code = ["```python", f"from transformers import {auto}, AutoTokenizer", f'model = {auto}.from_pretrained(".")']
    code.append('tokenizer = AutoTokenizer.from_pretrained(".")')
    if result.quantized is not None:
        code += ["import torch  # int8 linear layers, for CPU inference:"]
        code += ["model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)"]
    return [*code, "```"]


def _usage_with_past() -> list[str]:
    """Greedy decoding with the two causal-LM graphs: the prompt once, then one token at a time over the cache."""
    return [
        "```python",
        "import numpy as np",
        "import onnxruntime as ort",
        "from transformers import AutoTokenizer",
        'tokenizer = AutoTokenizer.from_pretrained(".", padding_side="left")',
        "tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token",
        'prompt = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])',
        'step = ort.InferenceSession("model_with_past.onnx", providers=["CPUExecutionProvider"])',
        "names = {i.name for i in step.get_inputs()}",
        'past = [i.name for i in step.get_inputs() if i.name.startswith("past_key_values.")]',
        'batch = tokenizer(["some text", "more text here"], return_tensors="np", padding=True)',
        'ids, mask = batch["input_ids"], batch["attention_mask"]',
        "positions = np.maximum(mask.cumsum(-1) - 1, 0)  # left padding: each row counts from its first token",
        "cache, new = [], []",
        "for _ in range(20):",
        '    feed = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}',
        "    feed = {k: v for k, v in feed.items() if k in names} | dict(zip(past, cache))",
        "    logits, *cache = (step if cache else prompt).run(None, feed)",
        "    ids = logits[:, -1].argmax(-1)[:, None]",
        "    new.append(ids)",
        "    mask = np.concatenate([mask, np.ones_like(ids)], axis=1)",
        "    positions = positions[:, -1:] + 1",
        "print(tokenizer.batch_decode(np.concatenate(new, axis=1)))",
        "```",
    ]


def check_text(check: OnnxCheck) -> str:
    """One ONNX check in words (the card and the CLI)."""
    text = f"max abs difference {check.max_abs_diff:.2e} (tolerance {check.tolerance:g})"
    return f"{text}; {check.detail}" if check.detail else text


def quantized_lines(q: Quantized) -> list[str]:
    """The measured effect of quantization, as Markdown list items (also used by the CLI)."""
    lines = [
        f"- method: {q.method}",
        f"- size: {q.bytes_before / 1e6:.2f} MB -> {q.bytes_after / 1e6:.2f} MB",
        f"- CPU latency (1 thread, median of {LATENCY_RUNS}, batch of {len(SAMPLE_TEXTS)}): "
        f"{q.latency_ms_before:.2f} ms -> {q.latency_ms_after:.2f} ms",
    ]
    if q.metric is not None and q.metric_before is not None and q.metric_after is not None:
        lines.append(f"- validation {q.metric}: {q.metric_before:.4g} -> {q.metric_after:.4g}")
    elif q.metric_note:
        lines.append(f"- validation metric: not measured ({q.metric_note})")
    if q.max_abs_diff is not None:
        lines.append(f"- max abs output difference int8 vs fp32 on the sample inputs: {q.max_abs_diff:.3g}")
    return lines
