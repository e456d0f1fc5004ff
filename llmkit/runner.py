"""The one place that builds tokenizer, model, datasets, TrainingArguments and Trainer.

``train`` runs pretrain/finetune and writes the run directory; ``evaluate`` scores a run or a recipe
on a split; ``load_for_inference`` feeds `llmkit generate`. Task-specific work is delegated to the
task's spec; nothing here prints (the CLI renders the returned results).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmkit import __version__
from llmkit.config import LoadedRecipe, Recipe, load_recipe, load_saved_recipe, recipe_to_yaml, updated
from llmkit.data import RawData, load_raw, require_training_data
from llmkit.errors import ConfigError, LlmkitError, ModelError, UsageError
from llmkit.models import is_run_directory, load_config, load_model, load_tokenizer
from llmkit.tasks import get_task
from llmkit.tasks.spec import PrepareContext, Prepared, TaskSpec

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.json"


@dataclass
class RunOptions:
    """How a training run is invoked (the options that are not part of the recipe)."""

    command: str
    output_dir: Path
    resume: bool = False
    overwrite: bool = False
    callbacks: list[Any] = field(default_factory=list)  # TrainerCallbacks from the CLI (progress display)
    argv: list[str] = field(default_factory=list)


@dataclass
class SplitResult:
    """Metrics, tables and per-example rows of one evaluated split."""

    metrics: dict[str, float]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunResult:
    """What a finished training run produced."""

    run_dir: Path
    task: str
    train_metrics: dict[str, float]
    splits: dict[str, SplitResult]
    summary: dict[str, Any]
    wall_time: float


# ---------------------------------------------------------------------------------------------
# Shared building blocks


def quiet_libraries() -> None:
    """Keep library chatter (load reports, tokenizer warnings) out of the user's terminal."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import warnings

    import datasets
    import transformers

    if not os.environ.get("LLMKIT_VERBOSE"):
        warnings.filterwarnings("ignore", message=".*pin_memory.*")
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()


def build_training_args(recipe: Recipe, output_dir: Path, **extra: Any) -> Any:
    """TrainingArguments from the recipe's ``training`` section plus llmkit's fixed choices."""
    from transformers import Seq2SeqTrainingArguments, TrainingArguments

    task = get_task(recipe.task)
    values = recipe.training.model_dump(exclude_unset=True)
    values.pop("output_dir", None)
    values.update(extra)
    cls = Seq2SeqTrainingArguments if task.seq2seq else TrainingArguments
    try:
        return cls(output_dir=str(output_dir), disable_tqdm=True, **values)
    except (ValueError, TypeError) as exc:
        message = str(exc).strip().splitlines()[0]
        raise ConfigError(f"training: {message}") from None


def _main_process_first(args: Any) -> Any:
    def factory() -> Any:
        return args.main_process_first(desc="dataset preparation")

    return factory


def prepare_task(
    recipe: Recipe, raw: RawData, tokenizer: Any, model_config: Any, training: bool, args: Any = None
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
    )
    prepared = task.prepare(ctx)
    prepared.summary.setdefault("rows_read", raw.rows_read)
    prepared.summary.setdefault("sources", raw.sources)
    return prepared


def build_model(recipe: Recipe, task: TaskSpec, tokenizer: Any, model_config: Any, prepared: Prepared) -> Any:
    """Apply the task's model kwargs to the config, then build or load the model."""
    for key, value in prepared.model_kwargs.items():
        setattr(model_config, key, value)
    if tokenizer.pad_token_id is not None and getattr(model_config, "pad_token_id", None) is None:
        model_config.pad_token_id = tokenizer.pad_token_id
    model = load_model(recipe.model, task.auto_model, model_config)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    return model


def build_trainer(
    recipe: Recipe,
    task: TaskSpec,
    model: Any,
    tokenizer: Any,
    args: Any,
    prepared: Prepared,
    eval_split: str | None,
    callbacks: list[Any],
) -> Any:
    """The Trainer (or Seq2SeqTrainer) for a task, with its collator, metrics and callbacks."""
    import transformers

    trainer_cls = transformers.Seq2SeqTrainer if task.seq2seq else transformers.Trainer
    callbacks = list(callbacks)
    if recipe.eval.early_stopping_patience and eval_split:
        callbacks.append(
            transformers.EarlyStoppingCallback(
                early_stopping_patience=recipe.eval.early_stopping_patience,
                early_stopping_threshold=recipe.eval.early_stopping_threshold,
            )
        )
    preprocess = task.preprocess_logits(recipe) if task.preprocess_logits else None
    return trainer_cls(
        model=model,
        args=args,
        data_collator=task.collator(tokenizer, recipe, prepared),
        train_dataset=prepared.features.get("train"),
        eval_dataset=prepared.features.get(eval_split) if eval_split else None,
        processing_class=tokenizer,
        compute_metrics=task.metrics(recipe, prepared, eval_split) if eval_split else None,
        callbacks=callbacks,
        preprocess_logits_for_metrics=preprocess,
    )


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


