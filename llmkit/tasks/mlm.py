"""Masked language modelling (BERT family): pretrain from scratch or continue, masked-token perplexity, fill-mask.

Documents are tokenized with the model's specials ([CLS] ... [SEP]) and packed into
``data.block_size`` blocks. Training batches are masked on the fly by transformers'
``DataCollatorForLanguageModeling`` (``mlm.mlm_probability`` of the tokens, 80% [MASK] / 10% random /
10% unchanged; whole words with ``mlm.whole_word_mask``). Evaluation splits are masked once, with
``mlm.eval_mask_seed``, so the masked-token perplexity is the same number run after run.

With ``mlm.nsp: true`` the model is ``BertForPreTraining`` (masked LM + next-sentence heads) and each example
is a sentence pair ``[CLS] A [SEP] B [SEP]`` instead of a packed block: ``mlm_nsp`` builds the pairs as BERT
did and adds ``nsp_accuracy`` and ``nsp_loss`` to the metrics.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from llmkit.config import Section
from llmkit.errors import ConfigError
from llmkit.tasks import lm_common, mlm_nsp
from llmkit.tasks.lm_common import LMData
from llmkit.tasks.spec import Explanation, PrepareContext, Prepared, TaskSpec


class MLMOptions(Section):
    """Options of the mlm task."""

    mlm_probability: float = Field(0.15, gt=0, lt=1, description="Share of tokens selected for prediction.")
    mask_replace_prob: float = Field(0.8, ge=0, le=1, description="Selected tokens replaced by [MASK].")
    random_replace_prob: float = Field(0.1, ge=0, le=1, description="Selected tokens replaced by a random token.")
    whole_word_mask: bool = Field(
        False, description="Select whole words (all their sub-tokens) instead of single tokens; implies 100% [MASK]."
    )
    eval_mask_seed: int = Field(0, description="Seed of the fixed masking of evaluation splits.")
    nsp: bool = Field(
        False, description="Also train next-sentence prediction (BertForPreTraining) on BERT-style sentence pairs."
    )
    nsp_seed: int = Field(0, description="Seed of the sentence pairs (split points, random B segments) per split.")
    nsp_short_seq_prob: float = Field(
        0.1, ge=0, le=1, description="Share of pairs built to a shorter random length, as BERT did."
    )


def masking_collator(tokenizer: Any, options: MLMOptions, seed: int | None = None) -> Any:
    """transformers' masking collator configured from the recipe."""
    from transformers import DataCollatorForLanguageModeling

    if tokenizer.mask_token is None:
        raise ConfigError("mlm: the tokenizer has no mask token; use a masked-LM tokenizer or tokenizer.train")
    return DataCollatorForLanguageModeling(
        tokenizer,
        mlm=True,
        mlm_probability=options.mlm_probability,
        mask_replace_prob=1.0 if options.whole_word_mask else options.mask_replace_prob,
        random_replace_prob=0.0 if options.whole_word_mask else options.random_replace_prob,
        whole_word_mask=options.whole_word_mask,
        seed=seed,
    )


def prepare(ctx: PrepareContext) -> Prepared:
    """Tokenize and pack every split, then mask the evaluation splits once with a fixed seed."""
    tokenizer, options = ctx.tokenizer, ctx.recipe.options
    if ctx.recipe.eval.stride:
        raise ConfigError("eval.stride: sliding-window scoring is for causal LMs (task clm); mlm scores blocks")
    if options.mask_replace_prob + options.random_replace_prob > 1:
        raise ConfigError("mlm.random_replace_prob: mask_replace_prob + random_replace_prob must not exceed 1")
    if options.nsp:
        prepared = mlm_nsp.prepare_pairs(ctx)
        for split, features in prepared.features.items():
            if split != "train":
                prepared.features[split] = mask_fixed(features, tokenizer, options, split)
        return prepared
    offsets = options.whole_word_mask

    def encode(texts: list[str]) -> dict[str, list[list[Any]]]:
        out = tokenizer(texts, return_special_tokens_mask=True, return_offsets_mapping=offsets)
        columns = ["input_ids", "special_tokens_mask"] + (["offset_mapping"] if offsets else [])
        return {key: out[key] for key in columns}

    key = {"task": "mlm", "offsets": offsets}
    prepared = lm_common.tokenize_and_pack(ctx, encode, key=key)
    for split, features in prepared.features.items():
        if split != "train":
            prepared.features[split] = mask_fixed(features, tokenizer, options, split)
    return prepared


