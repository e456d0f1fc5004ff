"""Deterministic fault injection for the reliability tests.

Honoured only when ``LLMKIT_TEST_FAULTS=1`` is also set, so a stray variable can never break a real
run. ``LLMKIT_FAULTS`` is a comma-separated list of ``kind[=arg]@step[:rank]`` (with ``:rank`` only
that global rank of a multi-process run is hit):

- ``signal=TERM@3``: send SIGTERM (or INT) to this process at the end of step 3
- ``kill@3``: SIGKILL at the end of step 3 (like ``kill -9``)
- ``raise@3``: raise a RuntimeError at the end of step 3 (a crashing rank: ``raise@3:1``)
- ``nan@3``: make the training loss of step 3 NaN
- ``crash_save=optimizer.pt@4``: die (exit 137) while saving the step-4 checkpoint, that file torn
- ``disk_full=model.safetensors@4``: fail with ENOSPC while saving the step-4 checkpoint
"""

from __future__ import annotations

import errno
import os
import signal
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

GATE = "LLMKIT_TEST_FAULTS"
SPEC = "LLMKIT_FAULTS"


@dataclass(frozen=True)
class Fault:
    kind: str
    arg: str
    step: int
    rank: int | None = None


@lru_cache(maxsize=8)
def _parse(spec: str) -> tuple[Fault, ...]:
    faults = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        head, _, where = item.partition("@")
        kind, _, arg = head.partition("=")
        step, _, rank = where.partition(":")
        faults.append(Fault(kind, arg, int(step or 0), int(rank) if rank else None))
    return tuple(faults)


def active() -> tuple[Fault, ...]:
    """The faults to inject in this process (none unless the test gate is open)."""
    if os.environ.get(GATE) != "1":
        return ()
    return _parse(os.environ.get(SPEC, ""))


def _find(kind: str, step: int) -> Fault | None:
    rank = int(os.environ.get("RANK", "0") or 0)
    return next(
        (f for f in active() if f.kind == kind and f.step == step and f.rank in (None, rank)),
        None,
    )


def at_step_end(step: int) -> None:
    """Signals and kills scheduled for the end of ``step``."""
    if _find("kill", step):
        os.kill(os.getpid(), signal.SIGKILL)
    if _find("raise", step):
        raise RuntimeError(f"injected failure at the end of step {step}")
    fault = _find("signal", step)
    if fault:
        os.kill(os.getpid(), getattr(signal, f"SIG{fault.arg or 'TERM'}"))


def poison_loss(step: int) -> bool:
    """Whether the loss of ``step`` must be made NaN."""
    return _find("nan", step) is not None


def during_save(staging: Path, step: int) -> None:
    """Crash or run out of disk while the checkpoint of ``step`` is being saved."""
    crash = _find("crash_save", step)
    if crash:
        target = staging / crash.arg
        if target.exists():
            with target.open("r+b") as handle:
                handle.truncate(max(target.stat().st_size // 2, 1))
        os._exit(137)
    full = _find("disk_full", step)
    if full:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(staging / full.arg))