# ---------------------------------------------------------------------------------------------
# Run directories


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file, then rename) so a crash never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def prepare_output_dir(output_dir: Path, resume: bool, overwrite: bool) -> set[str]:
    """Check the run directory policy; return the names that were there before and are not ours.

    An existing non-empty directory is refused unless ``--resume`` or ``--overwrite``; overwrite
    removes only what an earlier llmkit run wrote there.
    """
    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other; choose one")
    if not output_dir.exists() or not any(output_dir.iterdir()):
        if resume:
            raise UsageError(f"--resume: {output_dir} holds no run to resume")
        return set()
    if not output_dir.is_dir():
        raise UsageError(f"--output-dir: {output_dir} exists and is not a directory")
    run_info = _read_json(output_dir / RUN_FILE)
    present = {p.name for p in output_dir.iterdir()}
    ours = set(run_info.get("files", [])) | {RUN_FILE, RECIPE_FILE, METRICS_FILE}
    ours |= {name for name in present if name.startswith("checkpoint-")} if run_info else set()
    if resume:
        if not run_info:
            raise UsageError(f"--resume: {output_dir} was not written by llmkit (no {RUN_FILE})")
        return present - ours
    if not overwrite:
        status = run_info.get("status", "unknown") if run_info else None
        what = f"a {status} llmkit run" if run_info else "files llmkit did not write"
        raise UsageError(
            f"--output-dir: {output_dir} already holds {what}; pass --overwrite to replace "
            "it, --resume to continue it, or choose another --output-dir"
        )
    if not run_info:
        raise UsageError(
            f"--output-dir: {output_dir} holds files llmkit did not write; --overwrite only replaces llmkit runs, "
            "so choose an empty or new directory"
        )
    for name in sorted(present & ours):
        target = output_dir / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    return present - ours


def _run_info(loaded: LoadedRecipe, options: RunOptions, status: str, started: str, files: list[str]) -> dict:
    return {
        "llmkit_version": __version__,
        "command": options.command,
        "task": loaded.recipe.task,
        "model": loaded.recipe.model.name_or_path,
        "recipe": str(loaded.path) if loaded.path else None,
        "overrides": list(loaded.overrides),
        "argv": options.argv,
        "status": status,
        "started": started,
        "ended": datetime.now(timezone.utc).isoformat(timespec="seconds") if status != "running" else None,
        "files": files,
    }


# ---------------------------------------------------------------------------------------------
# Commands


def train(loaded: LoadedRecipe, options: RunOptions) -> RunResult:
    """Pretrain or fine-tune as the recipe says and write the run directory."""
    import transformers

    recipe = loaded.recipe
    task = get_task(recipe.task)
    run_dir = options.output_dir
    user_files = prepare_output_dir(run_dir, options.resume, options.overwrite)
    quiet_libraries()
    started_at = time.perf_counter()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    args = build_training_args(recipe, run_dir)
    transformers.set_seed(args.seed)
    tokenizer = load_tokenizer(recipe.model)
    raw = load_raw(recipe.data, seed=args.seed)
    require_training_data(raw)
    model_config = load_config(recipe.model, tokenizer)
    prepared = prepare_task(recipe, raw, tokenizer, model_config, training=True, args=args)
    model = build_model(recipe, task, tokenizer, model_config, prepared)
    eval_split = "validation" if "validation" in prepared.features else None
    if eval_split is None and args.eval_strategy != "no":
        raise ConfigError(
            f"training.eval_strategy: '{args.eval_strategy}' needs validation data; set data.validation_file, "
            "data.validation_split_percentage, or training.eval_strategy=no"
        )

    def record(status: str) -> None:
        if args.process_index != 0:
            return
        files = sorted({p.name for p in run_dir.iterdir()} - user_files) if run_dir.exists() else []
        write_json(run_dir / RUN_FILE, _run_info(loaded, options, status, started, files))

    checkpoint = _last_checkpoint(run_dir) if options.resume else None
    if args.process_index == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / RECIPE_FILE).write_text(recipe_to_yaml(recipe), encoding="utf-8")
        record("running")
    trainer = build_trainer(recipe, task, model, tokenizer, args, prepared, eval_split, options.callbacks)
    try:
        train_output = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model(str(run_dir))
        trainer.save_state()
        splits = {
            split: evaluate_split(trainer, recipe, task, prepared, split)
            for split in ("validation", "test")
            if split in prepared.features
        }
    except LlmkitError:
        record("failed")
        raise
    except KeyboardInterrupt:
        record("interrupted")
        raise
    except BaseException:
        record("failed")
        raise
    train_metrics = {k: float(v) for k, v in train_output.metrics.items() if isinstance(v, int | float)}
    wall = time.perf_counter() - started_at
    if args.process_index == 0:
        write_json(
            run_dir / METRICS_FILE,
            {
                "task": recipe.task,
                "train": train_metrics,
                **{split: result.metrics for split, result in splits.items()},
                "tables": {split: result.tables for split, result in splits.items() if result.tables},
                "data": prepared.summary,
                "wall_time_s": round(wall, 3),
            },
        )
        record("finished")
    return RunResult(run_dir, recipe.task, train_metrics, splits, prepared.summary, wall)


