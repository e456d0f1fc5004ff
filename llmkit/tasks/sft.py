"""Instruction tuning of a causal LM (``sft``) with TRL's ``SFTTrainer``.

Rows are conversations (``messages``), Alpaca (``instruction``/``input``/``output``) or prompt/completion pairs
(``data.format``, detected by default). llmkit renders them through the chat template and labels the trained
tokens itself (``sft_format``: assistant turns by default, ``sft.loss_on``), then hands TRL the tokenized
``input_ids``/``labels``, which ``SFTTrainer`` takes as they are: TRL packs them (``sft.packing``: best-fit
decreasing into ``data.max_seq_length`` blocks, padding-free with per-example ``position_ids``), collates,
computes the loss and its token accuracy. Evaluation scores perplexity on the trained tokens and, for
``llmkit eval --predictions``, generates a reply to each held-out prompt (``sft_eval``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from llmkit.config import DataSection, Section
from llmkit.errors import ConfigError, DataError
from llmkit.tasks import clm, lm_common, sft_eval
from llmkit.tasks.sft_format import (
    BUILTIN_TEMPLATES,
    Example,
    detect_format,
    encode,
    missing_reply,
    prompt_and_reference,
    to_example,
    use_template,
)
from llmkit.tasks.spec import (
    DECODING,
    DataSummary,
    Details,
    Explanation,
    PrepareContext,
    Prepared,
    TaskSpec,
    TrainerChoice,
)

# Reached by the training section's keys, set from the task's own instead (one way to set each value).
TRL_RESERVED = {
    "max_length": "use data.max_seq_length",
    "dataset_text_field": "sft reads data.format",
    "dataset_kwargs": "llmkit tokenizes the rows itself",
    "chat_template_path": "use sft.chat_template",
    "model_init_kwargs": "llmkit loads the model (model: section)",
}

# TRL's configs turn activation checkpointing and bf16 on by default; llmkit's other tasks leave both off (CPU runs).
TRL_DEFAULTS = {"activation_checkpointing": False, "bf16": False}


class SftData(DataSection):
    """Data section of an instruction-tuning recipe."""

    format: Literal["auto", "conversations", "alpaca", "prompt_completion"] = Field(
        "auto",
        description="Row format: conversations (a list of {role, content} messages), alpaca (instruction, input, "
        "output) or prompt_completion; auto detects it from the columns.",
    )
    messages_column: str = Field("messages", description="Column holding the conversations.")
    max_seq_length: int = Field(512, gt=0, description="Longest tokenized example; longer ones are truncated.")


class SftOptions(Section):
    """``sft:`` options."""

    chat_template: str | None = Field(
        None,
        description=f"The chat template: a built-in name ({', '.join(BUILTIN_TEMPLATES)}: adds its special "
        "tokens) or a Jinja string; null: the tokenizer's own. Saved with the run.",
    )
    loss_on: Literal["assistant", "completion", "all"] = Field(
        "assistant",
        description="Tokens that carry the loss: every assistant turn, the last reply (completion) only, or all.",
    )
    packing: bool = Field(
        False,
        description="Pack examples into data.max_seq_length blocks (TRL's best-fit decreasing, padding-free: "
        "examples do not attend to each other).",
    )
    max_replies: int | None = Field(
        None, ge=0, description="Evaluation: generate replies for at most this many held-out prompts; null: all."
    )


def _format_of(ctx: PrepareContext, dataset: Any, split: str) -> str:
    data = ctx.recipe.data
    if data.format != "auto":
        return data.format
    found = detect_format(list(dataset.column_names), data.messages_column)
    if found is None:
        source = ctx.sources.get(split, split)
        raise DataError(
            f"{source}: cannot tell the sft format from columns {dataset.column_names}; expected "
            f"'{data.messages_column}' (conversations), instruction/output (alpaca) or prompt/completion"
        )
    return found


def prepare(ctx: PrepareContext) -> Prepared:
    """Render, tokenize and label every split; keep each held-out prompt and reply for generated evaluation."""
    from datasets import Dataset

    options, tokenizer = ctx.recipe.sft, ctx.tokenizer
    use_template(tokenizer, options.chat_template)
    limit = ctx.recipe.data.max_seq_length
    features, state, rows, truncated, dropped = {}, {}, {}, {}, {}
    for split, raw in ctx.raw.items():
        fmt = _format_of(ctx, raw, split)
        source = ctx.sources.get(split, split)
        dataset, positions, missing = _with_replies(ctx, raw, fmt, split)
        examples = [
            to_example(row, fmt, ctx.recipe.data.messages_column, f"{source} row {i + 1}")  # type: ignore[arg-type]
            for i, row in zip(positions, dataset, strict=True)
        ]
        _require_template(tokenizer, examples)
        columns: dict[str, list[Any]] = {"input_ids": [], "labels": []}
        kept: list[Example] = []
        truncated[split], dropped[split] = 0, missing
        for example in examples:
            ids, labels = encode(tokenizer, example, options.loss_on)
            truncated[split] += len(ids) > limit
            ids, labels = ids[:limit], labels[:limit]
            if all(label == lm_common.IGNORE_INDEX for label in labels):
                dropped[split] += 1  # nothing left to learn from (the reply was cut off)
                continue
            columns["input_ids"].append(ids)
            columns["labels"].append(labels)
            kept.append(example)
        if not kept:
            raise DataError(f"{source}: no example keeps a trained token within data.max_seq_length={limit}")
        features[split] = Dataset.from_dict(columns)
        rows[split] = len(kept)
        state[split] = [prompt_and_reference(tokenizer, example) for example in kept]
    summary = DataSummary(rows=rows, truncated=truncated, dropped=dropped)
    summary.extra["format"] = {split: _format_of(ctx, dataset, split) for split, dataset in ctx.raw.items()}
    return Prepared(features=features, state=state, summary=summary, model_kwargs=eos_kwargs(tokenizer))


def _with_replies(ctx: PrepareContext, dataset: Any, fmt: Any, split: str) -> tuple[Any, list[int], int]:
    """The split without rows that have no reply (warned and counted; ``--strict``: a data error), the kept
    rows' positions in the file (for messages) and how many were left out."""
    from llmkit.data.rows import Dropped, drop_rows, kept_positions

    dropped = Dropped()
    for i, row in enumerate(dataset):
        reason = missing_reply(row, fmt, ctx.recipe.data.messages_column)
        if reason is not None:
            dropped.add(reason, [i])
    kept, count = drop_rows(dataset, dropped, ctx.sources, split, ctx.strict)
    return kept, kept_positions(len(dataset), dropped), count


