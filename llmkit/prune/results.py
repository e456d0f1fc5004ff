"""What `llmkit prune` measured and wrote; shared by the pruning code and the CLI (no heavy imports)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Snapshot:
    """One model's size, speed and quality: the same measurements before and after pruning."""

    parameters: int
    nonzero_parameters: int
    file_bytes: int  # the safetensors weights on disk (dense storage)
    latency_ms: float  # median CPU forward time, one thread, the export's sample batch
    metric: float | None = None  # the task's key metric on the validation split
    metrics: dict[str, float] = field(default_factory=dict)  # every validation metric
    attention_heads: int | None = None
    intermediate_size: int | None = None


@dataclass
class PruneResult:
    """What `llmkit prune` did: the method and its settings, before -> after, and where it wrote the model."""

    run: str
    out_dir: Path
    method: str
    settings: dict[str, Any]
    metric: str
    before: Snapshot
    after: Snapshot
    sparsity: float  # share of zeros in the pruned weights (magnitude) or 0.0
    pruned_heads: dict[str, list[int]] = field(default_factory=dict)
    finetune_steps: int = 0
    files: list[str] = field(default_factory=list)
    load_average: tuple[float, float, float] | None = None  # `uptime` while the latencies were taken

    def to_json(self) -> dict[str, Any]:
        """The report written as ``prune.json`` in OUT."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data.pop("files")
        return data
