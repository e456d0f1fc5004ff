"""`llmkit export`: a run directory -> a clean directory for tools that do not know llmkit.

``hf`` (default) holds only what transformers (or PEFT) needs: safetensors weights, the config with the
label names, the generation config when the model generates, the tokenizer, and a model card README
with the recipe, data summary and metrics. A LoRA run is written as its adapter, or with ``merge`` as a
full model with the adapter folded into the base weights.

``onnx`` holds one ONNX graph per model part (``model.onnx``; seq2seq models: ``encoder.onnx`` and
``decoder.onnx``, without past key values) made by torch's ONNX exporter, the tokenizer and config beside
it, and the card. Each graph is checked against PyTorch with ONNX Runtime on sample inputs before the command succeeds.

``quantize="dynamic-int8"`` measures int8 dynamic quantization of the linear layers: for ``hf`` with
``torch.ao.quantization.quantize_dynamic`` (applied at load time: packed int8 weights have no
safetensors form, so the saved weights stay fp32 and the card shows the one line that quantizes them),
for ``onnx`` with ONNX Runtime's ``quantize_dynamic``, which writes ``*.int8.onnx`` files.
"""

from __future__ import annotations

import io
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmkit.errors import ModelError, UsageError

FORMATS = ("hf", "onnx")
QUANTIZATIONS = ("dynamic-int8",)
# ONNX Runtime vs PyTorch on the same inputs, fp32: larger gaps mean a wrong graph, not rounding.
ONNX_ATOL = 1e-4
LATENCY_RUNS = 20
TIMING_SUFFIXES = ("runtime", "samples_per_second", "steps_per_second", "tokens_per_second")
# Sample inputs for checking and timing exported graphs: two lengths, so padding and dynamic axes are used.
SAMPLE_TEXTS = ("a small domesticated animal that purrs and catches mice", "a sweet dessert")
SAMPLE_CONTEXT = "The cat is a small domesticated animal. It purrs and catches mice."
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