def _require_template(tokenizer: Any, examples: list[Example]) -> None:
    if any(example.messages is not None for example in examples) and not getattr(tokenizer, "chat_template", None):
        raise ConfigError(
            "sft.chat_template: the tokenizer has no chat template for these conversations; set "
            f"sft.chat_template: {next(iter(BUILTIN_TEMPLATES))} (or a Jinja string)"
        )


def eos_kwargs(tokenizer: Any) -> dict[str, Any]:
    """The model config follows the tokenizer's end-of-sequence token (a built-in template may change it)."""
    return {"eos_token_id": tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else {}


def collator(tokenizer: Any, recipe: Any, prepared: Prepared) -> Any:
    """None: SFTTrainer builds TRL's language-modelling collator (padding-free when packing)."""
    return None


def trainer_arguments(recipe: Any) -> dict[str, Any]:
    """SFTConfig values from the sft section: labels are llmkit's, packing and the length limit TRL's."""
    options = recipe.sft
    values: dict[str, Any] = {
        "packing": options.packing,
        # packing: TRL's block length; otherwise prepare has already cut every example to data.max_seq_length,
        # and TRL's own limit would only refuse training.padding_free (it cannot enforce it there)
        "max_length": recipe.data.max_seq_length if options.packing else None,
        "assistant_only_loss": False,  # the labels already say which tokens are trained
        "completion_only_loss": False,
    }
    if options.chat_template in BUILTIN_TEMPLATES:
        values["eos_token"] = BUILTIN_TEMPLATES[options.chat_template][2]  # TRL mirrors it onto the model's configs
    return values


def chat_source(recipe: Any, tokenizer: Any, text: str) -> str:
    """What `llmkit explain` feeds a chat model: the text as a user turn through the run's chat template, so
    the explained token is the first of the reply (a tokenizer without a template reads the text as given)."""
    if not getattr(tokenizer, "chat_template", None):
        return text
    messages = [{"role": "user", "content": text}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """No per-row details from the loss pass; the rows are the generated replies (``reply_eval``)."""
    return Details()


TASK = TaskSpec(
    name="sft",
    summary="Instruction tuning of a causal LM (chat, Alpaca or prompt/completion data) with TRL's SFTTrainer",
    commands=("finetune",),
    data_model=SftData,
    options_model=SftOptions,
    auto_model="AutoModelForCausalLM",
    key_metric="perplexity",
    greater_is_better=False,
    prepare=prepare,
    collator=collator,
    metrics=lm_common.metrics,
    details=details,
    predict=clm.predict,
    stream=clm.stream,
    preprocess_logits=lm_common.preprocess_logits(shift=True),
    training_defaults=TRL_DEFAULTS,
    pipeline_tag="text-generation",
    loss_kind="ForCausalLM",
    head_loss=lm_common.head_loss("ForCausalLM"),
    show_prediction=clm.show_prediction,
    generate_options=(*DECODING, "stop"),
    generated_tokens=clm.generated_tokens,
    explain=Explanation("next_token", source=chat_source),
    onnx_eval_gap="is scored through TRL's SFTTrainer, which needs the PyTorch model, not an ONNX graph",
    peft_task_type="CAUSAL_LM",
    trainer=TrainerChoice(
        trainer_class="trl.trainer.sft_trainer.SFTTrainer",
        arguments_class="trl.trainer.sft_config.SFTConfig",
        reserved={
            **TRL_RESERVED,
            "packing": "use sft.packing",
            "assistant_only_loss": "use sft.loss_on",
            "completion_only_loss": "use sft.loss_on",
        },
        arguments=trainer_arguments,
    ),
    reply_eval=sft_eval.reply_eval,
)
