"""What a task module declares: one frozen ``TaskSpec`` of data and a few functions.

Task modules are imported when a recipe is validated, so they must stay light: name heavy classes
by string and import torch/transformers inside functions only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pydantic import BaseModel

    from llmkit.config import Recipe


# The decoding options of `llmkit generate` that models which generate text read (llmkit's names).
DECODING = (
    "max_new_tokens",
    "do_sample",
    "temperature",
    "top_k",
    "top_p",
    "repetition_penalty",
    "num_beams",
    "num_return_sequences",
    "seed",
)
NO_ANSWER = "(no answer)"  # how an empty prediction (a v2 QA question without answer) is shown


@dataclass(frozen=True)
class Distillation:
    """How a task's head is distilled (``distill:``): the logit layout the loss and the teacher check need.

    Attributes:
        shift_labels: position t predicts label t+1, as causal LM heads compute their loss.
        match: what teacher and student must share: ``"labels"`` (same ``num_labels``) or ``"vocabulary"``
            (output embeddings of the same size: the same tokenizer).
    """

    shift_labels: bool
    match: Literal["labels", "vocabulary"]


@dataclass(frozen=True)
class Explanation:
    """Which output of a task's head `llmkit explain` attributes to the input tokens (``explain:``).

    Attributes:
        target: ``sequence_label`` (the label of the whole input), ``token_label`` (the tag of one chosen word),
            ``span`` (the start and the end of the answer span in a question + context pair), ``masked_token``
            (the token predicted at the first mask), ``next_token`` (the token after the prompt) or
            ``generated_tokens`` (each token an encoder-decoder model generates from its source).
        source: source(recipe or None, text) -> the text the model reads (a seq2seq task's ``source_prefix``);
            None: the prompt as given.
    """

    target: Literal["sequence_label", "token_label", "span", "masked_token", "next_token", "generated_tokens"]
    source: Callable[[Any, str], str] | None = None


@dataclass(frozen=True)
class Shown:
    """One `llmkit generate` result as the terminal shows it (the UI adds colours and escaping).

    Attributes:
        source: the input the result belongs to (text, question).
        result: the prediction as text.
        score: shown after the result as ``(0.912)`` when not None.
        continuation: the result continues the source (a causal LM's text): shown right after it, no arrow.
    """

    source: str
    result: str
    score: float | None = None
    continuation: bool = False


def shown_label(value: Any) -> str:
    """A prediction as text; an empty one reads "(no answer)" rather than nothing."""
    return NO_ANSWER if value == "" else str(value)


def show_text_prediction(row: dict[str, Any]) -> Shown:
    """The default display of a result row: its ``text`` -> its ``prediction``."""
    return Shown(str(row.get("text", "")), shown_label(row.get("prediction")))


@dataclass(frozen=True)
class TrainerChoice:
    """A task that trains with another ``Trainer`` subclass and arguments class than transformers' own (TRL's).

    Both classes are named by dotted path and imported by the runner only; the ``training:`` section accepts
    the fields of ``arguments_class``, read from its installed source (``llmkit.config.training``).

    Attributes:
        trainer_class: ``module.Class`` of the trainer (``trl.trainer.sft_trainer.SFTTrainer``).
        arguments_class: ``module.Class`` of its ``TrainingArguments`` subclass (``trl.trainer.sft_config.SFTConfig``).
        reserved: arguments fields the task sets from another recipe key -> how the user sets them instead.
        arguments: arguments(recipe) -> values for the arguments class taken from the task's own sections.
        kwargs: kwargs(recipe, model, tokenizer) -> extra constructor arguments (DPO's reference model).
        prepares_data: the trainer tokenizes raw rows itself (DPOTrainer); evaluation prepares a split the same way.
        ready: ready(trainer) -> None, called once the trainer is built (DPO drops a redundant reference adapter).
    """

    trainer_class: str
    arguments_class: str
    reserved: dict[str, str] = field(default_factory=dict)
    arguments: Callable[[Any], dict[str, Any]] | None = None
    kwargs: Callable[[Any, Any, Any], dict[str, Any]] | None = None
    prepares_data: bool = False
    ready: Callable[[Any], None] | None = None


@dataclass
class DataSummary:
    """What ``prepare`` made of the data, per split: the run report's and ``metrics.json``'s ``data``.

    A field left None is a fact the task does not count, and is absent from ``to_json()``.

    Attributes:
        rows: examples (lm: blocks) kept per split.
        truncated: examples cut at the length limit per split.
        dropped: unusable rows left out per split.
        problems: bad rows per split (``rows``, ``counts``, ``examples``), when some were found.
        labels: the label names of a classification head.
        rows_read: rows read per split before any was left out (set by the train layer).
        sources: split -> where it was read from (set by the train layer).
        extra: task-only facts, written as top-level keys (translation ``kind``, ``overlong``; lm ``tokens``,
            ``dropped_tokens``, ``block_size``; qa ``windows``).
    """

    rows: dict[str, int] = field(default_factory=dict)
    truncated: dict[str, int] | None = None
    dropped: dict[str, int] | None = None
    problems: dict[str, dict[str, Any]] | None = None
    labels: list[str] | None = None
    rows_read: dict[str, int] | None = None
    sources: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The summary as ``metrics.json`` stores it: the set fields and the extra facts as keys of one object."""
        typed = {key: getattr(self, key) for key in SUMMARY_FIELDS if key != "extra"}
        facts = {key: value for key, value in typed.items() if value is not None}
        return {**facts, **self.extra}


@dataclass
class Prepared:
    """Features ready for ``Trainer`` plus whatever the task's metrics need later.

    Attributes:
        features: split name -> tokenized ``datasets.Dataset``.
        model_kwargs: extra ``from_pretrained``/config arguments (``num_labels``, ``id2label``...).
        state: task-private values shared by ``metrics``, ``details`` and ``predict`` (label names, raw examples).
        summary: data counts for the run report (rows read, dropped, truncated per split).
    """

    features: dict[str, Any]
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    summary: DataSummary = field(default_factory=DataSummary)


SUMMARY_FIELDS = tuple(f.name for f in fields(DataSummary))


@dataclass
class Details:
    """Per-example predictions and extra tables from one evaluated split."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(frozen=True)
class PrepareContext:
    """Everything ``TaskSpec.prepare`` may look at."""

    recipe: Recipe
    raw: dict[str, Any]  # split name -> datasets.Dataset of raw rows
    tokenizer: Any
    model_config: Any | None  # config of the checkpoint when one exists (labels it was trained with)
    training: bool  # False for `llmkit eval`: labels come from the model, not the train split
    sources: dict[str, str] = field(default_factory=dict)  # split -> "data.train_file (path)" for messages
    main_process_first: Callable[[], Any] | None = None  # context manager factory for multi-process runs
    strict: bool = False  # --strict: rows that would be dropped or truncated are a data error instead


@dataclass(frozen=True)
class TaskSpec:
    """One task: its recipe sections, its model class and the functions the runner calls."""

    name: str  # the recipe's `task:` value (a key of llmkit.tasks.TASKS)
    summary: str  # one line for `llmkit recipes` and --help
    commands: tuple[str, ...]  # the commands that train it: ("finetune",) or ("pretrain",)
    data_model: type[BaseModel]  # the recipe's `data:` section (a DataSection subclass)
    options_model: type[BaseModel] | None  # the task's own recipe section, named after the task; None: none
    auto_model: str  # name of the transformers Auto class, resolved lazily
    key_metric: str  # the metric `llmkit runs` shows and early stopping watches by default
    greater_is_better: bool  # direction of key_metric
    # prepare(ctx) -> Prepared: raw splits -> tokenized features, model kwargs, task state and the data summary.
    prepare: Callable[[PrepareContext], Prepared]
    # collator(tokenizer, recipe, prepared) -> Trainer's data_collator.
    collator: Callable[[Any, Recipe, Prepared], Any]
    # metrics(recipe, prepared, split) -> Trainer's compute_metrics for that split, or None for loss only.
    metrics: Callable[[Recipe, Prepared, str], Callable[[Any], dict[str, float]] | None]
    # details(recipe, prepared, split, prediction_output) -> per-example rows and extra tables of a split.
    details: Callable[[Recipe, Prepared, str, Any], Details]
    # predict(model, tokenizer, inputs, recipe=Recipe | None, options=dict) -> one result dict per input.
    # inputs are dicts built by `llmkit generate` ({"text": ...}, or {"question": ..., "context": ...});
    # options holds the decoding flags the user set (max_new_tokens, num_beams, ...), CLI over recipe.
    predict: Callable[..., list[dict[str, Any]]]
    # stream(model, tokenizer, prompt, options) -> iterator of text pieces; tasks whose output grows token by
    # token (causal LMs) set it so `llmkit generate` can show the text as it is produced.
    stream: Callable[..., Any] | None = None
    architectures: tuple[str, ...] = ()  # class-name suffixes that identify this task's checkpoints
    seq2seq: bool = False  # trains with Seq2SeqTrainer and evaluates by generating
    # preprocess_logits(recipe) -> Trainer's preprocess_logits_for_metrics (shrinks logits on the device), or None.
    preprocess_logits: Callable[[Recipe], Callable[[Any, Any], Any] | None] | None = None
    training_defaults: dict[str, Any] = field(default_factory=dict)  # `training:` values this task needs by default
    # load_model(section, config, recipe=Recipe | None, tokenizer=...) -> model, for tasks whose model class
    # depends on the checkpoint (translation: seq2seq, warm-started encoder-decoder or decoder-only).
    load_model: Callable[..., Any] | None = None
    # raw_rows(dataset, recipe, source) -> dataset: reshape rows right after loading, before sample limits and
    # the validation split (e.g. a nested SQuAD JSON file -> one row per question).
    raw_rows: Callable[[Any, Recipe, str], Any] | None = None

    # --- What the layers above ask of a task (export, distillation, `llmkit generate`, PEFT, tokenizer training).
    # The model card's ``pipeline_tag`` (the Hub's widget), or None to write none.
    pipeline_tag: str | None = None
    # The arguments of the ``transformers.pipeline(pipeline_tag)`` call in the model card's usage snippet (Python
    # source, e.g. ``'"a small furry animal"'``); None: the snippet loads the model and tokenizer only (also where
    # transformers has no pipeline for the head: v5 removed question-answering).
    pipeline_example: str | None = None
    # Whether the report draws a confusion matrix from ``details`` rows (``prediction`` against ``reference``, one
    # label each): single-label classification heads.
    confusion_matrix: bool = False
    # Second text of the sample inputs export checks and times graphs with (QA: the context of the questions);
    # None feeds the sample texts alone.
    sample_context: str | None = None
    # sample_inputs(tokenizer, texts) -> the padded batch (torch tensors) export checks and times graphs with, for
    # heads whose inputs are not (batch, sequence) (multiple choice: (batch, choices, sequence)); None: the texts,
    # paired with ``sample_context`` when set.
    sample_inputs: Callable[[Any, tuple[str, ...]], dict[str, Any]] | None = None
    # Names of the model outputs that carry logits: what an exported graph must return and export compares.
    logit_outputs: tuple[str, ...] = ("logits",)
    # The ``transformers.loss.loss_utils.LOSS_MAPPING`` key of the head's usual loss. Export scores an ONNX graph
    # with ``head_loss`` only when the model's ``loss_function`` is that entry; None: no standard head loss.
    loss_kind: str | None = None
    # head_loss(logits, batch, config) -> the head's loss tensor from logits given by name (``logit_outputs``),
    # for evaluating an ONNX graph through Trainer; None when the batch carries no labels.
    head_loss: Callable[[dict[str, Any], dict[str, Any], Any], Any] | None = None
    # Why this task's validation metric cannot be scored through ONNX Runtime (export prefixes "task NAME "),
    # or None when it can.
    onnx_eval_gap: str | None = None
    # How `distill:` applies to this task's head; None: distillation is not supported.
    distill: Distillation | None = None
    # Which output `llmkit explain` attributes to the input; None: explaining is not supported.
    explain: Explanation | None = None
    # show_prediction(row) -> Shown: how `llmkit generate` prints one row of ``predict`` (without --json).
    show_prediction: Callable[[dict[str, Any]], Shown] = show_text_prediction
    # Keys of ``details`` rows left out of the terminal's sample table (still in predictions files).
    hidden_columns: tuple[str, ...] = ()
    # The `llmkit generate` options this task's model reads; the others are named in a warning and ignored.
    generate_options: tuple[str, ...] = ()
    # The fields every `llmkit generate` input must carry; a task whose predict checks its inputs itself names
    # other fields (QA: question and context) and the CLI leaves the check to it.
    input_fields: tuple[str, ...] = ("text",)
    # generated_tokens(rows) -> tokens generated over ``predict``'s rows, for the tokens/s line; None: not counted.
    generated_tokens: Callable[[list[dict[str, Any]]], int] | None = None
    # PEFT's ``task_type`` for this head (it decides the wrapper's forward and generate); None: PEFT's default.
    peft_task_type: str | None = None
    # Another Trainer and arguments class than transformers' (TRL's SFTTrainer/SFTConfig); None: Trainer.
    trainer: TrainerChoice | None = None
    # finished_run(recipe) -> dotted recipe changes for scoring a finished run of this task, read from the recipe it
    # trained with before its model is swapped for the run's (dpo: the reference stays the run's starting model).
    finished_run: Callable[[Any], dict[str, Any]] | None = None
    # reply_eval(model, tokenizer, recipe, prepared, split) -> (metrics, Details): scores the split's replies the
    # model generates (sft: one per held-out prompt) after the loss pass; its rows feed `eval --predictions`.
    reply_eval: Callable[..., tuple[dict[str, float], Details]] | None = None
    # The data-section field that names the column of raw text a new tokenizer is trained on
    # (``tokenizer.train``); None: the task has no such field and the column is "text".
    corpus_column: str | None = None
