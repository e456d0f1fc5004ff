"""`llmkit export`: a run directory -> a clean ``save_pretrained`` directory for other tools.

The output holds only what transformers (or PEFT) needs: safetensors weights, the config with the
label names, and the tokenizer; no checkpoints, recipe or run record. A LoRA run is written as its
adapter, or with ``merge`` as a full model with the adapter folded into the base weights, which
loads with plain ``AutoModelFor...from_pretrained``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmkit.errors import UsageError


@dataclass
class ExportResult:
    """What `llmkit export` wrote."""

    out_dir: Path
    kind: str  # "model" (full weights, merged or not) or "adapter"
    weight_bytes: int
    files: list[str]


def export(run: str, out_dir: Path, merge: bool = False) -> ExportResult:
    """Write the model of ``run`` (a run directory or checkpoint) to ``out_dir``.

    Raises UsageError when ``out_dir`` already holds files, or ``merge`` is asked of a run without adapter.
    """
    from llmkit import adapters
    from llmkit.runner import load_for_inference

    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UsageError(f"OUT: {out_dir} exists and is not an empty directory; choose a new one")
    is_adapter = adapters.is_adapter_dir(run)
    if merge and not is_adapter:
        raise UsageError(f"--merge: {run} has no LoRA adapter to merge; export it without --merge")
    loaded = load_for_inference(run)
    model = adapters.merge(loaded.model) if merge else loaded.model
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    if is_adapter and not merge:
        model.get_base_model().config.save_pretrained(str(out_dir))
    loaded.tokenizer.save_pretrained(str(out_dir))
    weights = sum(p.stat().st_size for p in out_dir.glob("*.safetensors"))
    files = sorted(p.name for p in out_dir.iterdir())
    return ExportResult(out_dir, "adapter" if is_adapter and not merge else "model", weights, files)
