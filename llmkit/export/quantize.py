"""Dynamic int8 quantization, measured: size, CPU latency, outputs and the validation metric, before -> after.

``hf`` uses PyTorch's ``quantize_dynamic`` (applied at load time: packed int8 weights have no safetensors form);
``onnx`` uses ONNX Runtime's, which writes ``*.int8.onnx`` beside each graph.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.errors import UsageError
from llmkit.export.graphs import _parts
from llmkit.export.onnx import _ort_feed, _ort_run, _session
from llmkit.export.onnx_eval import _onnx_eval_gap, onnx_runtime_model
from llmkit.export.results import OnnxCheck, Quantized
from llmkit.export.samples import _max_diff, _median_ms, _output_arrays, _state_bytes, _torch_forward

if TYPE_CHECKING:
    from llmkit.tasks.spec import TaskSpec


def quantize_dynamic_int8(model: Any) -> Any:
    """A copy of ``model`` with every ``nn.Linear`` replaced by a dynamically quantized int8 one (CPU)."""
    import copy

    import torch

    return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


def quantize_torch(run: str, model: Any, samples: dict[str, Any], task: TaskSpec) -> Quantized:
    """Size, latency and validation metric (``task.key_metric``) of ``model`` before and after int8 dynamic
    quantization."""
    int8 = quantize_dynamic_int8(model)
    before, after = _torch_forward(model, samples), _torch_forward(int8, samples)
    names = task.logit_outputs
    diff = _max_diff(_output_arrays(before(), names), _output_arrays(after(), names))
    result = Quantized(
        method="torch.ao.quantization.quantize_dynamic (nn.Linear, qint8)",
        bytes_before=_state_bytes(model),
        bytes_after=_state_bytes(int8),
        latency_ms_before=_median_ms(before),
        latency_ms_after=_median_ms(after),
        max_abs_diff=diff,
    )
    if task.trainer is not None:  # TRL's fused loss reads the output layer's weight, which int8 replaces
        trainer = task.trainer.trainer_class.rsplit(".", 1)[-1]
        result.metric_note = f"task {task.name} is scored through TRL's {trainer}, which needs fp32 output weights"
    else:
        measure_metric(result, run, task.key_metric, None, quantize_dynamic_int8)
    return result


def measure_metric(
    result: Quantized,
    run: str,
    key_metric: str,
    before: Callable[[Any], Any] | None,
    after: Callable[[Any], Any],
) -> None:
    """Fill ``result.metric*`` from the run's validation split, scored with the model as ``before`` and ``after``
    make it (`llmkit.train.evaluate`'s ``model_transform``), or say in ``metric_note`` why it could not be."""
    from llmkit.train import evaluate

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


def quantize_onnx(
    out_dir: Path,
    checks: list[OnnxCheck],
    model: Any,
    samples: dict[str, Any],
    task: TaskSpec,
    run: str | None = None,
) -> Quantized:
    """Write ``*.int8.onnx`` next to each fp32 graph with ONNX Runtime's dynamic quantization, and measure it:
    size, latency and outputs on the samples, and with ``run`` the validation metric of ``model.onnx`` against
    ``model.int8.onnx``, both scored through ONNX Runtime by ``task``'s evaluation."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    parts = {p.file: p for p in _parts(model, samples, task.logit_outputs)}
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
    if run is not None:
        reason = _onnx_eval_gap(model, task, checks)
        if reason:
            result.metric_note = reason
        else:
            graph = out_dir / "model.onnx"
            fp32_model = onnx_runtime_model(graph, task)
            int8_model = onnx_runtime_model(graph.with_suffix(".int8.onnx"), task)
            measure_metric(result, run, task.key_metric, fp32_model, int8_model)
    return result
