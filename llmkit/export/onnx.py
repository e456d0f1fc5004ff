"""ONNX graphs made by torch's exporter and checked against PyTorch with ONNX Runtime before they count.

The exporter and ONNX Runtime are imported inside functions: they are an optional extra (``llmkit[onnx]``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from llmkit.errors import ModelError, UsageError
from llmkit.export.graphs import _Part, _parts, is_causal_lm
from llmkit.export.results import ExportResult, OnnxCheck

logger = logging.getLogger(__name__)

# ONNX Runtime vs PyTorch on the same inputs, fp32: larger gaps mean a wrong graph, not rounding.
ONNX_ATOL = 1e-4
# Causal LMs: tokens decoded greedily by the KV-cache check.
GREEDY_TOKENS = 5


def _require_onnx() -> None:
    missing = []
    for module in ("onnx", "onnxruntime", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UsageError(f"--format onnx needs {', '.join(missing)}; install them with: pip install 'llmkit[onnx]'")


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
    parts = _parts(model, samples, loaded.task.logit_outputs)
    for part in parts:
        path = out_dir / part.file
        _export_with_fallback(part, path, model.config.is_encoder_decoder)
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


def _export_with_fallback(part: _Part, path: Path, encoder_decoder: bool) -> None:
    """Export ``part`` with dynamo, then TorchScript's exporter when that fails; ModelError naming the part if
    neither works."""
    # torch 2.13's dynamo exporter fails on T5 attention with dynamic shapes (a view of a transposed
    # tensor); its TorchScript exporter handles it. Other models try dynamo first, TorchScript second.
    errors: list[Exception] = []
    for dynamo in [False] if encoder_decoder else [True, False]:
        try:
            _export_part(part, path, dynamo)
            return
        except Exception as exc:  # torch's exporter raises many types; name the part and keep the cause
            errors.append(exc)
            if dynamo:
                logger.warning("dynamo export of %s failed (%s); trying TorchScript's exporter", part.file, exc)
    first = errors[0]
    message = f"ONNX export of {part.file} failed: {type(first).__name__}: {first}"
    raise ModelError(message.splitlines()[0]) from first


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
