"""What an export wrote and measured; shared by the writers, the card and the CLI (no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
