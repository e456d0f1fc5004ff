"""Faithfulness and cost of `llmkit explain` on a text classification run (the README's table).

For each test sentence and each method: explain the predicted label, delete the k tokens with the highest
attribution (k = 1..5, special tokens never deleted) and measure how much the predicted label's probability
falls; compare with deleting k tokens drawn at random (the mean over ``--random-draws`` draws per sentence). A
faithful method's deletions hurt more than random ones. Also reports the time per explanation and, for
integrated gradients, the completeness check (|convergence delta| relative to |f(x) - f(baseline)|).

    python benchmarks/explain_faithfulness.py --model runs/demo --rows 100
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
METHODS = ("integrated-gradients", "gradient-x-input", "attention", "rollout")


def probabilities(model, tokenizer, variants: list[list[int]], index: int) -> list[float]:
    """The probability of label ``index`` for each token-id list (padded into one batch)."""
    import torch

    batch = tokenizer.pad({"input_ids": variants}, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch.to(model.device)).logits.float()
    return logits.softmax(-1)[:, index].tolist()


def deleted(ids: list[int], positions: set[int]) -> list[int]:
    return [token for i, token in enumerate(ids) if i not in positions]


def drops_for(loaded, text: str, found, max_k: int, draws: int, rng: random.Random) -> tuple[list[float], list[float]]:
    """Probability drops after deleting the top-k attributed tokens and k random ones, for k = 1..max_k."""
    tokenizer, model = loaded.tokenizer, loaded.model
    ids = tokenizer(text, truncation=True, max_length=loaded.recipe.data.max_seq_length)["input_ids"]
    assert len(ids) == len(found.tokens)
    special = set(tokenizer.all_special_ids)
    content = [i for i, token in enumerate(ids) if token not in special]
    ranked = sorted(content, key=lambda i: -found.attributions[i])
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    index = labels.index(found.prediction)
    variants = [ids]
    for k in range(1, max_k + 1):
        variants.append(deleted(ids, set(ranked[:k])))
        variants += [deleted(ids, set(rng.sample(content, min(k, len(content))))) for _ in range(draws)]
    probs = probabilities(model, tokenizer, variants, index)
    before, rest = probs[0], probs[1:]
    top, rand = [], []
    for k in range(max_k):
        chunk = rest[k * (draws + 1) : (k + 1) * (draws + 1)]
        top.append(before - chunk[0])
        rand.append(before - statistics.fmean(chunk[1:]))
    return top, rand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="runs/demo", help="A finished textcls run directory.")
    parser.add_argument("--data", default=str(REPO / "recipes/data/wordnet-topics/test.csv"))
    parser.add_argument("--rows", type=int, default=100, help="Test sentences (the first N with >= 6 content tokens).")
    parser.add_argument("--max-k", type=int, default=5)
    parser.add_argument("--random-draws", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50, help="Integrated-gradients steps.")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", type=Path, help="Also write the figures as JSON here.")
    args = parser.parse_args()

    import torch

    from llmkit.explain import Request, explain_loaded
    from llmkit.train import load_for_inference

    torch.manual_seed(args.seed)
    loaded = load_for_inference(args.model, device="cpu")
    special = set(loaded.tokenizer.all_special_ids)
    with open(args.data, newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    # sentences long enough that deleting 5 tokens leaves something to classify
    texts = [t for t in texts if sum(i not in special for i in loaded.tokenizer(t)["input_ids"]) > args.max_k]
    texts = texts[: args.rows]
    explain_loaded(loaded, Request(prompt=texts[0]), "integrated-gradients", steps=args.steps)  # warm-up
    results = {}
    for method in args.methods:
        rng = random.Random(args.seed)
        tops, rands, seconds, ratios = [], [], [], []
        for text in texts:
            found = explain_loaded(loaded, Request(prompt=text), method, steps=args.steps)
            seconds.append(found.seconds)
            if found.convergence_delta is not None:
                target = found.targets[0]
                gap = abs(target.score - (target.baseline_score or 0.0))
                ratios.append(abs(found.convergence_delta) / gap if gap > 0 else 0.0)
            top, rand = drops_for(loaded, text, found, args.max_k, args.random_draws, rng)
            tops.append(top)
            rands.append(rand)
        results[method] = {
            "top_k_drop": [statistics.fmean(row[k] for row in tops) for k in range(args.max_k)],
            "random_k_drop": [statistics.fmean(row[k] for row in rands) for k in range(args.max_k)],
            "seconds_mean": statistics.fmean(seconds),
            "seconds_median": statistics.median(seconds),
            "relative_delta_median": statistics.median(ratios) if ratios else None,
        }
        print(method, json.dumps(results[method]), flush=True)
    print_table(results, len(texts), args)
    if args.json_out:
        args.json_out.write_text(json.dumps({"rows": len(texts), "results": results}, indent=2))


def print_table(results: dict, rows: int, args: argparse.Namespace) -> None:
    ks = range(1, args.max_k + 1)
    print(f"\n{rows} sentences; mean drop of the predicted label's probability after deleting k tokens")
    print("| method | " + " | ".join(f"k={k} top / random" for k in ks) + " | s per explanation |")
    print("|---|" + "---|" * (args.max_k + 1))
    for method, found in results.items():
        cells = [f"{t:.3f} / {r:.3f}" for t, r in zip(found["top_k_drop"], found["random_k_drop"], strict=True)]
        print(f"| {method} | " + " | ".join(cells) + f" | {found['seconds_mean']:.3f} |")
    uptime = os.popen("uptime").read().strip()
    print(f"\nmachine: {os.cpu_count()} cores, torch threads {__import__('torch').get_num_threads()}; uptime: {uptime}")


if __name__ == "__main__":
    main()
