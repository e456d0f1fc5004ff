"""Hardware rules the recipe cannot know: mixed precision on this machine, CPU-only multi-process runs.

The decisions are pure functions of what was detected, so they are unit-tested without the hardware;
detection is kept apart and imports torch only when called.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Machine:
    """What the runner needs to know about the device it trains on."""

    accelerator: str | None  # "cuda", "mps", "xpu"... or None on a CPU-only machine
    cpu_capability: str  # torch.backends.cpu.get_cpu_capability(): "AVX2", "AVX512", "SVE256", ...
    cpu_bf16: bool  # native bfloat16 arithmetic on the CPU (AVX512-BF16, AMX, or what oneDNN reports)


def detect() -> Machine:
    """Probe torch for the accelerator and the CPU's bfloat16 support."""
    import torch

    accelerator = None
    if torch.cuda.is_available():
        accelerator = "cuda"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        accelerator = "mps"
    elif hasattr(torch, "xpu") and torch.xpu.is_available():
        accelerator = "xpu"
    capability = torch.backends.cpu.get_cpu_capability()
    bf16 = False
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(torch.cpu, probe, None)
        bf16 = bf16 or bool(check and check())
    with contextlib.suppress(AttributeError, RuntimeError):
        bf16 = bf16 or bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return Machine(accelerator=accelerator, cpu_capability=capability, cpu_bf16=bf16)


def precision_refusal(bf16: bool, fp16: bool, use_cpu: bool, machine: Machine) -> str | None:
    """Why ``training.bf16``/``fp16`` cannot run here (a one-line message naming the key), or None.

    With an accelerator, transformers checks what that device supports. On the CPU (no accelerator,
    or ``training.use_cpu``) fp16 has no fast path, and bf16 is refused unless the CPU computes it natively.
    """
    on_cpu = use_cpu or machine.accelerator is None
    if not on_cpu:
        return None
    if fp16:
        return (
            "training.fp16: float16 mixed precision needs a GPU and this run trains on the CPU; leave it off, "
            "or use training.bf16 on a CPU with native bfloat16 (AVX512-BF16 or AMX)"
        )
    if bf16 and not machine.cpu_bf16:
        return (
            f"training.bf16: this CPU ({machine.cpu_capability}) has no native bfloat16 (AVX512-BF16 or AMX), so "
            "bf16 would be slow or unsupported; set training.bf16=false here, keep it for GPU machines"
        )
    return None


def needs_cpu_flag(world_size: int, use_cpu: bool | None, machine: Machine) -> bool:
    """Whether to set ``use_cpu`` so that Accelerate runs a CPU-only multi-process run as DDP over gloo.

    Without it Accelerate treats each CPU process as a separate single-process run (each would train
    on all the data and write the run directory).
    """
    return world_size > 1 and use_cpu is None and machine.accelerator is None
