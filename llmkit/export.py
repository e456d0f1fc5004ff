"""`llmkit export`: a run directory -> a clean directory for tools that do not know llmkit.

``hf`` (default) holds only what transformers (or PEFT) needs: safetensors weights, the config with the
label names, the generation config when the model generates, the tokenizer, and a model card README
with the recipe, data summary and metrics. A LoRA run is written as its adapter, or with ``merge`` as a
full model with the adapter folded into the base weights.

``onnx`` holds one ONNX graph per model part (``model.onnx``; seq2seq models: ``encoder.onnx`` and
``decoder.onnx``, without past key values) made by torch's ONNX exporter, the tokenizer and config beside
it, and the card. Each graph is checked against PyTorch with ONNX Runtime on sample inputs before the command succeeds.
A causal LM gets a key/value cache for incremental decoding: ``model.onnx`` (the prompt) also returns
``present.{i}.key``/``present.{i}.value`` per layer, and ``model_with_past.onnx`` takes them back as
``past_key_values.{i}.key``/``.value`` with the new tokens; both take ``position_ids`` so left-padded batches
work. Its check is greedy decoding, ONNX Runtime against PyTorch, step by step.

``quantize="dynamic-int8"`` measures int8 dynamic quantization of the linear layers: for ``hf`` with
``torch.ao.quantization.quantize_dynamic`` (applied at load time: packed int8 weights have no
safetensors form, so the saved weights stay fp32 and the card shows the one line that quantizes them),
for ``onnx`` with ONNX Runtime's ``quantize_dynamic``, which writes ``*.int8.onnx`` files. The validation
metric, before -> after, comes from the run's own evaluation with the model swapped: an int8 copy for ``hf``, for
``onnx`` a module that runs the fp32 and then the int8 ``model.onnx`` in ONNX Runtime (single-graph models).
"""

from __future__ import annotations

import io
import json
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmkit.errors import ModelError, UsageError

logger = logging.getLogger(__name__)

FORMATS = ("hf", "onnx")
QUANTIZATIONS = ("dynamic-int8",)
# ONNX Runtime vs PyTorch on the same inputs, fp32: larger gaps mean a wrong graph, not rounding.
ONNX_ATOL = 1e-4
LATENCY_RUNS = 20
TIMING_SUFFIXES = ("runtime", "samples_per_second", "steps_per_second", "tokens_per_second")
# Sample inputs for checking and timing exported graphs: two lengths, so padding and dynamic axes are used.
SAMPLE_TEXTS = ("a small domesticated animal that purrs and catches mice", "a sweet dessert")
SAMPLE_CONTEXT = "The cat is a small domesticated animal. It purrs and catches mice."
# Causal LMs: tokens decoded greedily by the KV-cache check, and the prompt tail fed to model_with_past.onnx when it is
# exported (more than one token, and a length unlike the batch size, so no axis is specialized to a constant).
GREEDY_TOKENS = 5
EXPORT_NEW_TOKENS = 3
PIPELINE_TAGS = {
    "textcls": "text-classification",
    "qa": "question-answering",
    "mlm": "fill-mask",
    "clm": "text-generation",
    "translation": "translation",
}


@dataclass
class OnnxCheck:
    """One exported graph and how far ONNX Runtime's outputs were from PyTorch's."""

    file: str
    max_abs_diff: float
    tolerance: float
    detail: str = ""  # what beyond one forward pass was compared (greedy decoding steps)


@dataclass
class Quantized:
    """What dynamic int8 quantization gave: size, CPU latency and the key metric, before -> after."""

    method: str
    bytes_before: int
    bytes_after: int
    latency_ms_before: float
    latency_ms_after: float
    metric: str | None = None
    metric_before: float | None = None
    metric_after: float | None = None
    max_abs_diff: float | None = None  # int8 vs fp32 outputs on the sample inputs
    files: list[str] = field(default_factory=list)
    metric_note: str | None = None  # why the metric was not measured, when it was not


@dataclass
class ExportResult:
    """What `llmkit export` wrote."""

    out_dir: Path
    kind: str  # "model" (full weights, merged or not), "adapter", or "onnx"
    weight_bytes: int
    files: list[str]
    format: str = "hf"
    checks: list[OnnxCheck] = field(default_factory=list)
    quantized: Quantized | None = None


