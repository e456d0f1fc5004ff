"""Translation evaluation with generation, both sides, on the same model, sentences and generation settings:

- ``--side llmkit``: `llmkit eval RUN --data FILE` (in-process), which generates in batches sorted by length;
- ``--side baseline``: `Seq2SeqTrainer.predict(predict_with_generate=True)` in dataset order, as a user writes it,
  scoring BLEU with sacrebleu in ``compute_metrics`` as transformers' ``run_translation.py`` example does, so
  both timings cover generation and scoring.

``--side setup`` trains the small model both sides use and exits: a 2+2-layer BART (d_model 128) taught to copy
English (en->en) on the WordNet glosses of up to 60 characters plus the gettext training sentences. A copying
model writes outputs whose length follows the source's, as a real translator's do, which is what length-sorted
batches exploit. (Trained on the 2,359 gettext sentences alone, the model memorises them and ignores its
encoder: its outputs are fluent but unrelated to the input, and their lengths too.)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks.common import ROOT, emit

FIXTURE = ROOT / "tests" / "fixtures" / "translation-tiny.yaml"
LIMITS = ["data.max_source_length=64", "data.max_target_length=64", "data.source_lang=en", "data.target_lang=en"]


def copy_corpus(path: Path) -> Path:
    """en->en pairs for training the copy model: short WordNet glosses and the gettext training sentences."""
    data = ROOT / "recipes" / "data"
    glosses = (data / "wordnet-glosses" / "train.txt").read_text(encoding="utf-8").splitlines()
    texts = [line.strip() for line in glosses if 0 < len(line.strip()) <= 60]
    for line in (data / "gettext-en-de" / "train.jsonl").read_text(encoding="utf-8").splitlines():
        texts.append(json.loads(line)["translation"]["en"])
    random.Random(0).shuffle(texts)
    path.write_text("".join(json.dumps({"translation": {"en": t}}) + "\n" for t in texts), encoding="utf-8")
    return path


def setup(args: argparse.Namespace) -> dict[str, float]:
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration
    from typer.testing import CliRunner

    from llmkit.cli import app
    from llmkit.models import ASSETS

    base = Path(args.run).parent / "tiny-bart"
    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-t5")
    eos = tokenizer.eos_token_id
    config = BartConfig(
        vocab_size=len(tokenizer),
        d_model=args.width,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=4 * args.width,
        decoder_ffn_dim=4 * args.width,
        max_position_embeddings=128,
        dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=eos,
        bos_token_id=eos,
        decoder_start_token_id=eos,
        forced_eos_token_id=eos,
    )
    torch.manual_seed(0)
    BartForConditionalGeneration(config).save_pretrained(base)
    tokenizer.save_pretrained(base)
    train_file = copy_corpus(Path(args.run).parent / "copy-train.jsonl")
    overrides = [
        f"model.name_or_path={base}",
        f"data.train_file={train_file}",
        "data.validation_file=null",
        "data.test_file=null",
        "data.id_column=null",
        *LIMITS,
        f"training.max_steps={args.steps}",
        f"training.learning_rate={args.lr}",
        "training.lr_scheduler_type=constant_with_warmup",
        "training.warmup_steps=100",  # with 30 warmup steps at 1e-3 the copy model stayed at the unigram loss
        "training.seed=42",
        "training.per_device_train_batch_size=32",
        "training.eval_strategy=no",
        "training.save_strategy=no",
        "training.load_best_model_at_end=false",
        "training.metric_for_best_model=null",
        "eval.early_stopping_patience=null",
    ]
    result = CliRunner().invoke(app, ["finetune", str(FIXTURE), *overrides, "--output-dir", args.run])
    if result.exit_code != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(result.exit_code)
    return {"trained": 1.0}


def llmkit_side(args: argparse.Namespace) -> dict[str, float]:
    from llmkit.train import evaluate

    result = evaluate(args.run, [f"training.per_device_eval_batch_size={args.batch}"], data_file=args.data)
    metrics = result.result.metrics
    rows = len(result.result.rows)
    return {"sentences": rows, "seconds": metrics["runtime"], "bleu": metrics["bleu"]}


def baseline_side(args: argparse.Namespace) -> dict[str, float]:
    import sacrebleu
    from datasets import load_dataset
    from transformers import (
        AutoModelForSeq2SeqLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
    )

    tokenizer = AutoTokenizer.from_pretrained(args.run)
    model = AutoModelForSeq2SeqLM.from_pretrained(args.run)
    raw = load_dataset("json", data_files=args.data, split="train")

    def preprocess(batch):
        sources = [pair["en"] for pair in batch["translation"]]
        encoded = tokenizer(sources, max_length=64, truncation=True)
        encoded["labels"] = tokenizer(text_target=sources, max_length=64, truncation=True)["input_ids"]
        return encoded

    data = raw.map(preprocess, batched=True, remove_columns=raw.column_names)
    training_args = Seq2SeqTrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="bench-mt-"),
        per_device_eval_batch_size=args.batch,
        predict_with_generate=True,
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
    )
    references = [pair["en"] for pair in raw["translation"]]

    def compute_metrics(eval_pred):  # as in transformers' run_translation.py example: decode, then sacrebleu
        predictions = eval_pred.predictions
        predictions[predictions < 0] = tokenizer.pad_token_id
        hypotheses = [t.strip() for t in tokenizer.batch_decode(predictions, skip_special_tokens=True)]
        return {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score}

    trainer = Seq2SeqTrainer(
        model=model,
        args=training_args,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
    )
    output = trainer.predict(data, max_new_tokens=64, num_beams=1)  # the run's generation settings
    # test_runtime covers generation and scoring, as llmkit's runtime does (it also scores chrF)
    return {
        "sentences": len(references),
        "seconds": output.metrics["test_runtime"],
        "bleu": output.metrics["test_bleu"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--side", choices=["setup", "llmkit", "baseline"], required=True)
    parser.add_argument("--run", required=True, help="the run directory of the trained model")
    parser.add_argument("--data", default=None, help="WMT-style JSONL evaluated by both sides")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--width", type=int, default=128, help="d_model of the BART trained in setup")
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args()
    sides = {"setup": setup, "llmkit": llmkit_side, "baseline": baseline_side}
    emit(sides[args.side](args))


if __name__ == "__main__":
    main()
