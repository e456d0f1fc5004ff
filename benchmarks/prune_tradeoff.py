"""The accuracy / size / latency trade-off of `llmkit prune` on a finished classification run (README table).

    python benchmarks/prune_tradeoff.py runs/demo --steps 100 [--out /tmp/prune-bench]

Runs `llmkit prune` once per variant in a fresh process (head pruning at 0.25 and 0.5 without and with
``--steps`` recovery steps, magnitude sparsity 0.5 and 0.9, global), reads each variant's ``prune.json``
(parameters, weights file, CPU latency with the int8 export's protocol, validation metrics, before and after,
measured in the same process) and scores each output on the test split with `llmkit eval`. Prints a
Markdown table and the machine's load average; the heads are chosen by importance on the validation split, so
the test column is the one not used for choosing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def variants(steps: int) -> list[tuple[str, list[str]]]:
    """(label, prune options) for each row of the table."""
    rows = []
    for amount in ("0.25", "0.5"):
        rows.append((f"heads {amount}", ["--method", "heads", "--amount", amount]))
        rows.append(
            (
                f"heads {amount} + {steps} steps",
                ["--method", "heads", "--amount", amount, "--finetune-steps", str(steps)],
            )
        )
    for sparsity in ("0.5", "0.9"):
        rows.append((f"magnitude {sparsity} (global)", ["--method", "magnitude", "--sparsity", sparsity]))
    return rows


def llmkit(*args: str) -> str:
    env = {**os.environ, **OFFLINE, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "llmkit", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"llmkit {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def test_accuracy(target: Path) -> float:
    return json.loads(llmkit("eval", str(target), "--split", "test", "--json").strip().splitlines()[-1])["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--steps", type=int, default=100, help="recovery steps of the '+ steps' rows")
    parser.add_argument("--out", type=Path, default=None, help="where the pruned runs go (default: a temp folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="llmkit-prune-bench-"))
    started = time.time()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    rows = [("unpruned", None, test_accuracy(args.run))]
    for label, options in variants(args.steps):
        folder = out / label.replace(" ", "_").replace("+", "ft").replace("(", "").replace(")", "")
        llmkit("prune", str(args.run), str(folder), *options, "--overwrite")
        report = json.loads((folder / "prune.json").read_text())
        rows.append((label, report, test_accuracy(folder)))
        print(f"{label}: done ({time.time() - started:.0f} s, load average {os.getloadavg()})", flush=True)
    print()
    columns = ["model", "parameters", "weights file", "zeros", "heads", "CPU latency, ms (after / before)"]
    print("| " + " | ".join([*columns, "validation accuracy", "test accuracy"]) + " |")
    print("|---|---|---|---|---|---|---|---|")
    base = rows[1][1]["before"]
    print(
        f"| unpruned | {base['parameters'] / 1e6:.2f} M | {base['file_bytes'] / 1e6:.1f} MB | 0% | "
        f"{base['attention_heads']} | - | {base['metrics']['accuracy']:.4f} | {rows[0][2]:.4f} |"
    )
    for label, report, test in rows[1:]:
        before, after = report["before"], report["after"]
        zeros = 1 - after["nonzero_parameters"] / after["parameters"]
        print(
            f"| {label} | {after['parameters'] / 1e6:.2f} M | {after['file_bytes'] / 1e6:.1f} MB | {zeros:.0%} | "
            f"{after['attention_heads']} | {after['latency_ms']:.2f} / {before['latency_ms']:.2f} "
            f"({after['latency_ms'] / before['latency_ms'] - 1:+.0%}) | "
            f"{after['metrics']['accuracy']:.4f} | {test:.4f} |"
        )
    print(f"\n{time.time() - started:.0f} s; load average at the end: {os.getloadavg()}; outputs in {out}")


if __name__ == "__main__":
    main()
