"""`llmkit export` itself: check the request, load the run, write into a staging folder, commit it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmkit.errors import UsageError
from llmkit.export.card import write_model_card
from llmkit.export.graphs import is_causal_lm
from llmkit.export.onnx import _export_onnx, _require_onnx
from llmkit.export.quantize import quantize_onnx, quantize_torch
from llmkit.export.results import ExportResult
from llmkit.export.samples import sample_inputs

FORMATS = ("hf", "onnx")
QUANTIZATIONS = ("dynamic-int8",)


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
    from llmkit import outputs
    from llmkit.models import adapters
    from llmkit.models.targets import check_model_ref
    from llmkit.train import load_for_inference

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
    samples = sample_inputs(loaded.task, loaded.tokenizer, left=fmt == "onnx" and is_causal_lm(model))
    if fmt == "hf":
        result = _export_hf(model, loaded, out_dir, adapter=adapter)
        if quantize:
            result.quantized = quantize_torch(run, model, samples, loaded.task)
    else:
        result = _export_onnx(model, loaded, out_dir, samples)
        if quantize:
            result.quantized = quantize_onnx(out_dir, result.checks, model, samples, loaded.task, run)
    write_model_card(run, out_dir, loaded.task, result)
    return result


def _record_real_base(out_dir: Path) -> None:
    """An adapter from an older run may name its base by llmkit alias: write the hub id or path PEFT can load."""
    import json

    from llmkit.errors import ModelError
    from llmkit.models import adapters, base_reference

    config = adapters.read_adapter_config(out_dir)
    try:
        real = base_reference(str(config.get("base_model_name_or_path") or ""))
    except ModelError:
        return  # a base that is gone: keep what the run recorded
    if real and real != config.get("base_model_name_or_path"):
        config["base_model_name_or_path"] = real
        (out_dir / adapters.ADAPTER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _export_hf(model: Any, loaded: Any, out_dir: Path, adapter: bool) -> ExportResult:
    from llmkit.models.pruning import write_loading_code

    model.save_pretrained(str(out_dir))
    base = model.get_base_model() if adapter else model
    if adapter:
        base.config.save_pretrained(str(out_dir))
        _record_real_base(out_dir)
    else:
        write_loading_code(out_dir, model, loaded.task.auto_model)
    generation_config = getattr(base, "generation_config", None)
    if generation_config is not None and base.can_generate() and not (out_dir / "generation_config.json").exists():
        generation_config.save_pretrained(str(out_dir))
    loaded.tokenizer.save_pretrained(str(out_dir))
    weights = sum(p.stat().st_size for p in out_dir.glob("*.safetensors"))
    return ExportResult(out_dir, "adapter" if adapter else "model", weights, [], format="hf")
