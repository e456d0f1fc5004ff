"""Greedy decoding with an exported causal LM: over the key/value cache vs rerunning model.onnx on the whole text.

Usage: python benchmarks/onnx_decode_speed.py OUT [--tokens 30]   (OUT from `llmkit export RUN OUT --format onnx`)

Both loops decode the same two left-padded prompts on one CPU thread; they must pick the same tokens. Prints the
median wall time of 20 runs of each.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
from transformers import AutoTokenizer

PROMPTS = ["the cat sat on the mat and looked at the", "bread"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="an ONNX export of a causal LM run")
    parser.add_argument("--tokens", type=int, default=30)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    prompt, step = (
        ort.InferenceSession(f"{args.out}/{name}", options, providers=["CPUExecutionProvider"])
        for name in ("model.onnx", "model_with_past.onnx")
    )
    past = [i.name for i in step.get_inputs() if i.name.startswith("past_key_values.")]
    tokenizer = AutoTokenizer.from_pretrained(args.out, padding_side="left")
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    batch = tokenizer(PROMPTS, return_tensors="np", padding=True)

    def cached() -> np.ndarray:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        positions, cache, new = np.maximum(mask.cumsum(-1) - 1, 0), [], []
        for _ in range(args.tokens):
            feed = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
            logits, *cache = (step if cache else prompt).run(None, feed | dict(zip(past, cache, strict=bool(cache))))
            ids = logits[:, -1].argmax(-1)[:, None]
            new.append(ids)
            mask, positions = np.concatenate([mask, np.ones_like(ids)], axis=1), positions[:, -1:] + 1
        return np.concatenate(new, axis=1)

    def recomputed() -> np.ndarray:
        ids, mask, new = batch["input_ids"], batch["attention_mask"], []
        for _ in range(args.tokens):
            feed = {"input_ids": ids, "attention_mask": mask, "position_ids": np.maximum(mask.cumsum(-1) - 1, 0)}
            token = prompt.run(["logits"], feed)[0][:, -1].argmax(-1)[:, None]
            new.append(token)
            ids, mask = np.concatenate([ids, token], axis=1), np.concatenate([mask, np.ones_like(token)], axis=1)
        return np.concatenate(new, axis=1)

    assert np.array_equal(cached(), recomputed()), "the two loops picked different tokens"
    for name, loop in (("model_with_past.onnx (cache)", cached), ("model.onnx (recompute)", recomputed)):
        print(f"{name}: {_median_ms(loop):.2f} ms for {args.tokens} tokens, batch {len(PROMPTS)}")


def _median_ms(loop: Callable[[], object], runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        loop()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
