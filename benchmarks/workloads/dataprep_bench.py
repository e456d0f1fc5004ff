"""Data preparation time of the shipped clm recipe (read the corpus, tokenize, pack), in a fresh process.

Run twice with the same ``--cache``: the first run prepares, the second must find the datasets cache
keyed by data, settings, tokenizer and code.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.common import emit


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", required=True, help="HF_DATASETS_CACHE shared by the two runs")
    parser.add_argument("--lines", type=int, default=0, help="use only the first N corpus lines (0: all)")
    args = parser.parse_args()
    os.environ["HF_DATASETS_CACHE"] = args.cache  # before datasets is imported

    from llmkit.data import load_raw
    from llmkit.models import load_config, load_tokenizer
    from llmkit.recipe import load_recipe
    from llmkit.train import prepare_task, quiet_libraries

    overrides = ["model.name_or_path=tiny-gpt2", "model.config=null", "tokenizer.train=null"]
    if args.lines:
        overrides.append(f"data.max_train_samples={args.lines}")
    recipe = load_recipe("clm", overrides).recipe
    quiet_libraries()
    tokenizer = load_tokenizer(recipe.model)
    config = load_config(recipe.model, tokenizer)
    started = time.perf_counter()
    raw = load_raw(recipe.data)
    prepared = prepare_task(recipe, raw, tokenizer, config, training=True)
    seconds = time.perf_counter() - started
    emit({"seconds": seconds, "train_blocks": len(prepared.features["train"])})


if __name__ == "__main__":
    main()
