"""The one input sequence of every command: data -> tokenizer -> model config -> the task's features.

``train``, ``evaluate`` and ``validate`` all call ``load_inputs``; they differ only in which splits they
read and where the tokenizer comes from, so an input error surfaces the same way (and with the same
exit code) whichever command meets it first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llmkit.config import Recipe, updated
from llmkit.data import RawData, load_raw, require_columns, require_training_data
from llmkit.errors import DataError, ModelError, UsageError
from llmkit.models import is_run_directory, load_config, load_tokenizer, train_tokenizer_for
from llmkit.recipe import load_recipe
from llmkit.tasks import get_task
from llmkit.tasks.spec import PrepareContext, Prepared, TaskSpec
from llmkit.train.rundir import RECIPE_FILE

Mode = Literal["train", "eval", "validate"]


@dataclass
class Inputs:
    """What a command has read and built before any model exists."""

    raw: RawData
    tokenizer: Any
    model_config: Any
    prepared: Prepared


def load_inputs(
    recipe: Recipe,
    mode: Mode,
    *,
    args: Any = None,
    resume_point: Any = None,
    split: str | None = None,
    data_file: str | None = None,
    strict: bool = False,
) -> Inputs:
    """Read the data, get the tokenizer, load the model config and run the task's ``prepare``.

    ``train`` and ``validate`` read every split (seeded by ``args.seed``) and may train a tokenizer;
    a resumed run reuses the tokenizer saved in ``resume_point``. ``eval`` reads ``split`` only (from
    ``data_file`` when given) and uses the model's own tokenizer.
    """
    task = get_task(recipe.task)
    if mode == "eval":
        raw = _eval_data(recipe, task, split or "validation", data_file)
        tokenizer = load_tokenizer(recipe.model)
    else:
        raw = load_raw(recipe.data, seed=args.seed, reshape=_reshaper(task, recipe))
        require_training_data(raw)
        tokenizer = _training_tokenizer(recipe, raw, resume_point)
    model_config = load_config(recipe.model, tokenizer)
    prepared = prepare_task(
        recipe,
        raw,
        tokenizer,
        model_config,
        training=mode != "eval",
        args=args if mode == "train" else None,  # only a real run shares the work across processes
        strict=strict,
    )
    check_truncation(prepared, strict)
    return Inputs(raw, tokenizer, model_config, prepared)


def _eval_data(recipe: Recipe, task: TaskSpec, split: str, data_file: str | None) -> RawData:
    overrides_files = {split: data_file} if data_file else None
    raw = load_raw(recipe.data, splits=(split,), override_files=overrides_files, reshape=_reshaper(task, recipe))
    if split not in raw.splits:
        field_name = {"validation": "validation_file", "test": "test_file"}.get(split, f"{split}_file")
        raise UsageError(f"--split: the recipe has no '{split}' data (data.{field_name}); pass --data FILE")
    return raw


def _training_tokenizer(recipe: Recipe, raw: RawData, resume_point: Any) -> Any:
    if resume_point is not None and recipe.tokenizer.train is not None:
        # The checkpoint holds the tokenizer the run trained: reuse it rather than train again (WordPiece
        # training breaks ties between equal counts differently from one training to the next).
        return load_tokenizer(recipe.model.model_copy(update={"tokenizer_name_or_path": str(resume_point.path)}))
    return train_tokenizer_for(recipe, training_texts(recipe, raw)) or load_tokenizer(recipe.model)


def _main_process_first(args: Any) -> Any:
    def factory() -> Any:
        return args.main_process_first(desc="dataset preparation")

    return factory


def _reshaper(task: TaskSpec, recipe: Recipe) -> Any:
    """The task's ``raw_rows`` hook bound to the recipe, for ``load_raw``."""
    if task.raw_rows is None:
        return None
    return lambda dataset, source: task.raw_rows(dataset, recipe, source)


def prepare_task(
    recipe: Recipe,
    raw: RawData,
    tokenizer: Any,
    model_config: Any,
    training: bool,
    args: Any = None,
    strict: bool = False,
) -> Prepared:
    """Run the task's ``prepare`` with everything it may need."""
    task = get_task(recipe.task)
    ctx = PrepareContext(
        recipe=recipe,
        raw=raw.splits,
        tokenizer=tokenizer,
        model_config=model_config,
        training=training,
        sources=raw.sources,
        main_process_first=_main_process_first(args) if args is not None else None,
        strict=strict,
    )
    prepared = task.prepare(ctx)
    if prepared.summary.rows_read is None:
        prepared.summary.rows_read = raw.rows_read
    if prepared.summary.sources is None:
        prepared.summary.sources = raw.sources
    return prepared


def training_texts(recipe: Recipe, raw: RawData) -> Any:
    """The training split's raw text (the column the task's ``corpus_column`` field names), for ``tokenizer.train``."""
    if recipe.tokenizer.train is None:
        return None
    field_name = get_task(recipe.task).corpus_column
    column = getattr(recipe.data, field_name) if field_name else "text"
    train = raw.splits["train"]
    require_columns(train, {field_name or "text_column": column}, raw.sources.get("train", "train"))
    return (text for text in train[column] if text)


def check_truncation(prepared: Prepared, strict: bool) -> None:
    """With --strict, truncated inputs are a data error instead of a count in the summary."""
    truncated = {split: n for split, n in (prepared.summary.truncated or {}).items() if n}
    if strict and truncated:
        listed = ", ".join(f"{n} in {split}" for split, n in truncated.items())
        raise DataError(f"data.max_seq_length: {listed} input(s) are longer and would be truncated (--strict)")


def resolve_target(target: str, overrides: list[str]) -> Recipe:
    """A run directory or a recipe -> the recipe, pointing at the model to evaluate."""
    path = Path(target)
    if path.is_dir():
        if not is_run_directory(path):
            raise ModelError(f"{target}: not an llmkit run directory (expected {RECIPE_FILE} and config.json)")
        loaded = load_recipe(path / RECIPE_FILE, overrides)
        finished = get_task(loaded.recipe.task).finished_run
        return updated(loaded.recipe, {**(finished(loaded.recipe) if finished else {}), **from_run_dir(path)})
    return load_recipe(target, overrides).recipe


def from_run_dir(path: Path) -> dict[str, Any]:
    """Recipe changes that load a finished run's own model and tokenizer (not build or train new ones)."""
    return {
        "model.name_or_path": str(path.resolve()),
        "model.tokenizer_name_or_path": None,
        "model.config": None,
        "tokenizer.train": None,
    }
