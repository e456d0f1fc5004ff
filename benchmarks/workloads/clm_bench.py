"""Causal-LM pretraining throughput, both sides, on the same model, corpus, block size, batch and steps:

- ``--side llmkit``: `llmkit pretrain clm` (in-process CLI), continuing from the saved random GPT-2;
- ``--side baseline``: a raw PyTorch loop (forward, backward, AdamW) on the same packed blocks.

Also measures this machine's fp32 matmul peak, so both sides report model FLOP utilisation (MFU).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.common import ROOT, emit

CORPUS = ROOT / "recipes" / "data" / "wordnet-glosses" / "train.txt"


def matmul_peak(size: int = 1024, reps: int = 20) -> float:
    """Measured fp32 FLOP/s of a square matmul on this machine (best of a few timed rounds)."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, 2 * size**3 * reps / (time.perf_counter() - started))
    return best


def flops_per_token(config: dict, parameters: int, block: int) -> float:
    """Training FLOPs per token: 6 N for the weights plus 12 L d T for attention (PaLM's estimate)."""
    return 6 * parameters + 12 * config["n_layer"] * config["n_embd"] * block


def llmkit_side(args: argparse.Namespace) -> dict[str, float]:
    from typer.testing import CliRunner

    from llmkit.cli import app

    out = Path(tempfile.mkdtemp(prefix="bench-clm-")) / "run"
    overrides = [
        f"model.name_or_path={args.model}",
        "model.config=null",
        "tokenizer.train=null",
        f"data.train_file={args.corpus}",
        "data.validation_file=null",
        f"data.block_size={args.block}",
        f"training.max_steps={args.steps}",
        f"training.per_device_train_batch_size={args.batch}",
        "training.eval_strategy=no",
        "training.save_strategy=no",
        "training.logging_steps=1000",
        "training.learning_rate=5e-4",
        "training.lr_scheduler_type=constant",
        "training.warmup_steps=0",
        "training.weight_decay=0.0",
        "training.dataloader_num_workers=0",
    ]
    if args.device == "cpu":
        overrides.append("training.use_cpu=true")
    result = CliRunner().invoke(app, ["pretrain", "clm", *overrides, "--output-dir", str(out)])
    if result.exit_code != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(result.exit_code)
    metrics = json.loads((out / "metrics.json").read_text())["train"]
    tokens = args.steps * args.batch * args.block
    return {
        "tokens": tokens,
        "seconds": metrics["train_runtime"],
        "tokens_per_second": tokens / metrics["train_runtime"],
    }


def baseline_side(args: argparse.Namespace) -> dict[str, float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(42)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).to(args.device)
    model.train()
    lines = [line for line in Path(args.corpus).read_text(encoding="utf-8").splitlines() if line]
    ids: list[int] = []
    for row in tokenizer(lines, add_special_tokens=False)["input_ids"]:
        ids += [*row, tokenizer.eos_token_id]
    usable = len(ids) - len(ids) % args.block
    blocks = torch.tensor(ids[:usable]).view(-1, args.block)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.0)
    order = torch.randperm(len(blocks))
    started = time.perf_counter()
    for step in range(args.steps):
        chosen = order[(step * args.batch) % len(blocks) :][: args.batch]
        batch = blocks[chosen].to(args.device)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # Trainer clips at 1.0 by default
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    float(loss)  # wait for the device
    seconds = time.perf_counter() - started
    tokens = args.steps * args.batch * args.block
    return {"tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", choices=["llmkit", "baseline"], required=True)
    parser.add_argument("--model", required=True, help="a saved GPT-2 (random weights) both sides start from")
    parser.add_argument("--corpus", default=str(CORPUS))
    parser.add_argument("--block", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    figures = llmkit_side(args) if args.side == "llmkit" else baseline_side(args)
    config = json.loads((Path(args.model) / "config.json").read_text())
    from safetensors import safe_open

    with safe_open(str(Path(args.model) / "model.safetensors"), "pt") as handle:
        parameters = sum(_numel(handle, key) for key in handle.keys())  # noqa: SIM118 - safe_open has no __iter__
    figures["flops_per_token"] = flops_per_token(config, parameters, args.block)
    figures["peak_flops"] = matmul_peak() if args.device == "cpu" else None
    if figures["peak_flops"]:
        figures["mfu"] = figures["tokens_per_second"] * figures["flops_per_token"] / figures["peak_flops"]
    emit(figures)


def _numel(handle, key: str) -> int:
    count = 1
    for dim in handle.get_slice(key).get_shape():
        count *= dim
    return count


if __name__ == "__main__":
    main()