def mask_fixed(features: Any, tokenizer: Any, options: MLMOptions, split: str) -> Any:
    """Apply the masking collator once with ``eval_mask_seed``: stored input_ids and labels (each row cut back
    to its own length: sentence pairs differ in length), segment ids and NSP labels kept."""
    from llmkit.data import cached_map

    collate = masking_collator(tokenizer, options, seed=options.eval_mask_seed)

    def mask(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
        masked = collate(rows)
        lengths = [len(ids) for ids in batch["input_ids"]]
        out = {
            name: [row[:n] for row, n in zip(masked[name].tolist(), lengths, strict=True)]
            for name in ("input_ids", "labels")
        }
        for name in ("token_type_ids", "next_sentence_label"):
            if name in batch:
                out[name] = batch[name]
        return out

    return cached_map(
        features,
        mask,
        key={"options": options.model_dump(mode="json")},
        tokenizer=tokenizer,
        batched=True,
        batch_size=None,  # one batch: one generator stream, whatever the split size
        remove_columns=features.column_names,
        desc=f"Masking {split}",
    )


class _Collator:
    """Masks training batches on the fly; evaluation rows arrive already masked (they hold labels).

    Each training batch is masked with a generator seeded by (run seed, epoch, batch content) rather
    than the global RNG: the data loader collates one batch ahead, so a checkpoint's saved RNG state has
    already paid for the next batch's masks and a resumed run would mask that batch differently. This
    way a resumed run masks every batch as the uninterrupted run did, and each epoch masks anew. The
    runner registers the collator as a callback, which tells it the epoch.
    """

    def __init__(self, tokenizer: Any, options: MLMOptions, seed: int):
        self.masking = masking_collator(tokenizer, options)
        self.tokenizer = tokenizer
        self.seed = seed
        self.epoch = 0

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.epoch = int(state.epoch or 0)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import zlib

        import torch

        if "labels" in rows[0]:
            from transformers import DataCollatorForSeq2Seq

            return DataCollatorForSeq2Seq(self.tokenizer, label_pad_token_id=lm_common.IGNORE_INDEX)(rows)
        content = zlib.crc32(repr([row["input_ids"] for row in rows]).encode())
        self.masking.generator = torch.Generator().manual_seed(hash((self.seed, self.epoch, content)) % 2**63)
        return self.masking(rows)


def collator(tokenizer: Any, recipe: Any, prepared: Prepared) -> Any:
    """See ``_Collator``."""
    from transformers import TrainerCallback

    cls = type("MaskingCollator", (_Collator, TrainerCallback), {})
    return cls(
        tokenizer, recipe.options, int(recipe.training.seed if "seed" in recipe.training.model_fields_set else 42)
    )


def predict(
    model: Any, tokenizer: Any, inputs: list[dict[str, Any]], recipe: Any = None, options: Any = None, **_: Any
) -> list[dict[str, Any]]:
    """Fill each [MASK] with its ``top_k_fill`` most likely tokens; the prediction uses the best of each."""
    import torch

    from llmkit.errors import UsageError

    top_k = int((options or {}).get("top_k_fill") or 5)
    mask = tokenizer.mask_token
    rows = []
    model.eval()
    for item in inputs:
        text = item["text"].replace("[MASK]", mask) if mask != "[MASK]" else item["text"]
        if mask not in text:
            raise UsageError(f"--prompt: '{item['text']}' has no {mask} to fill")
        encoded = tokenizer(text, return_tensors="pt", truncation=True).to(model.device)
        with torch.inference_mode():
            output = model(**encoded)
        logits = (output.logits if "logits" in output else output.prediction_logits)[0]  # BertForPreTraining
        ids = encoded["input_ids"][0]
        positions = (ids == tokenizer.mask_token_id).nonzero().flatten().tolist()
        filled = ids.clone()
        masks = []
        for position in positions:
            probs = logits[position].float().softmax(-1)
            scores, tokens = probs.topk(min(top_k, probs.shape[-1]))
            masks.append(
                [
                    {"token": tokenizer.decode([t]).strip(), "score": round(float(s), 6)}
                    for s, t in zip(scores.tolist(), tokens.tolist(), strict=True)
                ]
            )
            filled[position] = tokens[0]
        prediction = tokenizer.decode(filled, skip_special_tokens=True)
        rows.append({"text": item["text"], "prediction": prediction, "masks": masks})
    return rows


def load_model(section: Any, config: Any, recipe: Any = None, tokenizer: Any = None) -> Any:
    """``BertForPreTraining`` with ``mlm.nsp``, the masked-LM model otherwise (also for a plain checkpoint)."""
    from llmkit.models import load_model as load

    if recipe is not None and recipe.options.nsp:
        return mlm_nsp.check_model(load(section, "AutoModelForPreTraining", config))
    return load(section, "AutoModelForMaskedLM", config)


def _preprocess_logits(recipe: Any) -> Any:
    if recipe.options.nsp:
        return mlm_nsp.preprocess_logits(recipe)
    return lm_common.preprocess_logits(shift=False)(recipe)


def _metrics(recipe: Any, prepared: Prepared, split: str) -> Any:
    return (mlm_nsp.metrics if recipe.options.nsp else lm_common.metrics)(recipe, prepared, split)


def _details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Any:
    return (mlm_nsp.details if recipe.options.nsp else lm_common.details)(recipe, prepared, split, output)


TASK = TaskSpec(
    name="mlm",
    summary="Masked language modelling (BERT family): pretraining, masked-token perplexity, fill-mask",
    commands=("pretrain",),
    data_model=LMData,
    options_model=MLMOptions,
    auto_model="AutoModelForMaskedLM",
    key_metric="perplexity",
    greater_is_better=False,
    architectures=("ForMaskedLM", "BertForPreTraining"),
    prepare=prepare,
    collator=collator,
    metrics=_metrics,
    details=_details,
    predict=predict,
    preprocess_logits=_preprocess_logits,
    load_model=load_model,
    training_defaults={"remove_unused_columns": False},  # the collator needs special_tokens_mask/offset_mapping
    pipeline_tag="fill-mask",
    loss_kind="ForMaskedLM",
    head_loss=lm_common.head_loss("ForMaskedLM"),
    generate_options=("top_k_fill",),
    corpus_column="text_column",
    explain=Explanation("masked_token"),
)
