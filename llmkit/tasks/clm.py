"""Causal language modelling (GPT-2 family): pretrain from scratch or continue, score perplexity, generate.

Documents are tokenized, closed with the end-of-text token, concatenated and cut into
``data.block_size`` blocks (no padding); labels are the inputs, shifted by the model.
"""

from __future__ import annotations

from typing import Any

from llmkit.tasks import lm_common
from llmkit.tasks.lm_common import LMData
from llmkit.tasks.spec import PrepareContext, Prepared, TaskSpec


def prepare(ctx: PrepareContext) -> Prepared:
    """Tokenize and pack every split; evaluation splits use sliding windows when ``eval.stride`` is set."""
    tokenizer = ctx.tokenizer
    eos = tokenizer.eos_token_id

    def encode(texts: list[str]) -> dict[str, list[list[Any]]]:
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        ids = [[*row, eos] if eos is not None else row for row in ids]
        return {"input_ids": ids, "labels": ids}

    stride = ctx.recipe.eval.stride

    def window(split: str) -> tuple[int, int] | None:
        return (ctx.recipe.data.block(), stride) if stride and split != "train" else None

    return lm_common.tokenize_and_pack(ctx, encode, key={"task": "clm", "eos": eos}, window=window)


def collator(tokenizer: Any, recipe: Any, prepared: Prepared) -> Any:
    """Blocks are equal length; strided evaluation windows are padded (labels with -100)."""
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=lm_common.IGNORE_INDEX)


def decoding_options(recipe: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The recipe's ``generate:`` defaults under the command-line options."""
    defaults = recipe.generate.model_dump(exclude_none=True) if recipe is not None else {}
    return {**defaults, **options}


def generate_text(model: Any, tokenizer: Any, prompts: list[str], options: dict[str, Any]) -> list[list[str]]:
    """Continue each prompt; one list of continuations (``num_return_sequences``) per prompt.

    ``options``: max_new_tokens, do_sample, temperature, top_k, top_p, repetition_penalty, num_beams,
    num_return_sequences, seed, stop (strings that end a continuation; they are cut off).
    """
    import torch
    import transformers

    options = dict(options)
    stop = options.pop("stop", None) or []
    seed = options.pop("seed", None)
    options.pop("top_k_fill", None)
    if seed is not None:
        transformers.set_seed(seed)
    kwargs = {"max_new_tokens": 50, **options}
    if kwargs.get("do_sample") is None:
        kwargs["do_sample"] = any(k in options for k in ("temperature", "top_k", "top_p"))
    count = int(kwargs.get("num_return_sequences") or 1)
    if count > 1 and not kwargs["do_sample"] and int(kwargs.get("num_beams") or 1) < count:
        kwargs["num_beams"] = count  # greedy decoding returns one sequence; beams return several
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    results: list[list[str]] = []
    model.eval()
    for prompt in prompts:
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt").to(model.device)
        if ids["input_ids"].shape[1] == 0 and tokenizer.bos_token_id is not None:  # an empty prompt starts a document
            start = torch.tensor([[tokenizer.bos_token_id]], device=model.device)
            ids = {"input_ids": start, "attention_mask": torch.ones_like(start)}
        with torch.inference_mode():
            output = model.generate(**ids, pad_token_id=pad_id, **kwargs)
        new = output[:, ids["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new, skip_special_tokens=True)
        results.append([_cut_at_stop(text, stop) for text in texts])
    return results


def _cut_at_stop(text: str, stop: list[str]) -> str:
    cuts = [text.index(s) for s in stop if s and s in text]
    return text[: min(cuts)] if cuts else text


def predict(
    model: Any, tokenizer: Any, inputs: list[dict[str, Any]], recipe: Any = None, options: Any = None, **_: Any
) -> list[dict[str, Any]]:
    """`llmkit generate`: one row per continuation, {"text": prompt, "prediction": continuation}."""
    prompts = [item["text"] for item in inputs]
    outputs = generate_text(model, tokenizer, prompts, decoding_options(recipe, options or {}))
    rows = []
    for prompt, continuations in zip(prompts, outputs, strict=True):
        for index, text in enumerate(continuations):
            row = {"text": prompt, "prediction": text}
            if len(continuations) > 1:
                row["index"] = index
            rows.append(row)
    return rows


TASK = TaskSpec(
    name="clm",
    summary="Causal language modelling (GPT-2 family): pretraining, perplexity, text generation",
    commands=("pretrain",),
    data_model=LMData,
    options_model=None,
    auto_model="AutoModelForCausalLM",
    key_metric="perplexity",
    greater_is_better=False,
    architectures=("ForCausalLM", "LMHeadModel"),
    prepare=prepare,
    collator=collator,
    metrics=lm_common.metrics,
    details=lm_common.details,
    predict=predict,
    preprocess_logits=lm_common.preprocess_logits(shift=True),
)
