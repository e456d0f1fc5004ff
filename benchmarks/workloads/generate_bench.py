"""Greedy generation benchmark, both sides: `llmkit generate` (in-process CLI) and a plain `model.generate`
script as a user would write it. Same model, prompts, batch size and 128 new tokens.

    python benchmarks/workloads/generate_bench.py --side llmkit|baseline --model DIR --prompts FILE
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.common import emit


def llmkit_side(args: argparse.Namespace) -> dict[str, float]:
    from typer.testing import CliRunner

    from llmkit.cli import app

    out = Path(tempfile.mkdtemp(prefix="bench-gen-")) / "out.jsonl"
    command = ["generate", "--model", args.model, "--input", args.prompts, "--output", str(out), "--greedy"]
    command += ["--max-new-tokens", str(args.max_new_tokens), "--batch-size", str(args.batch_size)]
    command += ["--device", args.device]
    result = CliRunner().invoke(app, command)
    if result.exit_code != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(result.exit_code)
    found = re.search(r"generated (\d+) tokens in ([\d.]+)s", result.stderr)
    tokens, seconds = int(found.group(1)), float(found.group(2))
    return {"tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds}


def baseline_side(args: argparse.Namespace) -> dict[str, float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(args.model).to(args.device).eval()
    prompts = [line for line in Path(args.prompts).read_text().splitlines() if line.strip()]
    started = time.perf_counter()
    tokens = 0
    for start in range(0, len(prompts), args.batch_size):
        batch = tokenizer(prompts[start : start + args.batch_size], return_tensors="pt", padding=True).to(args.device)
        with torch.inference_mode():
            output = model.generate(
                **batch, do_sample=False, max_new_tokens=args.max_new_tokens, pad_token_id=tokenizer.eos_token_id
            )
        tokens += int(output[:, batch["input_ids"].shape[1] :].numel())
    seconds = time.perf_counter() - started
    return {"tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", choices=["llmkit", "baseline"], required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompts", required=True)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    emit(llmkit_side(args) if args.side == "llmkit" else baseline_side(args))


if __name__ == "__main__":
    main()
