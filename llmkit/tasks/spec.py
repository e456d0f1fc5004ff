"""What a task module declares: one frozen ``TaskSpec`` of data and a few functions.

Task modules are imported when a recipe is validated, so they must stay light: name heavy classes
by string and import torch/transformers inside functions only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from llmkit.config import Recipe


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
    summary: dict[str, Any] = field(default_factory=dict)


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

    name: str
    summary: str
    commands: tuple[str, ...]
    data_model: type[BaseModel]
    options_model: type[BaseModel] | None
    auto_model: str  # name of the transformers Auto class, resolved lazily
    key_metric: str  # the metric `llmkit runs` shows and early stopping watches by default
    greater_is_better: bool
    prepare: Callable[[PrepareContext], Prepared]
    collator: Callable[[Any, Recipe, Prepared], Any]
    metrics: Callable[[Recipe, Prepared, str], Callable[[Any], dict[str, float]] | None]
    details: Callable[[Recipe, Prepared, str, Any], Details]
    # predict(model, tokenizer, inputs, recipe=Recipe | None, options=dict) -> one result dict per input.
    # inputs are dicts built by `llmkit generate` ({"text": ...}, or {"question": ..., "context": ...});
    # options holds the decoding flags the user set (max_new_tokens, num_beams, ...), CLI over recipe.
    predict: Callable[..., list[dict[str, Any]]]
    # stream(model, tokenizer, prompt, options) -> iterator of text pieces; tasks whose output grows token by
    # token (causal LMs) set it so `llmkit generate` can show the text as it is produced.
    stream: Callable[..., Any] | None = None
    architectures: tuple[str, ...] = ()  # class-name suffixes that identify this task's checkpoints
    seq2seq: bool = False
    preprocess_logits: Callable[[Recipe], Callable[[Any, Any], Any] | None] | None = None
    training_defaults: dict[str, Any] = field(default_factory=dict)
    # load_model(section, config, recipe=Recipe | None, tokenizer=...) -> model, for tasks whose model class
    # depends on the checkpoint (translation: seq2seq, warm-started encoder-decoder or decoder-only).
    load_model: Callable[..., Any] | None = None
    # trainer_mixin(recipe, model) -> a class put before the Trainer class, for what neither a callback nor a
    # closure can do (translation: generate from the source alone). Keep these rare.
    trainer_mixin: Callable[[Recipe, Any], type | None] | None = None
    # raw_rows(dataset, recipe, source) -> dataset: reshape rows right after loading, before sample limits and
    # the validation split (e.g. a nested SQuAD JSON file -> one row per question).
    raw_rows: Callable[[Any, Recipe, str], Any] | None = None