def export(
    run: str,
    out_dir: Path,
    merge: bool = False,
    fmt: str = "hf",
    quantize: str | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Write the model of ``run`` (a run directory or checkpoint) to ``out_dir`` in format ``fmt``.

    Everything is written into a hidden folder beside ``out_dir`` and moved into place when complete, with
    a manifest (``llmkit-export.json``); ``overwrite`` replaces only a folder holding an earlier export.
    Raises UsageError for an unknown format or quantization, when ``out_dir`` holds anything else, or when
    ``merge`` is asked of a run without adapter; ModelError when an ONNX graph disagrees with PyTorch.
    """
    from llmkit import adapters, outputs
    from llmkit.runner import load_for_inference
    from llmkit.targets import check_model_ref

    if fmt not in FORMATS:
        raise UsageError(f"--format: unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UsageError(f"--quantize: unknown method '{quantize}'; choose one of {', '.join(QUANTIZATIONS)}")
    outputs.check_export_dir(out_dir, overwrite)
    check_model_ref(run, "RUN", local=True)
    is_adapter = adapters.is_adapter_dir(run)
    if merge and not is_adapter:
        raise UsageError(f"--merge: {run} has no LoRA adapter to merge; export it without --merge")
    if fmt == "onnx":
        _require_onnx()
    loaded = load_for_inference(run, device="cpu")
    # One ONNX graph needs plain weights, so an adapter is always folded in there.
    model = adapters.merge(loaded.model) if is_adapter and (merge or fmt == "onnx") else loaded.model
    model.eval()
    staging = outputs.staging_dir(out_dir)
    try:
        result = _write_export(run, staging, model, loaded, fmt, quantize, adapter=is_adapter and not merge)
        source = str(Path(run).resolve()) if Path(run).exists() else run
        info = {"run": source, "format": fmt, "merge": merge, "quantize": quantize}
        result.files = outputs.commit_export(staging, out_dir, info)
    except BaseException:
        outputs.discard(staging)
        raise
    result.out_dir = out_dir
    return result


def _write_export(
    run: str, out_dir: Path, model: Any, loaded: Any, fmt: str, quantize: str | None, adapter: bool
) -> ExportResult:
    """Write the export into ``out_dir`` (the staging folder): weights or graphs, tokenizer, card."""
    # Left padding for the ONNX KV-cache check (prompts); the hf path compares whole outputs, so right padding.
    samples = sample_inputs(loaded.task.name, loaded.tokenizer, left=fmt == "onnx" and is_causal_lm(model))
    if fmt == "hf":
        result = _export_hf(model, loaded, out_dir, adapter=adapter)
        if quantize:
            result.quantized = quantize_torch(run, model, samples, loaded.task.key_metric)
    else:
        result = _export_onnx(model, loaded, out_dir, samples)
        if quantize:
            result.quantized = quantize_onnx(out_dir, result.checks, model, samples, run, loaded.task)
    write_model_card(run, out_dir, loaded.task.name, result)
    return result


# ---------------------------------------------------------------------------------------------
# save_pretrained directories and the model card


def _export_hf(model: Any, loaded: Any, out_dir: Path, adapter: bool) -> ExportResult:
    model.save_pretrained(str(out_dir))
    base = model.get_base_model() if adapter else model
    if adapter:
        base.config.save_pretrained(str(out_dir))
    generation_config = getattr(base, "generation_config", None)
    if generation_config is not None and base.can_generate() and not (out_dir / "generation_config.json").exists():
        generation_config.save_pretrained(str(out_dir))
    loaded.tokenizer.save_pretrained(str(out_dir))
    weights = sum(p.stat().st_size for p in out_dir.glob("*.safetensors"))
    return ExportResult(out_dir, "adapter" if adapter else "model", weights, [], format="hf")


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def write_model_card(run: str, out_dir: Path, task: str, result: ExportResult) -> None:
    """A README.md the Hub and people can read: what the model is, how to load it, its data and metrics."""
    run_dir = Path(run)
    metrics = _read_json(run_dir / "metrics.json")
    record = _read_json(run_dir / "run.json")
    base = record.get("model", "")
    lines = ["---", "library_name: " + ("onnx" if result.format == "onnx" else "transformers")]
    if task in PIPELINE_TAGS:
        lines.append(f"pipeline_tag: {PIPELINE_TAGS[task]}")
    if base and not Path(str(base)).exists():
        lines.append(f"base_model: {base}")
    lines += ["tags: [llmkit]", "---", "", f"# {run_dir.resolve().name}", ""]
    lines.append(f"Exported by `llmkit export` ({result.format}) from run `{run_dir.resolve()}`: task `{task}`")
    lines[-1] += f", model `{base}`." if base else "."
    lines += ["", "## Use", "", *_usage(task, result), ""]
    data = metrics.get("data") or {}
    if data.get("rows"):
        lines += ["## Data", "", "| split | rows | truncated | source |", "|---|---|---|---|"]
        for split, rows in data["rows"].items():
            truncated = (data.get("truncated") or {}).get(split, "")
            lines.append(f"| {split} | {rows} | {truncated} | {(data.get('sources') or {}).get(split, '')} |")
        if data.get("labels"):
            lines += ["", "Labels: " + ", ".join(str(label) for label in data["labels"])]
        lines.append("")
    splits = {s: metrics[s] for s in ("validation", "test") if isinstance(metrics.get(s), dict)}
    if splits:
        lines += ["## Metrics", "", "| split | metric | value |", "|---|---|---|"]
        for split, values in splits.items():
            for name, value in values.items():
                if isinstance(value, (int, float)) and not name.endswith(TIMING_SUFFIXES):
                    lines.append(f"| {split} | {name} | {value:.4g} |")
        lines.append("")
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


def _usage(task: str, result: ExportResult) -> list[str]:
    from llmkit.tasks import get_task

    auto = get_task(task).auto_model
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


# ---------------------------------------------------------------------------------------------
# Sample inputs and timing


def sample_inputs(task: str, tokenizer: Any, left: bool = False) -> dict[str, Any]:
    """A padded batch of two sample inputs for ``task`` (torch tensors), for checks and timing; ``left``
    pads on the left, as prompts to a causal LM are."""
    import copy

    # A copy pads (with EOS when it has no pad token): padding settings stay on a fast tokenizer's backend after
    # a call, and would be saved with the exported tokenizer, which stays as trained.
    tokenizer = copy.deepcopy(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if left:
        tokenizer.padding_side = "left"
    texts = list(SAMPLE_TEXTS)
    if task == "qa":
        return dict(tokenizer(texts, [SAMPLE_CONTEXT] * len(texts), return_tensors="pt", padding=True))
    return dict(tokenizer(texts, return_tensors="pt", padding=True))


def _median_ms(fn: Callable[[], Any]) -> float:
    """Median wall time of ``fn`` on one CPU thread (torch and ONNX Runtime alike, so they compare)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fn()  # warm-up
        times = []
        for _ in range(LATENCY_RUNS):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
    finally:
        torch.set_num_threads(threads)
    return statistics.median(times)


def _torch_forward(model: Any, batch: dict[str, Any]) -> Callable[[], Any]:
    import torch

    def run() -> Any:
        with torch.inference_mode():
            if model.config.is_encoder_decoder:
                return model(**batch, decoder_input_ids=_decoder_start(model, batch["input_ids"]))
            return model(**batch)

    return run


def _decoder_start(model: Any, input_ids: Any) -> Any:
    import torch

    start = model.config.decoder_start_token_id
    start = model.config.pad_token_id if start is None else start
    return torch.full((input_ids.shape[0], 3), int(start or 0), dtype=torch.long)


def _state_bytes(model: Any) -> int:
    """Bytes of the serialized state dict (fp32 or packed int8 alike), to compare sizes fairly."""
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


# ---------------------------------------------------------------------------------------------
# PyTorch dynamic int8


def quantize_dynamic_int8(model: Any) -> Any:
    """A copy of ``model`` with every ``nn.Linear`` replaced by a dynamically quantized int8 one (CPU)."""
    import copy

    import torch

    return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


def quantize_torch(run: str, model: Any, samples: dict[str, Any], key_metric: str) -> Quantized:
    """Size, latency and validation metric of ``model`` before and after int8 dynamic quantization."""
    int8 = quantize_dynamic_int8(model)
    before, after = _torch_forward(model, samples), _torch_forward(int8, samples)
    diff = _max_diff(_output_arrays(before()), _output_arrays(after()))
    result = Quantized(
        method="torch.ao.quantization.quantize_dynamic (nn.Linear, qint8)",
        bytes_before=_state_bytes(model),
        bytes_after=_state_bytes(int8),
        latency_ms_before=_median_ms(before),
        latency_ms_after=_median_ms(after),
        max_abs_diff=diff,
    )
    measure_metric(result, run, key_metric, None, quantize_dynamic_int8)
    return result


def measure_metric(
    result: Quantized,
    run: str,
    key_metric: str,
    before: Callable[[Any], Any] | None,
    after: Callable[[Any], Any],
) -> None:
    """Fill ``result.metric*`` from the run's validation split, scored with the model as ``before`` and ``after``
    make it (`llmkit.runner.evaluate`'s ``model_transform``), or say in ``metric_note`` why it could not be."""
    from llmkit.runner import evaluate

    if not Path(run, "recipe.yaml").is_file():
        result.metric_note = "not an llmkit run directory (no recipe.yaml to find its validation data)"
        return
    try:
        fp32 = evaluate(run, split="validation", model_transform=before).result.metrics
    except UsageError:  # the run has no validation data
        result.metric_note = "the run has no validation data"
        return
    q8 = evaluate(run, split="validation", model_transform=after).result.metrics
    name = key_metric if key_metric in fp32 else "loss"
    result.metric, result.metric_before, result.metric_after = name, fp32.get(name), q8.get(name)


def _output_arrays(output: Any) -> list[Any]:
    keys = ("logits", "start_logits", "end_logits")
    return [output[k].float().numpy() for k in keys if k in output and output[k] is not None]


def _max_diff(a: list[Any], b: list[Any]) -> float:
    import numpy as np

    return max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))