def export(run: str, out_dir: Path, merge: bool = False, fmt: str = "hf", quantize: str | None = None) -> ExportResult:
    """Write the model of ``run`` (a run directory or checkpoint) to ``out_dir`` in format ``fmt``.

    Raises UsageError for an unknown format or quantization, when ``out_dir`` already holds files, or when
    ``merge`` is asked of a run without adapter; ModelError when an ONNX graph disagrees with PyTorch.
    """
    from llmkit import adapters
    from llmkit.runner import load_for_inference

    if fmt not in FORMATS:
        raise UsageError(f"--format: unknown format '{fmt}'; choose one of {', '.join(FORMATS)}")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UsageError(f"--quantize: unknown method '{quantize}'; choose one of {', '.join(QUANTIZATIONS)}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"OUT: {out_dir} exists and is not an empty directory; choose a new one")
    is_adapter = adapters.is_adapter_dir(run)
    if merge and not is_adapter:
        raise UsageError(f"--merge: {run} has no LoRA adapter to merge; export it without --merge")
    loaded = load_for_inference(run, device="cpu")
    # One ONNX graph needs plain weights, so an adapter is always folded in there.
    model = adapters.merge(loaded.model) if is_adapter and (merge or fmt == "onnx") else loaded.model
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    samples = sample_inputs(loaded.task.name, loaded.tokenizer)
    if fmt == "hf":
        result = _export_hf(model, loaded, out_dir, adapter=is_adapter and not merge)
        if quantize:
            result.quantized = quantize_torch(run, model, samples, loaded.task.key_metric)
    else:
        result = _export_onnx(model, loaded, out_dir, samples)
        if quantize:
            result.quantized = quantize_onnx(out_dir, result.checks, model, samples)
    write_model_card(run, out_dir, loaded.task.name, result)
    result.files = sorted(p.name for p in out_dir.iterdir())
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
        lines += [
            f"- `{c.file}`: max abs difference {c.max_abs_diff:.2e} (tolerance {c.tolerance:g})" for c in result.checks
        ]
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
    if q.max_abs_diff is not None:
        lines.append(f"- max abs output difference int8 vs fp32 on the sample inputs: {q.max_abs_diff:.3g}")
    return lines


# ---------------------------------------------------------------------------------------------
# Sample inputs and timing


def sample_inputs(task: str, tokenizer: Any) -> dict[str, Any]:
    """A padded batch of two sample inputs for ``task`` (torch tensors), for checks and timing."""
    borrowed = tokenizer.pad_token is None  # pad with EOS for the batch only: the exported tokenizer stays as trained
    if borrowed:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    texts = list(SAMPLE_TEXTS)
    try:
        if task == "qa":
            return dict(tokenizer(texts, [SAMPLE_CONTEXT] * len(texts), return_tensors="pt", padding=True))
        return dict(tokenizer(texts, return_tensors="pt", padding=True))
    finally:
        if borrowed:
            tokenizer.pad_token = None


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
    from llmkit.runner import evaluate

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
    if Path(run, "recipe.yaml").is_file():
        try:
            fp32 = evaluate(run, split="validation").result.metrics
            q8 = evaluate(run, split="validation", model_transform=quantize_dynamic_int8).result.metrics
        except UsageError:  # the run has no validation data
            return result
        name = key_metric if key_metric in fp32 else "loss"
        result.metric, result.metric_before, result.metric_after = name, fp32.get(name), q8.get(name)
    return result


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
    """One graph to export: a module taking positional tensors, their names, and the output names."""

    def __init__(self, file: str, module: Any, inputs: dict[str, Any], outputs: list[str]) -> None:
        self.file, self.module, self.inputs, self.outputs = file, module.eval(), inputs, outputs


def _parts(model: Any, samples: dict[str, Any]) -> list[_Part]:
    """The graphs of one model: a single one, or an encoder and a decoder for seq2seq models."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self, inner: Any, names: list[str], outputs: list[str], call: str = "forward") -> None:
            super().__init__()
            self.inner, self.names, self.outs, self.call = inner, names, outputs, call

        def forward(self, *args: Any) -> tuple[Any, ...]:
            result = getattr(self.inner, self.call)(**dict(zip(self.names, args, strict=True)), return_dict=True)
            return tuple(result[k] for k in self.outs)

    model.config.use_cache = False
    if model.config.is_encoder_decoder:
        encoder = model.get_encoder()
        enc_inputs = {k: samples[k] for k in ("input_ids", "attention_mask")}
        with torch.no_grad():  # not inference_mode: the tracing exporter reuses this tensor
            hidden = encoder(**enc_inputs).last_hidden_state
        dec_inputs = {
            "decoder_input_ids": _decoder_start(model, samples["input_ids"]),
            "encoder_outputs": hidden,
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

        return [
            _Part(
                "encoder.onnx",
                Head(encoder, list(enc_inputs), ["last_hidden_state"]),
                enc_inputs,
                ["last_hidden_state"],
            ),
            _Part(
                "decoder.onnx",
                Decoder(model),
                {
                    "decoder_input_ids": dec_inputs["decoder_input_ids"],
                    "encoder_hidden_states": hidden,
                    "attention_mask": samples["attention_mask"],
                },
                ["logits"],
            ),
        ]
    with torch.inference_mode():
        output = model(**samples)
    outputs = [k for k in ("logits", "start_logits", "end_logits") if output.get(k) is not None]
    return [_Part("model.onnx", Head(model, list(samples), outputs), dict(samples), outputs)]


def _export_onnx(model: Any, loaded: Any, out_dir: Path, samples: dict[str, Any]) -> ExportResult:
    _require_onnx()
    import torch

    checks = []
    for part in _parts(model, samples):
        path = out_dir / part.file
        if model.config.is_encoder_decoder:
            # torch 2.13's dynamo exporter fails on T5 attention with dynamic shapes (a view of a transposed
            # tensor); its TorchScript exporter handles it. Source and target lengths are separate axes.
            axes = {k: {0: "batch", 1: "target" if k == "decoder_input_ids" else "source"} for k in part.inputs}
            how: dict[str, Any] = {"dynamo": False, "dynamic_axes": axes}
        else:
            dims = tuple({0: torch.export.Dim.DYNAMIC, 1: torch.export.Dim.DYNAMIC} for _ in part.inputs)
            # forward(*args): one dynamic_shapes entry, the tuple of per-input dims
            how = {"dynamo": True, "dynamic_shapes": (dims,), "verbose": False}
        try:
            torch.onnx.export(
                part.module,
                tuple(part.inputs.values()),
                str(path),
                input_names=list(part.inputs),
                output_names=part.outputs,
                external_data=False,
                **how,
            )
        except Exception as exc:  # torch's exporter raises many types; name the part and keep the cause
            raise ModelError(f"ONNX export of {part.file} failed: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
        with torch.no_grad():
            expected = [t.float().numpy() for t in part.module(*part.inputs.values())]
        got = _ort_run(path, part.inputs)
        diff = _max_diff(expected, got)
        if not diff <= ONNX_ATOL:
            raise ModelError(
                f"{path}: ONNX Runtime outputs differ from PyTorch by {diff:.3g} (tolerance {ONNX_ATOL:g})"
            )
        checks.append(OnnxCheck(part.file, diff, ONNX_ATOL))
    loaded.tokenizer.save_pretrained(str(out_dir))
    model.config.save_pretrained(str(out_dir))
    weights = sum(p.stat().st_size for p in out_dir.glob("*.onnx"))
    return ExportResult(out_dir, "onnx", weights, [], format="onnx", checks=checks)


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


def quantize_onnx(out_dir: Path, checks: list[OnnxCheck], model: Any, samples: dict[str, Any]) -> Quantized:
    """Write ``*.int8.onnx`` next to each fp32 graph with ONNX Runtime's dynamic quantization, and measure it."""
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
        diff = max(diff, _max_diff(_ort_run(fp32, inputs, s32), _ort_run(int8, inputs, s8)))
    return Quantized(
        method="onnxruntime.quantization.quantize_dynamic (QInt8 weights)",
        bytes_before=before,
        bytes_after=after,
        latency_ms_before=ms_before,
        latency_ms_after=ms_after,
        max_abs_diff=diff,
        files=files,
    )
