"""Preference tuning of a causal LM (``dpo``) with TRL's ``DPOTrainer``.

Rows are ``prompt``, ``chosen``, ``rejected``: strings, or conversations (the prompt a list of messages, each
reply a list holding the assistant's message) rendered through the chat template. Training usually starts from
an ``sft`` run (``model.name_or_path: runs/sft``), whose tokenizer carries the template. TRL tokenizes the rows
(prompt, prompt + chosen, prompt + rejected), computes the DPO loss against the reference model and gathers the
``rewards/chosen``, ``rewards/rejected``, ``rewards/accuracies`` and ``rewards/margins`` llmkit reports per split.

The reference model is the starting model (a frozen copy taken before training), or ``dpo.ref_model``; with LoRA
it is the base with the adapter disabled, as TRL does.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from llmkit.config import DataSection, Section
from llmkit.errors import ConfigError, DataError
from llmkit.tasks import clm, sft
from llmkit.tasks.sft_format import BUILTIN_TEMPLATES, is_blank, use_template
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

COLUMNS = ("prompt", "chosen", "rejected")


class DpoData(DataSection):
    """Data section of a preference-tuning recipe: prompt, chosen and rejected columns."""

    max_seq_length: int = Field(512, gt=0, description="Longest prompt + reply in tokens (TRL's max_length).")


class DpoOptions(Section):
    """``dpo:`` options (any other DPOConfig field goes under ``training:``)."""

    beta: float = Field(0.1, gt=0, description="How far the policy may move from the reference (higher: less).")
    loss_type: str | list[str] = Field(
        "sigmoid", description="DPO loss: sigmoid (the paper's), hinge, ipo, robust, apo_zero, ... (TRL's names)."
    )
    ref_model: str | None = Field(
        None, description="Reference model (run directory, checkpoint or alias); null: the starting model."
    )
    chat_template: str | None = Field(
        None,
        description=f"Chat template for conversational rows: a built-in ({', '.join(BUILTIN_TEMPLATES)}) or Jinja; "
        "null: the tokenizer's own (an sft run's).",
    )


def _is_conversation(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(m, dict) and "role" in m for m in value)


def _without_empty_replies(ctx: PrepareContext, dataset: Any, split: str) -> tuple[Any, int]:
    """The split without rows whose chosen or rejected reply is null or empty, or whose prompt or replies are
    neither text nor messages (warned and counted; ``--strict``: a data error): a pair with nothing usable on one
    side teaches no preference."""
    from llmkit.data.rows import Dropped, drop_rows

    dropped = Dropped()
    for column in COLUMNS:
        values = dataset[column]
        if column != "prompt":
            dropped.add(f"no '{column}' reply", [i for i, value in enumerate(values) if is_blank(value)])
        odd = [i for i, value in enumerate(values) if isinstance(value, dict) or _mixed_list(value)]
        dropped.add(f"a '{column}' value that is neither text nor a list of messages", odd)
    return drop_rows(dataset, dropped, ctx.sources, split, ctx.strict)


def _mixed_list(value: Any) -> bool:
    """A list that is not a conversation (messages are objects with a role)."""
    return isinstance(value, list) and bool(value) and not _is_conversation(value)


def _check_rows(dataset: Any, source: str, tokenizer: Any) -> int:
    """Conversations need a chat template. Returns the rows with chosen == rejected."""
    same = 0
    for row in dataset:
        if _is_conversation(row["prompt"]) and not getattr(tokenizer, "chat_template", None):
            raise ConfigError(
                "dpo.chat_template: conversational rows need a chat template and the tokenizer has none; start "
                "from an sft run or set dpo.chat_template: chatml"
            )
        same += row["chosen"] == row["rejected"]
    return same


def prepare(ctx: PrepareContext) -> Prepared:
    """Keep the prompt/chosen/rejected columns; DPOTrainer tokenizes them (and evaluation prepares them alike)."""
    use_template(ctx.tokenizer, ctx.recipe.dpo.chat_template)
    features, rows, ties, dropped = {}, {}, {}, {}
    for split, dataset in ctx.raw.items():
        source = ctx.sources.get(split, split)
        missing = [column for column in COLUMNS if column not in dataset.column_names]
        if missing:
            raise DataError(f"{source}: dpo needs columns prompt, chosen, rejected; missing {', '.join(missing)}")
        dataset, dropped[split] = _without_empty_replies(ctx, dataset, split)
        ties[split] = _check_rows(dataset, source, ctx.tokenizer)
        features[split] = dataset.select_columns(list(COLUMNS))
        rows[split] = len(dataset)
    summary = DataSummary(rows=rows, dropped=dropped, extra={"same_reply": ties} if any(ties.values()) else {})
    return Prepared(features=features, summary=summary, model_kwargs=sft.eos_kwargs(ctx.tokenizer))


def collator(tokenizer: Any, recipe: Any, prepared: Prepared) -> Any:
    """None: DPOTrainer builds TRL's preference collator (prompt + chosen and prompt + rejected in one batch)."""
    return None


