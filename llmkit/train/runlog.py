"""What a run records as it goes: ``metrics.jsonl`` (one line per log and evaluation) and the facts of
the environment that ``run.json`` keeps so a result can be traced to how it was made.

Imported by the runner only (the callback needs transformers).
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

METRICS_LOG = "metrics.jsonl"
LIBRARIES = ("torch", "transformers", "datasets", "accelerate", "tokenizers", "peft", "sacrebleu")


def _plain(value: Any) -> Any:
    """JSON-safe numbers: NaN and inf stay visible as strings instead of breaking the line."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class MetricsLog(TrainerCallback):
    """Append every Trainer log (training loss, learning rate, evaluation metrics) to ``metrics.jsonl``.

    One JSON object per line with ``step``, ``epoch``, ``time`` (seconds since the run began) and a
    ``kind`` of ``train``, ``eval`` or ``summary``; only the main process writes. On resume the lines past
    the resumed step are dropped first, so the file describes one continuous run.
    """

    def __init__(self, run_dir: Path, resume_step: int | None = None) -> None:
        self.path = Path(run_dir) / METRICS_LOG
        self.resume_step = resume_step
        self.started = time.perf_counter()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        kept: list[str] = []
        if self.resume_step is not None and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line).get("step", 0) <= self.resume_step:
                        kept.append(line)
                except ValueError:
                    continue
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        if any(k.startswith("eval_") for k in logs):
            kind = "eval"
        elif "train_runtime" in logs:
            kind = "summary"
        else:
            kind = "train"
        row = {
            "kind": kind,
            "step": state.global_step,
            "epoch": round(float(state.epoch or 0.0), 4),
            "time": round(time.perf_counter() - self.started, 3),
            **{k: _plain(v) for k, v in logs.items() if isinstance(v, int | float | str)},
        }
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")


def read_metrics_log(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.jsonl`` (empty when there is none)."""
    path = Path(run_dir) / METRICS_LOG
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries a result depends on (None when one is not installed)."""
    from importlib import metadata

    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def environment(args: Any) -> dict[str, Any]:
    """Device, seed and determinism settings of a run, for ``run.json``."""
    import torch

    device = str(getattr(args, "device", "cpu"))
    info: dict[str, Any] = {
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or None,
        "torch_threads": torch.get_num_threads(),
        "seed": args.seed,
        "data_seed": args.data_seed,
        "full_determinism": bool(args.full_determinism),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "mixed_precision": "bf16" if args.bf16 else "fp16" if args.fp16 else None,
        "world_size": args.world_size,
        "host": platform.node(),
        "platform": platform.platform(),
        "python_executable": sys.executable,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    return info


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process (and of the GPU, when one was used), in MiB."""
    import torch

    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    peaks = {"peak_rss_mb": round(rss_kb / 1024, 1)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        peaks["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peaks
