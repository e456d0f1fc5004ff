"""The accuracy / size / latency trade-off of `llmkit prune` on a finished classification run (README table).

    python benchmarks/prune_tradeoff.py runs/demo --steps 50 [--out /tmp/prune-bench] [--reuse]

Runs `llmkit prune` once per variant in a fresh process (head pruning at 0.25 and 0.5 without and with
``--steps`` recovery steps, magnitude sparsity 0.5 and 0.9, global, and 0.5 with recovery), reads each
variant's ``prune.json`` (parameters, weights file, CPU latency with the int8 export's protocol, validation
metrics, before and after, measured in the same process) and scores each output on the test split with
`llmkit eval`. Prints a Markdown table and the machine's load average; the heads are chosen by importance on
the validation split, so
the test column is the one not used for choosing.

Latency: each ``prune.json`` holds one before/after pair timed in its own process (median of 20 single-thread
forward passes on the export's two sample sentences). On a shared machine one such pair is noise, so the
table's latency column comes from a last stage that loads the unpruned and every pruned model in one process
and times them in turn, ``--rounds`` times, with that same protocol (``_median_ms``), reporting the median per
model. ``--reuse`` keeps outputs already in ``--out`` (only the timing stage and the test scores run again).
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
    options = ["--method", "magnitude", "--sparsity", "0.5", "--finetune-steps", str(steps)]
    rows.append((f"magnitude 0.5 (global) + {steps} steps", options))
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
    parser.add_argument("--rounds", type=int, default=7, help="interleaved latency rounds")
    parser.add_argument("--reuse", action="store_true", help="keep pruned outputs already in --out")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="llmkit-prune-bench-"))
    started = time.time()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    rows = [("unpruned", None, test_accuracy(args.run), args.run)]
    for label, options in variants(args.steps):
        folder = out / label.replace(" ", "_").replace("+", "ft").replace("(", "").replace(")", "")
        if not (args.reuse and (folder / "prune.json").is_file()):
            llmkit("prune", str(args.run), str(folder), *options, "--overwrite")
        report = json.loads((folder / "prune.json").read_text())
        rows.append((label, report, test_accuracy(folder), folder))
        print(f"{label}: done ({time.time() - started:.0f} s, load average {os.getloadavg()})", flush=True)
    latency = interleaved_latency([row[3] for row in rows], args.rounds)
    print()
    columns = [
        "model",
        "parameters",
        "weights file",
        "zeros in linear weights",
        "heads",
        "CPU latency, ms (vs unpruned)",
    ]
    print("| " + " | ".join([*columns, "validation accuracy", "test accuracy"]) + " |")
    print("|---|---|---|---|---|---|---|---|")
    base = rows[1][1]["before"]
    print(
        f"| unpruned | {base['parameters'] / 1e6:.2f} M | {base['file_bytes'] / 1e6:.1f} MB | 0% | "
        f"{base['attention_heads']} | {latency[0]:.2f} | {base['metrics']['accuracy']:.4f} | {rows[0][2]:.4f} |"
    )
    for (label, report, test, _), ms in zip(rows[1:], latency[1:], strict=True):
        after = report["after"]
        zeros = report["sparsity"]
        print(
            f"| {label} | {after['parameters'] / 1e6:.2f} M | {after['file_bytes'] / 1e6:.1f} MB | {zeros:.0%} | "
            f"{after['attention_heads']} | {ms:.2f} ({ms / latency[0] - 1:+.0%}) | "
            f"{after['metrics']['accuracy']:.4f} | {test:.4f} |"
        )
    print(f"\n{time.time() - started:.0f} s; load average at the end: {os.getloadavg()}; outputs in {out}")


def interleaved_latency(folders: list[Path], rounds: int) -> list[float]:
    """Median over ``rounds`` of each model's latency (the int8 export's protocol), the models timed in turn."""
    import statistics

    from llmkit.export import sample_inputs
    from llmkit.export.samples import _median_ms, _torch_forward
    from llmkit.train import load_for_inference

    models = [load_for_inference(str(folder), device="cpu") for folder in folders]
    runs = [_torch_forward(m.model, sample_inputs(m.task, m.tokenizer)) for m in models]
    times: list[list[float]] = [[] for _ in models]
    for _ in range(rounds):
        for i, run in enumerate(runs):
            times[i].append(_median_ms(run))
    print(f"latency rounds done; load average {os.getloadavg()}", flush=True)
    return [statistics.median(t) for t in times]


if __name__ == "__main__":
    main()
