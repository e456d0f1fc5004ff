"""llmkit side of the text-classification benchmark: the shipped recipe, run through the CLI."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.common import emit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps; 0 = the recipe's full schedule")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from typer.testing import CliRunner

    from llmkit.cli import app

    out = Path(tempfile.mkdtemp(prefix="bench-textcls-llmkit-"))
    overrides = [f"model.name_or_path={args.model}", "training.save_strategy=no", "training.eval_strategy=no",
                 "training.load_best_model_at_end=false", "training.report_to=none"]
    if args.steps:
        overrides.append(f"training.max_steps={args.steps}")
    if args.device == "cpu":
        overrides.append("training.use_cpu=true")
    result = CliRunner().invoke(app, ["finetune", "textcls", *overrides, "--output-dir", str(out)])
    if result.exit_code != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(result.exit_code)
    metrics = json.loads((out / "metrics.json").read_text())
    emit(
        {
            "samples_per_second": metrics["train"]["train_samples_per_second"],
            "train_runtime": metrics["train"]["train_runtime"],
            "accuracy": metrics["test"]["accuracy"],
        }
    )


if __name__ == "__main__":
    main()
