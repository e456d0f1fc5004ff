"""Peak memory of a perplexity evaluation (`llmkit eval ... --data FILE --json`, in-process) in a fresh process.

Run on a file and on a 4x larger one: token-level reductions inside the evaluation loop keep the memory flat.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.common import emit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True, help="a saved GPT-2 checkpoint")
    parser.add_argument("--data", required=True)
    parser.add_argument("--block", type=int, default=256)
    args = parser.parse_args()
    from typer.testing import CliRunner

    from llmkit.cli import app

    overrides = [f"model.name_or_path={args.model}", "model.config=null", "tokenizer.train=null"]
    overrides += [f"data.block_size={args.block}", "training.per_device_eval_batch_size=8", "training.use_cpu=true"]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = CliRunner().invoke(app, ["eval", "clm", *overrides, "--data", args.data, "--json"])
    if result.exit_code != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(result.exit_code)
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    emit({"peak_rss_mb": peak / 1024, "rss_before_mb": before / 1024, "tokens": metrics.get("tokens")})


if __name__ == "__main__":
    main()
