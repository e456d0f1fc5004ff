"""The Trainer for a task (collator, metrics, callbacks) and scoring one split with it."""

from __future__ import annotations

from typing import Any

from llmkit.config import Recipe
from llmkit.errors import ConfigError
from llmkit.tasks.spec import Details, Prepared, TaskSpec
from llmkit.train import trainer_api
from llmkit.train.arguments import import_class
from llmkit.train.results import SplitResult


def trainer_class(task: TaskSpec, model: Any, trainer_wrapper: Any = None) -> type:
    """Trainer, Seq2SeqTrainer or the task's own (TRL's), wrapped (committing checkpoints); seq2seq tasks evaluate
    by generating."""
    import transformers

    trainer_cls = transformers.Seq2SeqTrainer if task.seq2seq else transformers.Trainer
    if task.trainer is not None:
        trainer_cls = import_class(task.trainer.trainer_class, task.name)
    if trainer_wrapper is not None:
        trainer_cls = trainer_wrapper(trainer_cls)
    if task.seq2seq:  # the mixin first in the MRO, so that its prediction_step overrides the trainer's
        mixin = trainer_api.generation_eval(model)
        trainer_cls = type(f"{mixin.__name__}{trainer_cls.__name__}", (mixin, trainer_cls), {})
    return trainer_cls


def build_trainer(
    recipe: Recipe,
    task: TaskSpec,
    model: Any,
    tokenizer: Any,
    args: Any,
    prepared: Prepared,
    eval_split: str | None,
    callbacks: list[Any],
    trainer_wrapper: Any = None,
    compute_loss_func: Any = None,
) -> Any:
    """The Trainer (or Seq2SeqTrainer) for a task, with its collator, metrics and callbacks."""
    import transformers

    trainer_cls = trainer_class(task, model, trainer_wrapper)
    callbacks = list(callbacks)
    if recipe.eval.early_stopping_patience and eval_split:
        callbacks.append(
            transformers.EarlyStoppingCallback(
                early_stopping_patience=recipe.eval.early_stopping_patience,
                early_stopping_threshold=recipe.eval.early_stopping_threshold,
            )
        )
    preprocess = task.preprocess_logits(recipe) if task.preprocess_logits else None
    kwargs = {
        "model": model,
        "args": args,
        "data_collator": task.collator(tokenizer, recipe, prepared),
        "train_dataset": _train_dataset(task, prepared, eval_split),
        "eval_dataset": prepared.features.get(eval_split) if eval_split else None,
        "processing_class": tokenizer,
        "compute_metrics": task.metrics(recipe, prepared, eval_split) if eval_split else None,
        "callbacks": callbacks,
        "preprocess_logits_for_metrics": preprocess,
        "compute_loss_func": compute_loss_func,
    }
    if task.trainer is not None and task.trainer.kwargs is not None:
        kwargs.update(task.trainer.kwargs(recipe, model, tokenizer))
    trainer = trainer_cls(**accepted_kwargs(trainer_cls, kwargs, task))
    if task.trainer is not None:
        trainer_api.skip_model_card(trainer)
        if task.trainer.ready is not None:
            task.trainer.ready(trainer)
    if isinstance(trainer.data_collator, transformers.TrainerCallback):  # a collator that needs the epoch
        trainer.add_callback(trainer.data_collator)
    trainer_api.evaluate_in_order(trainer)

    # llmkit draws its own progress display; Trainer's printer would repeat every log as a dict.
    trainer.remove_callback(transformers.PrinterCallback)
    trainer.remove_callback(transformers.trainer_callback.ProgressCallback)
    return trainer


def _train_dataset(task: TaskSpec, prepared: Prepared, eval_split: str | None) -> Any:
    """The training split; TRL's trainers refuse to be built without one, so `llmkit eval` hands them the split
    it scores (never trained on)."""
    found = prepared.features.get("train")
    if found is None and task.trainer is not None and eval_split:
        return prepared.features.get(eval_split)
    return found


def accepted_kwargs(trainer_cls: type, kwargs: dict[str, Any], task: TaskSpec) -> dict[str, Any]:
    """The constructor arguments ``trainer_cls`` takes (DPOTrainer has no ``compute_loss_func``); a set one it
    does not take is a recipe problem, not a silent drop."""
    import inspect

    accepted = inspect.signature(trainer_cls.__init__).parameters
    refused = [key for key, value in kwargs.items() if key not in accepted and value is not None]
    if "compute_loss_func" in refused:
        raise ConfigError(f"distill: task '{task.name}' trains with {trainer_cls.__name__}, which has no loss hook")
    if refused:
        raise ConfigError(f"task: '{task.name}' trains with {trainer_cls.__name__}, which takes no {refused[0]}")
    return {key: value for key, value in kwargs.items() if key in accepted}


def distill_loss(recipe: Recipe, task: TaskSpec, model: Any) -> Any:
    """Trainer's ``compute_loss_func`` for a recipe with a ``distill:`` section, else None."""
    if recipe.distill is None:
        return None
    from llmkit.train.distill import build_loss

    return build_loss(recipe, task, model)


def evaluate_split(trainer: Any, recipe: Recipe, task: TaskSpec, prepared: Prepared, split: str) -> SplitResult:
    """Predict one split and turn the output into plain metrics, tables and per-example rows."""
    trainer.compute_metrics = task.metrics(recipe, prepared, split)
    dataset = prepared.features[split]
    if task.trainer is not None and task.trainer.prepares_data:
        dataset = trainer_api.trainer_prepared(trainer, dataset, split)
    trainer_api.logged_metrics(trainer)  # forget what training left behind
    output = trainer.predict(dataset, metric_key_prefix=split)
    metrics = {
        key.removeprefix(f"{split}_"): float(value)
        for key, value in (output.metrics or {}).items()
        if isinstance(value, int | float) and not key.endswith("model_preparation_time")
    }
    metrics.update(trainer_api.logged_metrics(trainer))  # TRL's own (DPO's rewards/*, SFT's mean_token_accuracy)
    found = task.details(recipe, prepared, split, output)
    if task.reply_eval is not None:
        scores, replies = task.reply_eval(trainer.model, trainer.processing_class, recipe, prepared, split)
        metrics.update(scores)
        found = Details(rows=replies.rows or found.rows, tables={**found.tables, **replies.tables})
    return SplitResult(metrics=metrics, tables=found.tables, rows=found.rows)
