"""Causal language modelling (GPT-2 family): pretrain from scratch or continue, score perplexity, generate.

Documents are tokenized, closed with the end-of-text token, concatenated and cut into
``data.block_size`` blocks (no padding); labels are the inputs, shifted by the model.
"""

from __future__ import annotations

from typing import Any

from llmkit.tasks import lm_common
from llmkit.tasks.lm_common import LMData
from llmkit.tasks.spec import DECODING, Distillation, Explanation, PrepareContext, Prepared, Shown, TaskSpec


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


def predict(
    model: Any,
    tokenizer: Any,
    inputs: list[dict[str, Any]],
    recipe: Any = None,
    options: Any = None,
    on_batch: Any = None,
    **_: Any,
) -> list[dict[str, Any]]:
    """`llmkit generate`: one row per continuation, {"text": prompt, "prediction": continuation, "new_tokens"}."""
    from llmkit.generation import decoding_options, generate_batch

    options = decoding_options(recipe, options or {})
    prompts = [item["text"] for item in inputs]
    batch_size = int(options.get("batch_size") or 8)
    results = generate_batch(model, tokenizer, prompts, options, batch_size=batch_size, on_batch=on_batch)
    rows = []
    for result in results:
        for index, (text, count) in enumerate(zip(result.texts, result.new_tokens, strict=True)):
            row = {"text": result.prompt, "prediction": text, "new_tokens": count}
            if len(result.texts) > 1:
                row["index"] = index
            rows.append(row)
    return rows


def stream(model: Any, tokenizer: Any, prompt: str, options: dict[str, Any]) -> Any:
    """`llmkit generate` on one prompt in a terminal: the continuation piece by piece."""
    from llmkit.generation import stream_text

    return stream_text(model, tokenizer, prompt, options)


def show_prediction(row: dict[str, Any]) -> Shown:
    """The prompt, then its continuation right after it."""
    return Shown(str(row.get("text", "")), str(row["prediction"]), None, continuation=True)


def generated_tokens(rows: list[dict[str, Any]]) -> int:
    """Tokens generated over all continuations (``new_tokens`` of each row)."""
    return sum(int(row.get("new_tokens", 0)) for row in rows)


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
    stream=stream,
    preprocess_logits=lm_common.preprocess_logits(shift=True),
    pipeline_tag="text-generation",
    pipeline_example='"Once upon a time", max_new_tokens=20',
    loss_kind="ForCausalLM",
    head_loss=lm_common.head_loss("ForCausalLM"),
    distill=Distillation(shift_labels=True, match="vocabulary"),
    show_prediction=show_prediction,
    generate_options=(*DECODING, "stop"),
    generated_tokens=generated_tokens,
    peft_task_type="CAUSAL_LM",
    corpus_column="text_column",
    explain=Explanation("next_token"),
)