def metrics(recipe: Any, prepared: Prepared, split: str) -> None:
    """None: the loss pass alone; TRL gathers the rewards/* metrics itself."""
    return None


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """No per-example rows: DPO scores pairs in aggregate."""
    return Details()


def trainer_arguments(recipe: Any) -> dict[str, Any]:
    """DPOConfig values from the dpo and data sections."""
    options = recipe.dpo
    values: dict[str, Any] = {"beta": options.beta, "loss_type": options.loss_type}
    values["max_length"] = recipe.data.max_seq_length
    return values


def trainer_kwargs(recipe: Any, model: Any, tokenizer: Any) -> dict[str, Any]:
    """The reference model: ``dpo.ref_model``, or a frozen copy of the starting model; None with LoRA (TRL then
    disables the adapter to score the reference), which costs no second copy.

    TRL would otherwise reload the reference from ``model.config._name_or_path``, which for llmkit's built-in
    aliases (weights made from a seed, no files) names nothing it can load.
    """
    import copy

    if recipe.dpo.ref_model is not None:
        from llmkit.config import ModelSection
        from llmkit.models import load_config, load_model

        section = ModelSection(name_or_path=recipe.dpo.ref_model)
        reference = load_model(section, "AutoModelForCausalLM", load_config(section, tokenizer))
    elif hasattr(model, "peft_config"):
        return {}
    else:
        reference = copy.deepcopy(model)
    reference.eval().requires_grad_(False)
    return {"ref_model": reference}


def drop_zero_reference_adapter(trainer: Any) -> None:
    """Keep the reference of a new LoRA adapter as "the base without the adapter".

    Given a PEFT model and no reference, TRL 1.16 adds a frozen "ref" copy of the adapter and scores the reference
    with it. A new llmkit adapter starts with every ``lora_B`` at zero, so that copy computes exactly the base
    model, which TRL uses when no "ref" adapter exists (it then disables the adapters); dropping the copy keeps a
    second adapter out of memory and out of every checkpoint (``ref/``). An adapter that continues a trained one
    (its B not zero) keeps its copy: its reference is the starting adapter.
    """
    model = trainer.model
    config = getattr(model, "peft_config", None)
    if not isinstance(config, dict) or "ref" not in config:
        return
    weights = [p for name, p in model.named_parameters() if ".ref." in name and "lora_B" in name]
    if weights and all(not bool(p.detach().any()) for p in weights):
        model.delete_adapter("ref")


def finished_run(recipe: Any) -> dict[str, Any]:
    """A finished run is scored against the reference it trained against: its starting model, not itself."""
    start = recipe.dpo.ref_model or recipe.model.name_or_path
    return {"dpo.ref_model": str(start)} if start is not None else {}


TASK = TaskSpec(
    name="dpo",
    summary="Preference tuning of a causal LM (prompt, chosen, rejected) with TRL's DPOTrainer",
    commands=("finetune",),
    data_model=DpoData,
    options_model=DpoOptions,
    auto_model="AutoModelForCausalLM",
    key_metric="rewards/margins",
    greater_is_better=True,
    prepare=prepare,
    collator=collator,
    metrics=metrics,
    details=details,
    predict=clm.predict,
    stream=clm.stream,
    training_defaults=sft.TRL_DEFAULTS,
    pipeline_tag="text-generation",
    show_prediction=clm.show_prediction,
    generate_options=(*DECODING, "stop"),
    generated_tokens=clm.generated_tokens,
    explain=Explanation("next_token", source=sft.chat_source),
    onnx_eval_gap="is scored through TRL's DPOTrainer against a reference model, which needs the PyTorch model",
    peft_task_type="CAUSAL_LM",
    finished_run=finished_run,
    trainer=TrainerChoice(
        trainer_class="trl.trainer.dpo_trainer.DPOTrainer",
        arguments_class="trl.trainer.dpo_config.DPOConfig",
        reserved={
            "beta": "use dpo.beta",
            "loss_type": "use dpo.loss_type",
            "max_length": "use data.max_seq_length",
            "model_init_kwargs": "llmkit loads the model (model: section)",
        },
        arguments=trainer_arguments,
        kwargs=trainer_kwargs,
        prepares_data=True,
        ready=drop_zero_reference_adapter,
    ),
)
