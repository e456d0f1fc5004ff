"""The model card (README.md) an export carries, and the check/quantization lines the CLI prints too."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmkit.export.results import ExportResult, OnnxCheck, Quantized
from llmkit.export.samples import LATENCY_RUNS, SAMPLE_TEXTS
from llmkit.train.card import TIMING_SUFFIXES

if TYPE_CHECKING:
    from llmkit.tasks.spec import TaskSpec

__all__ = ["TIMING_SUFFIXES", "check_text", "quantized_lines", "write_model_card"]


def write_model_card(run: str, out_dir: Path, task: TaskSpec, result: ExportResult) -> None:
    """README.md of an export: the run's card (Hub metadata, use, data, results, recipe) plus what export measured.

    Read from the run directory (``metrics.json``, ``recipe.yaml``) and, for the head's labels and whether the
    export is an adapter, from ``out_dir`` itself.
    """
    from llmkit.train import card

    run_dir = Path(run)
    facts = card.read_facts(run_dir, task, name=run_dir.resolve().name)
    written = card.read_facts(out_dir, task)
    facts.labels, facts.adapter = written.labels, written.adapter
    library = "onnx" if result.format == "onnx" else "peft" if facts.adapter else "transformers"
    usage = card.usage_lines(facts) if result.format == "hf" else _usage(task, result)
    if result.quantized is not None and result.format == "hf":
        at = next(i for i, line in enumerate(usage) if line.startswith("model = ")) + 1
        usage = [*usage[:at], *_int8_lines(), *usage[at:]]
    extra: list[str] = []
    if result.checks:
        extra += ["## ONNX check", "", f"ONNX Runtime vs PyTorch on {len(SAMPLE_TEXTS)} sample inputs:", ""]
        extra += [f"- `{c.file}`: {check_text(c)}" for c in result.checks]
        extra.append("")
    if result.quantized is not None:
        extra += ["## Dynamic int8 quantization", "", *quantized_lines(result.quantized), ""]
    intro = f"Exported by `llmkit export` ({result.format}) from run `{facts.name}`."
    (out_dir / card.CARD_FILE).write_text(card.card_text(facts, library, usage, extra, intro), encoding="utf-8")


def _int8_lines() -> list[str]:
    return [
        "import torch  # int8 linear layers, for CPU inference:",
        "model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)",
    ]


def _usage(task: TaskSpec, result: ExportResult) -> list[str]:
    """The ONNX Runtime snippet: one graph, or the two causal-LM graphs with their cache."""
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
    raise ValueError(f"no ONNX usage for format {result.format}")


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
