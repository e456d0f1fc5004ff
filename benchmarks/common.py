"""Measurement helpers shared by the benchmark workloads: run a variant, collect its JSON figures."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def run_variant(script: Path, args: list[str], timeout: int = 3600) -> dict[str, Any]:
    """Run one variant script in a fresh process; it prints its figures as the last line of JSON on stdout."""
    env = {**os.environ, **OFFLINE}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(script), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("{")][-1]
    figures = json.loads(line)
    figures.setdefault("process_wall_s", time.perf_counter() - started)
    return figures


def wall_time(command: list[str], reps: int) -> float:
    """Median wall-clock seconds of a command over ``reps`` runs (after one warm-up)."""
    env = {**os.environ, **OFFLINE}
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=True)
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def median(values: list[float]) -> float:
    """Median that tolerates a single value."""
    return statistics.median(values)


def emit(figures: dict[str, Any]) -> None:
    """Variant scripts end with this: one JSON line the harness reads."""
    print(json.dumps(figures), flush=True)
