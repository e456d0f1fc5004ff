"""The Trainer for a task (collator, metrics, callbacks) and scoring one split with it."""

from __future__ import annotations

from typing import Any

from llmkit.config import Recipe
from llmkit.tasks.spec import Prepared, TaskSpec
from llmkit.train import trainer_api
from llmkit.train.results import SplitResult


def trainer_class(task: TaskSpec, model: Any, trainer_wrapper: Any = None) -> type:
    """Trainer or Seq2SeqTrainer, wrapped (committing checkpoints); seq2seq tasks evaluate by generating."""
    import transformers

    trainer_cls = transformers.Seq2SeqTrainer if task.seq2seq else transformers.Trainer
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
    trainer = trainer_cls(
        model=model,
        args=args,
        data_collator=task.collator(tokenizer, recipe, prepared),
        train_dataset=prepared.features.get("train"),
        eval_dataset=prepared.features.get(eval_split) if eval_split else None,
        processing_class=tokenizer,
        compute_metrics=task.metrics(recipe, prepared, eval_split) if eval_split else None,
        callbacks=callbacks,
        preprocess_logits_for_metrics=preprocess,
        compute_loss_func=compute_loss_func,
    )
    if isinstance(trainer.data_collator, transformers.TrainerCallback):  # a collator that needs the epoch
        trainer.add_callback(trainer.data_collator)
    trainer_api.evaluate_in_order(trainer)

    # llmkit draws its own progress display; Trainer's printer would repeat every log as a dict.
    trainer.remove_callback(transformers.PrinterCallback)
    trainer.remove_callback(transformers.trainer_callback.ProgressCallback)
    return trainer


def distill_loss(recipe: Recipe, task: TaskSpec, model: Any) -> Any:
    """Trainer's ``compute_loss_func`` for a recipe with a ``distill:`` section, else None."""
    if recipe.distill is None:
        return None
    from llmkit.train.distill import build_loss

    return build_loss(recipe, task, model)


def evaluate_split(trainer: Any, recipe: Recipe, task: TaskSpec, prepared: Prepared, split: str) -> SplitResult:
    """Predict one split and turn the output into plain metrics, tables and per-example rows."""
    trainer.compute_metrics = task.metrics(recipe, prepared, split)
    output = trainer.predict(prepared.features[split], metric_key_prefix=split)
    metrics = {
        key.removeprefix(f"{split}_"): float(value)
        for key, value in (output.metrics or {}).items()
        if isinstance(value, int | float) and not key.endswith("model_preparation_time")
    }
    found = task.details(recipe, prepared, split, output)
    return SplitResult(metrics=metrics, tables=found.tables, rows=found.rows)