def _last_checkpoint(run_dir: Path) -> str:
    from transformers.trainer_utils import get_last_checkpoint

    found = get_last_checkpoint(str(run_dir)) if run_dir.is_dir() else None
    if found is None:
        raise UsageError(f"--resume: {run_dir} holds no checkpoint-N directory to resume from")
    return found


@dataclass
class EvalResult:
    """Metrics of one evaluated split, with its per-example rows."""

    target: str
    split: str
    source: str
    result: SplitResult


def resolve_target(target: str, overrides: list[str]) -> Recipe:
    """A run directory or a recipe -> the recipe, pointing at the model to evaluate."""
    path = Path(target)
    if path.is_dir():
        if not is_run_directory(path):
            raise ModelError(f"{target}: not an llmkit run directory (expected {RECIPE_FILE} and config.json)")
        loaded = load_recipe(path / RECIPE_FILE, overrides)
        return updated(
            loaded.recipe, {"model.name_or_path": str(path.resolve()), "model.tokenizer_name_or_path": None}
        )
    return load_recipe(target, overrides).recipe


def evaluate(
    target: str,
    overrides: list[str] | None = None,
    data_file: str | None = None,
    split: str | None = None,
) -> EvalResult:
    """Score a finished run (or a recipe's model) on one split or on any file of the recipe's format."""
    recipe = resolve_target(target, overrides or [])
    task = get_task(recipe.task)
    quiet_libraries()
    if split is None:
        split = "test" if (data_file or recipe.data.test_file) else "validation"
    overrides_files = {split: data_file} if data_file else None
    raw = load_raw(recipe.data, splits=(split,), override_files=overrides_files)
    if split not in raw.splits:
        field_name = {"validation": "validation_file", "test": "test_file"}.get(split, f"{split}_file")
        raise UsageError(f"--split: the recipe has no '{split}' data (data.{field_name}); pass --data FILE")
    tokenizer = load_tokenizer(recipe.model)
    model_config = load_config(recipe.model, tokenizer)
    prepared = prepare_task(recipe, raw, tokenizer, model_config, training=False)
    model = build_model(recipe, task, tokenizer, model_config, prepared)
    with tempfile.TemporaryDirectory(prefix="llmkit-eval-") as scratch:
        args = build_training_args(recipe, Path(scratch), report_to="none", eval_strategy="no", save_strategy="no")
        trainer = build_trainer(recipe, task, model, tokenizer, args, prepared, split, [])
        result = evaluate_split(trainer, recipe, task, prepared, split)
    return EvalResult(target=target, split=split, source=raw.sources.get(split, split), result=result)


@dataclass
class LoadedModel:
    """A model ready for `llmkit generate`."""

    task: TaskSpec
    model: Any
    tokenizer: Any
    recipe: Recipe | None


def load_for_inference(model_ref: str, task_name: str | None = None) -> LoadedModel:
    """Load a run directory (task from its recipe) or a plain checkpoint (task from its architecture)."""
    quiet_libraries()
    from llmkit.config import ModelSection

    path = Path(model_ref)
    recipe = load_saved_recipe(path / RECIPE_FILE) if is_run_directory(path) else None
    section = ModelSection(name_or_path=model_ref)
    if recipe is not None:
        task_name = task_name or recipe.task
        section = recipe.model.model_copy(update={"name_or_path": str(path.resolve()), "tokenizer_name_or_path": None})
    tokenizer = load_tokenizer(section)
    config = load_config(section, tokenizer)
    if task_name is None:
        task_name = task_for_config(config)
    task = get_task(task_name)
    model = load_model(section, task.auto_model, config)
    model.eval()
    return LoadedModel(task=task, model=model, tokenizer=tokenizer, recipe=recipe)


def task_for_config(config: Any) -> str:
    """Guess the task of a plain checkpoint from its architecture name (each task lists its suffixes)."""
    from llmkit.tasks import TASKS

    architectures = list(getattr(config, "architectures", None) or [])
    for name in TASKS:
        suffixes = get_task(name).architectures
        if any(arch.endswith(suffix) for arch in architectures for suffix in suffixes):
            return name
    raise ModelError(
        f"cannot tell which task this checkpoint is for (architectures: {', '.join(architectures) or 'none'}); "
        f"pass --task ({', '.join(TASKS)})"
    )