# ---------------------------------------------------------------------------------------------
# ONNX


def _require_onnx() -> None:
    missing = []
    for module in ("onnx", "onnxruntime", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UsageError(f"--format onnx needs {', '.join(missing)}; install them with: pip install 'llmkit[onnx]'")


class _Part:
    """One graph to export: a module taking positional tensors, their names, and the output names.

    ``axes`` names the dynamic axes of each input (and of outputs where known), for TorchScript's exporter.
    """

    def __init__(
        self,
        file: str,
        module: Any,
        inputs: dict[str, Any],
        outputs: list[str],
        axes: dict[str, dict[int, str]] | None = None,
    ) -> None:
        self.file, self.module, self.inputs, self.outputs = file, module.eval(), inputs, outputs
        self.axes = axes or {k: {0: "batch", 1: "sequence"} for k in inputs}
        self.cached = any(name.startswith("present.") for name in outputs)

    def diff(self, expected: list[Any], got: list[Any], inputs: dict[str, Any] | None = None) -> float:
        """Largest difference between two runs of this graph; for a causal LM over real tokens only."""
        return (
            _real_diff(self.outputs, expected, got, inputs or self.inputs) if self.cached else _max_diff(expected, got)
        )


def _real_diff(outputs: list[str], expected: list[Any], got: list[Any], inputs: dict[str, Any]) -> float:
    """Largest difference at the positions of real tokens. A left-padding position attends to nothing; what a
    runtime makes of a fully masked row is arbitrary, and no real token reads it (the mask hides it from all)."""
    import numpy as np

    mask = np.asarray(inputs["attention_mask"]).astype(bool)
    new = mask[:, -np.asarray(inputs["input_ids"]).shape[1] :]
    diff = 0.0
    for name, a, b in zip(outputs, expected, got, strict=True):
        gap = np.abs(np.asarray(a) - np.asarray(b))
        gap = gap[new] if name == "logits" else gap.transpose(0, 2, 1, 3)[mask]  # presents: batch, heads, seq, dim
        diff = max(diff, float(gap.max()))
    return diff


def is_causal_lm(model: Any) -> bool:
    """A decoder-only model that generates: its ONNX export carries a key/value cache."""
    can_generate = getattr(model, "can_generate", None)
    return not model.config.is_encoder_decoder and callable(can_generate) and bool(can_generate())


def _positions(attention_mask: Any) -> Any:
    """Position ids that skip left padding, as ``generate`` makes them (0 on padding)."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


def _cache_names(model: Any) -> tuple[list[str], list[str]]:
    """Input and output names of the cache tensors, key then value for each layer (Optimum's names)."""
    layers = model.config.get_text_config(decoder=True).num_hidden_layers
    pairs = [(i, kv) for i in range(layers) for kv in ("key", "value")]
    return [f"past_key_values.{i}.{kv}" for i, kv in pairs], [f"present.{i}.{kv}" for i, kv in pairs]


def _causal_parts(model: Any, samples: dict[str, Any]) -> list[_Part]:
    """``model.onnx`` (a prompt -> logits and the cache) and ``model_with_past.onnx`` (new tokens + cache)."""
    import inspect

    import torch
    from transformers import DynamicCache

    names = ["input_ids", "attention_mask"]
    if "position_ids" in inspect.signature(model.forward).parameters:
        names.append("position_ids")
    past, present = _cache_names(model)

    class WithCache(torch.nn.Module):
        """Flat tensors in and out; inside, the transformers ``DynamicCache`` the model reads and extends."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> tuple[Any, ...]:
            inputs, flat = dict(zip(names, args[: len(names)], strict=True)), args[len(names) :]
            cache = DynamicCache(
                ddp_cache_data=list(zip(flat[0::2], flat[1::2], strict=True)), config=self.inner.config
            )
            out = self.inner(**inputs, past_key_values=cache, use_cache=True, return_dict=True)
            return (out.logits, *(t for layer in out.past_key_values.layers for t in (layer.keys, layer.values)))

    module = WithCache(model)
    batch = {"input_ids": samples["input_ids"], "attention_mask": samples["attention_mask"]}
    if "position_ids" in names:
        batch["position_ids"] = _positions(samples["attention_mask"])
    # model_with_past.onnx is traced on the prompt's last tokens over the cache of the ones before them.
    k = EXPORT_NEW_TOKENS
    with torch.no_grad():  # not inference_mode: the tracing exporter reuses these tensors
        cached = module(*(v[:, :-k] for v in batch.values()))[1:]
    step = {name: v[:, -k:] if name != "attention_mask" else v for name, v in batch.items()}
    step.update(zip(past, cached, strict=True))
    sequence, total = {0: "batch", 1: "sequence"}, {0: "batch", 1: "total_sequence"}
    prompt_axes = {name: sequence for name in [*batch, "logits"]} | {n: {0: "batch", 2: "sequence"} for n in present}
    step_axes = {name: sequence for name in [*batch, "logits"]} | {"attention_mask": total}
    step_axes |= {n: {0: "batch", 2: "past_sequence"} for n in past}
    step_axes |= {n: {0: "batch", 2: "total_sequence"} for n in present}
    return [
        _Part("model.onnx", module, batch, ["logits", *present], prompt_axes),
        _Part("model_with_past.onnx", module, step, ["logits", *present], step_axes),
    ]


def _parts(model: Any, samples: dict[str, Any]) -> list[_Part]:
    """The graphs of one model: a single one, an encoder and a decoder for seq2seq models, or a causal LM's
    prompt and cached-step graphs."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self, inner: Any, names: list[str], outputs: list[str], call: str = "forward") -> None:
            super().__init__()
            self.inner, self.names, self.outs, self.call = inner, names, outputs, call

        def forward(self, *args: Any) -> tuple[Any, ...]:
            result = getattr(self.inner, self.call)(**dict(zip(self.names, args, strict=True)), return_dict=True)
            return tuple(result[k] for k in self.outs)

    if is_causal_lm(model):
        return _causal_parts(model, samples)
    model.config.use_cache = False
    if model.config.is_encoder_decoder:
        encoder = model.get_encoder()
        enc_inputs = {k: samples[k] for k in ("input_ids", "attention_mask")}
        with torch.no_grad():  # not inference_mode: the tracing exporter reuses this tensor
            hidden = encoder(**enc_inputs).last_hidden_state
        dec_inputs = {
            "decoder_input_ids": _decoder_start(model, samples["input_ids"]),
            "encoder_hidden_states": hidden,
            "attention_mask": samples["attention_mask"],
        }

        class Decoder(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, *args: Any) -> Any:  # varargs like Head, so both take the same dynamic_shapes
                decoder_input_ids, encoder_hidden_states, attention_mask = args
                out = self.inner(
                    decoder_input_ids=decoder_input_ids,
                    encoder_outputs=(encoder_hidden_states,),
                    attention_mask=attention_mask,
                    use_cache=False,
                    return_dict=True,
                )
                return (out.logits,)

        # Source and target lengths are separate axes.
        axes = {k: {0: "batch", 1: "target" if k == "decoder_input_ids" else "source"} for k in dec_inputs}
        return [
            _Part(
                "encoder.onnx",
                Head(encoder, list(enc_inputs), ["last_hidden_state"]),
                enc_inputs,
                ["last_hidden_state"],
                {k: {0: "batch", 1: "source"} for k in enc_inputs},
            ),
            _Part("decoder.onnx", Decoder(model), dec_inputs, ["logits"], axes),
        ]
    with torch.inference_mode():
        output = model(**samples)
    outputs = [k for k in ("logits", "start_logits", "end_logits") if output.get(k) is not None]
    return [_Part("model.onnx", Head(model, list(samples), outputs), dict(samples), outputs)]


def _export_part(part: _Part, path: Path, dynamo: bool) -> None:
    """torch's dynamo exporter with every named axis dynamic, or its TorchScript exporter with ``dynamic_axes``."""
    import torch

    if dynamo:
        dims = tuple({axis: torch.export.Dim.DYNAMIC for axis in part.axes[name]} for name in part.inputs)
        # forward(*args): one dynamic_shapes entry, the tuple of per-input dims
        how: dict[str, Any] = {"dynamo": True, "dynamic_shapes": (dims,), "verbose": False}
    else:
        how = {"dynamo": False, "dynamic_axes": part.axes}
    torch.onnx.export(
        part.module,
        tuple(part.inputs.values()),
        str(path),
        input_names=list(part.inputs),
        output_names=part.outputs,
        external_data=False,
        **how,
    )


def quiet_onnx_tools() -> None:
    """Keep the exporter's and quantizer's advice (missing torchvision ops, pre-processing hints, pytree
    deprecations) out of the user's terminal; ``--verbose`` shows it."""
    import os
    import warnings

    if os.environ.get("LLMKIT_VERBOSE"):
        return
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*", category=FutureWarning)
    # onnxruntime.quantization writes this hint with logging.warning, i.e. on the root logger
    root = logging.getLogger()
    if _drop_quantizer_hint not in root.filters:  # once, however many exports run in this process
        root.addFilter(_drop_quantizer_hint)


def _drop_quantizer_hint(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


def _export_onnx(model: Any, loaded: Any, out_dir: Path, samples: dict[str, Any]) -> ExportResult:
    _require_onnx()
    quiet_onnx_tools()
    import torch

    checks = []
    parts = _parts(model, samples)
    for part in parts:
        path = out_dir / part.file
        # torch 2.13's dynamo exporter fails on T5 attention with dynamic shapes (a view of a transposed
        # tensor); its TorchScript exporter handles it. Other models try dynamo first, TorchScript second.
        errors: list[Exception] = []
        for dynamo in [False] if model.config.is_encoder_decoder else [True, False]:
            try:
                _export_part(part, path, dynamo)
                break
            except Exception as exc:  # torch's exporter raises many types; name the part and keep the cause
                errors.append(exc)
                if dynamo:
                    logger.warning("dynamo export of %s failed (%s); trying TorchScript's exporter", part.file, exc)
        else:
            first = errors[0]
            message = f"ONNX export of {part.file} failed: {type(first).__name__}: {first}"
            raise ModelError(message.splitlines()[0]) from first
        with torch.no_grad():
            expected = [t.float().numpy() for t in part.module(*part.inputs.values())]
        diff = part.diff(expected, _ort_run(path, part.inputs))
        _within_tolerance(path, diff)
        checks.append(OnnxCheck(part.file, diff, ONNX_ATOL))
    if is_causal_lm(model):
        steps_diff = _check_greedy(parts[0], parts[1], out_dir)
        checks[1].max_abs_diff = max(checks[1].max_abs_diff, steps_diff)
        checks[1].detail = f"also over {GREEDY_TOKENS - 1} cached greedy steps after model.onnx: the same tokens"
    loaded.tokenizer.save_pretrained(str(out_dir))
    model.config.save_pretrained(str(out_dir))
    weights = sum(p.stat().st_size for p in out_dir.glob("*.onnx"))
    return ExportResult(out_dir, "onnx", weights, [], format="onnx", checks=checks)


def _within_tolerance(path: Path, diff: float) -> None:
    if not diff <= ONNX_ATOL:
        raise ModelError(f"{path}: ONNX Runtime outputs differ from PyTorch by {diff:.3g} (tolerance {ONNX_ATOL:g})")


def _check_greedy(prompt: _Part, step: _Part, out_dir: Path) -> float:
    """Greedy decoding of the sample prompts with ONNX Runtime (``model.onnx``, then ``model_with_past.onnx``
    fed its own presents) and with PyTorch side by side: ``GREEDY_TOKENS`` tokens, the same ones, and every cached
    step's outputs within ``ONNX_ATOL``, else ModelError. Returns the largest difference over the cached steps."""
    import numpy as np
    import torch

    s_prompt, s_step = _session(out_dir / prompt.file), _session(out_dir / step.file)
    past = [name for name in step.inputs if name.startswith("past_key_values.")]
    inputs = dict(prompt.inputs)
    with torch.no_grad():
        ours = list(prompt.module(*inputs.values()))
    theirs = s_prompt.run(None, _ort_feed(inputs))
    diff = 0.0
    for index in range(GREEDY_TOKENS):
        token = ours[0][:, -1].argmax(-1)
        if not np.array_equal(token.numpy(), theirs[0][:, -1].argmax(-1)):
            raise ModelError(
                f"{out_dir / step.file}: greedy token {index + 1}: ONNX Runtime picked "
                f"{theirs[0][:, -1].argmax(-1).tolist()}, PyTorch {token.tolist()}"
            )
        if index == GREEDY_TOKENS - 1:
            break
        mask = torch.cat([inputs["attention_mask"], torch.ones_like(token)[:, None]], dim=1)
        positions = inputs.get("position_ids")
        inputs = {"input_ids": token[:, None], "attention_mask": mask}
        if positions is not None:
            inputs["position_ids"] = positions[:, -1:] + 1
        with torch.no_grad():
            ours = list(step.module(*inputs.values(), *ours[1:]))
        theirs = s_step.run(None, {**_ort_feed(inputs), **dict(zip(past, theirs[1:], strict=True))})
        diff = max(diff, step.diff([t.numpy() for t in ours], theirs, inputs))
        _within_tolerance(out_dir / step.file, diff)
    return diff


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # timings compare with torch's on one thread
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _ort_feed(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v.numpy() for k, v in inputs.items()}


def _ort_run(path: Path, inputs: dict[str, Any], session: Any = None) -> list[Any]:
    session = session or _session(path)
    return list(session.run(None, _ort_feed(inputs)))


def quantize_onnx(
    out_dir: Path,
    checks: list[OnnxCheck],
    model: Any,
    samples: dict[str, Any],
    run: str | None = None,
    task: Any = None,
) -> Quantized:
    """Write ``*.int8.onnx`` next to each fp32 graph with ONNX Runtime's dynamic quantization, and measure it:
    size, latency and outputs on the samples, and with ``run`` and its ``task`` the validation metric of
    ``model.onnx`` against ``model.int8.onnx``, both scored through ONNX Runtime."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    parts = {p.file: p for p in _parts(model, samples)}
    before = after = 0
    ms_before = ms_after = 0.0
    diff = 0.0
    files = []
    for check in checks:
        fp32, int8 = out_dir / check.file, out_dir / check.file.replace(".onnx", ".int8.onnx")
        quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
        files.append(int8.name)
        before += fp32.stat().st_size
        after += int8.stat().st_size
        inputs = parts[check.file].inputs
        s32, s8 = _session(fp32), _session(int8)
        feed = _ort_feed(inputs)
        ms_before += _median_ms(lambda s=s32, f=feed: s.run(None, f))
        ms_after += _median_ms(lambda s=s8, f=feed: s.run(None, f))
        diff = max(diff, parts[check.file].diff(_ort_run(fp32, inputs, s32), _ort_run(int8, inputs, s8)))
    result = Quantized(
        method="onnxruntime.quantization.quantize_dynamic (QInt8 weights)",
        bytes_before=before,
        bytes_after=after,
        latency_ms_before=ms_before,
        latency_ms_after=ms_after,
        max_abs_diff=diff,
        files=files,
    )
    if run is not None and task is not None:
        reason = _onnx_eval_gap(model, task, checks)
        if reason:
            result.metric_note = reason
        else:
            graph = out_dir / "model.onnx"
            fp32_model, int8_model = onnx_runtime_model(graph), onnx_runtime_model(graph.with_suffix(".int8.onnx"))
            measure_metric(result, run, task.key_metric, fp32_model, int8_model)
    return result


# ---------------------------------------------------------------------------------------------
# Scoring an ONNX graph with the run's own evaluation

LOGIT_OUTPUTS = ("logits", "start_logits", "end_logits")


def _loss_kind(model: Any) -> str | None:
    """Which transformers head loss ``model`` uses, when it is one the ONNX Runtime module can compute."""
    from transformers.loss.loss_utils import LOSS_MAPPING

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    function = base.loss_function  # the class's loss; transformers falls back to ForCausalLM's for LM heads
    kinds = ("ForCausalLM", "ForMaskedLM", "ForSequenceClassification", "ForQuestionAnswering")
    return next((kind for kind in kinds if function is LOSS_MAPPING[kind]), None)


def _onnx_eval_gap(model: Any, task: Any, checks: list[OnnxCheck]) -> str | None:
    """Why the validation metric cannot be scored through ONNX Runtime, or None when it can."""
    if task.seq2seq or "model.onnx" not in {c.file for c in checks}:
        return f"task {task.name} evaluates by generating text; ONNX Runtime scoring covers single-graph models"
    if _loss_kind(model) is None:
        return f"the ONNX Runtime evaluation does not know the loss of {type(model).__name__}"
    return None


def onnx_runtime_model(path: Path) -> Callable[[Any], Any]:
    """A ``model_transform`` for `llmkit.runner.evaluate`: the PyTorch model becomes a module whose logits come
    from ONNX Runtime running ``path``, so the run's own evaluation (collator, Trainer, compute_metrics) scores
    the graph. Its forward has the model's signature, so Trainer keeps the same columns and label names, and the
    loss is the head's usual one, computed from the graph's logits."""
    import inspect

    import torch
    from transformers.loss.loss_utils import LOSS_MAPPING
    from transformers.utils import ModelOutput

    def transform(model: Any) -> Any:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        kind = _loss_kind(base)
        session = _session(path)
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]

        class Graph(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.config, self.main_input_name = base.config, getattr(base, "main_input_name", "input_ids")

            def forward(self, **batch: Any) -> Any:
                ids = batch["input_ids"]
                feed = {}
                for name in inputs:
                    value = batch.get(name)
                    if value is None and name == "position_ids":  # what the PyTorch model uses when given none
                        value = torch.arange(ids.shape[1]).expand(ids.shape[0], -1)
                    if value is None and name == "token_type_ids":
                        value = torch.zeros_like(ids)
                    if value is None:
                        raise ModelError(f"{path}: the evaluation batch has no '{name}' for the ONNX graph")
                    feed[name] = value.detach().cpu().long().numpy()  # the graphs take int64 ids and masks
                got = dict(zip(outputs, session.run(None, feed), strict=True))
                logits = {k: torch.from_numpy(got[k]) for k in LOGIT_OUTPUTS if k in got}
                loss = _head_loss(kind, logits, batch, base.config, LOSS_MAPPING)
                return ModelOutput(**({"loss": loss} if loss is not None else {}), **logits)

        Graph.forward.__signature__ = inspect.signature(type(base).forward)  # type: ignore[attr-defined]
        # Named after the model's class: Trainer finds QA label names by "QuestionAnswering" in the class name.
        Graph.__name__ = Graph.__qualname__ = f"OnnxRuntime{type(base).__name__}"
        return Graph()

    return transform


def _head_loss(kind: str | None, logits: dict[str, Any], batch: dict[str, Any], config: Any, losses: Any) -> Any:
    """The head's loss from the graph's logits (per-batch mean, as the PyTorch heads compute it), or None."""
    if kind == "ForQuestionAnswering":
        start, end = batch.get("start_positions"), batch.get("end_positions")
        if start is None or end is None:
            return None
        return losses[kind](logits["start_logits"], logits["end_logits"], start, end)
    labels = batch.get("labels")
    if labels is None:
        return None
    if kind in ("ForCausalLM", "ForMaskedLM"):
        return losses[kind](logits["logits"], labels, vocab_size=config.vocab_size)
    if kind == "ForSequenceClassification":
        return losses[kind](labels, logits["logits"], config)
    return None
