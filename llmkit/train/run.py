"""The one place that builds tokenizer, model, datasets, TrainingArguments and Trainer.

``train`` runs pretrain/finetune and writes the run directory; ``evaluate`` scores a run or a recipe
on a split; ``load_for_inference`` feeds `llmkit generate`. Task-specific work is delegated to the
task's spec; nothing here prints (the CLI renders the returned results).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmkit.config import (
    LoadedRecipe,
    Recipe,
    load_recipe,
    load_saved_recipe,
    recipe_to_dict,
    recipe_to_yaml,
    redact_argv,
    updated,
)
from llmkit.data import RawData, load_raw, require_columns, require_training_data
from llmkit.errors import ConfigError, DataError, ModelError, RunInterrupted, UsageError
from llmkit.lifecycle import as_resource_error, is_disk_full, recorded, undo_on_failure
from llmkit.models import (
    base_reference,
    is_run_directory,
    load_config,
    load_model,
    load_tokenizer,
    train_tokenizer_for,
)
from llmkit.rundir import (
    METRICS_FILE,
    RECIPE_FILE,
    RUN_FILE,
    RunRecord,
    now,
    prepare_output_dir,
    read_json,
    write_atomic,
    write_json,
)
from llmkit.runlock import RunLock
from llmkit.tasks import get_task
from llmkit.tasks.spec import PrepareContext, Prepared, TaskSpec

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    """How a training run is invoked (the options that are not part of the recipe)."""

    command: str
    output_dir: Path
    resume: bool = False
    overwrite: bool = False
    allow_config_change: bool = False
    strict: bool = False
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
    facts: dict[str, Any] = field(default_factory=dict)  # best checkpoint, throughput, peak memory, files


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
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        warnings.filterwarnings("ignore", message="Could not find a config file in")  # PEFT, alias bases
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        datasets.logging.set_verbosity_error()
        datasets.disable_progress_bars()


def build_training_args(recipe: Recipe, output_dir: Path, for_training: bool = True, **extra: Any) -> Any:
    """TrainingArguments from the recipe's ``training`` section plus llmkit's fixed choices."""
    from transformers import Seq2SeqTrainingArguments, TrainingArguments

    task = get_task(recipe.task)
    values = recipe.training.model_dump(exclude_unset=True)
    values.pop("output_dir", None)
    values.update(extra)
    apply_hardware_rules(values, for_training)
    token = values.pop("hub_token", None)
    if token:  # kept out of TrainingArguments, which Trainer pickles into every checkpoint
        os.environ.setdefault("HF_TOKEN", token)
    cls = Seq2SeqTrainingArguments if task.seq2seq else TrainingArguments
    if task.seq2seq:  # seq2seq tasks are scored on generated text
        values.setdefault("predict_with_generate", True)
    try:
        return cls(output_dir=str(output_dir), disable_tqdm=True, **values)
    except (ValueError, TypeError) as exc:
        # The library's whole message: its later lines often hold the fix ("... but found ...").
        message = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
        raise ConfigError(f"training: {message}") from None


def apply_hardware_rules(values: dict[str, Any], for_training: bool) -> None:
    """Refuse precision this machine cannot run; make CPU-only multi-process runs real DDP (gloo)."""
    import importlib.util

    from llmkit import hardware

    machine = hardware.detect()
    problem = hardware.precision_refusal(
        bool(values.get("bf16")), bool(values.get("fp16")), bool(values.get("use_cpu")), machine
    )
    if problem and for_training:
        raise ConfigError(problem)
    if problem:  # evaluating a run trained elsewhere in mixed precision: full precision here
        values["bf16"] = values["fp16"] = False
    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if hardware.needs_cpu_flag(world_size, values.get("use_cpu"), machine):
        values["use_cpu"] = True
    if values.get("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        raise ConfigError("training.deepspeed: needs the deepspeed package (`pip install deepspeed`, on a GPU machine)")


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
    prepared.summary.setdefault("rows_read", raw.rows_read)
    prepared.summary.setdefault("sources", raw.sources)
    return prepared


def build_model(recipe: Recipe, task: TaskSpec, tokenizer: Any, model_config: Any, prepared: Prepared) -> Any:
    """Apply the task's model kwargs to the config, then build or load the model."""
    for key, value in prepared.model_kwargs.items():
        setattr(model_config, key, value)
    if tokenizer.pad_token_id is not None and getattr(model_config, "pad_token_id", None) is None:
        model_config.pad_token_id = tokenizer.pad_token_id
    if task.load_model is not None:
        model = task.load_model(recipe.model, model_config, recipe=recipe, tokenizer=tokenizer)
    else:
        model = load_model(recipe.model, task.auto_model, model_config)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    if not hasattr(type(model), "accepts_loss_kwargs") and not loss_uses_item_count(model):
        model.accepts_loss_kwargs = False
    return model


def loss_uses_item_count(model: Any) -> bool:
    """Whether the model's loss divides by Trainer's ``num_items_in_batch`` (causal LMs) or is a plain mean.

    Trainer assumes every model whose forward takes ``**kwargs`` does the former: it then skips dividing
    by ``gradient_accumulation_steps`` and multiplies by the process count. For a mean loss (BERT
    classifiers, QA, masked LM, T5) that doubles the loss and gradients with 2 accumulation steps or 2 ranks.
    """
    import inspect

    try:
        source = inspect.getsource(type(model).forward)
    except (OSError, TypeError):
        return True  # cannot tell: keep Trainer's own choice
    if "self.loss_function" not in source:
        return False
    try:
        return "num_items_in_batch" in inspect.signature(model.loss_function).parameters
    except (AttributeError, TypeError, ValueError):
        return True


def apply_peft(recipe: Recipe, task: TaskSpec, model: Any) -> Any:
    """Wrap the model in LoRA adapters when the recipe has a ``peft`` section (the one place that does)."""
    if recipe.peft is None:
        return model
    from llmkit import adapters

    base = base_reference(recipe.model.name_or_path)
    wrapped = adapters.wrap(model, recipe.peft, task.auto_model, base, recipe.model.revision)
    if recipe.training.gradient_checkpointing:
        # Frozen embeddings give checkpointed blocks inputs without grad; LoRA then gets no gradient.
        wrapped.enable_input_require_grads()
    return wrapped


def save_peft_extras(model: Any, run_dir: Path) -> dict[str, Any]:
    """Beside the adapter: the base config (labels) so the run reloads; sizes for the summary."""
    from llmkit import adapters

    base = model.get_base_model()
    base.config.save_pretrained(str(run_dir))
    counts = adapters.parameter_counts(model)
    weights = run_dir / adapters.ADAPTER_WEIGHTS
    full = sum(p.numel() * p.element_size() for p in base.parameters())
    return {
        **counts,
        "adapter_bytes": weights.stat().st_size if weights.is_file() else 0,
        "full_model_bytes": full,
    }


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

    trainer_cls = transformers.Seq2SeqTrainer if task.seq2seq else transformers.Trainer
    if trainer_wrapper is not None:
        trainer_cls = trainer_wrapper(trainer_cls)
    mixin = task.trainer_mixin(recipe, model) if task.trainer_mixin else None
    if mixin is not None:
        trainer_cls = type(f"{mixin.__name__}{trainer_cls.__name__}", (mixin, trainer_cls), {})
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
    trainer._get_eval_sampler = _in_order_eval_sampler(trainer)

    # llmkit draws its own progress display; Trainer's printer would repeat every log as a dict.
    trainer.remove_callback(transformers.PrinterCallback)
    trainer.remove_callback(transformers.trainer_callback.ProgressCallback)
    return trainer


def _distill_loss(recipe: Recipe, task: TaskSpec, model: Any) -> Any:
    """Trainer's ``compute_loss_func`` for a recipe with a ``distill:`` section, else None."""
    if recipe.distill is None:
        return None
    from llmkit.distill import build_loss

    return build_loss(recipe, task, model)


def _in_order_eval_sampler(trainer: Any) -> Any:
    """Evaluation always reads examples in order.

    transformers 5 groups evaluation batches by length too when ``train_sampling_strategy`` is
    ``group_by_length``, which permutes the predictions: per-example rows (``--predictions``, sample
    tables) and QA/translation post-processing, which map predictions back to examples by position,
    would pair the wrong outputs. Metrics are unaffected; training keeps its length groups.
    """
    from torch.utils.data import SequentialSampler

    def sampler(eval_dataset: Any) -> Any:
        if eval_dataset is None or not hasattr(eval_dataset, "__len__"):
            return None
        return SequentialSampler(eval_dataset) if trainer.args.world_size <= 1 else None

    return sampler


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


# ---------------------------------------------------------------------------------------------
# Commands


def train(loaded: LoadedRecipe, options: RunOptions) -> RunResult:
    """Pretrain or fine-tune as the recipe says and write the run directory.

    Raises RunInterrupted (exit 130/143) after saving a checkpoint when stopped by a signal,
    DivergedError (exit 5) on a non-finite loss, ResourceError (exit 6) when out of memory or disk.
    While it runs, the directory is locked against a second llmkit process.
    """
    # Under torchrun/accelerate only global rank 0 touches the run directory (--overwrite deletes files).
    writer = int(os.environ.get("RANK", "0") or 0) == 0
    if options.output_dir.exists() and not options.output_dir.is_dir():
        raise UsageError(f"--output-dir: {options.output_dir} exists and is not a directory")
    created = not options.output_dir.exists()
    lock = RunLock(options.output_dir) if writer else None
    try:
        if lock is not None:
            lock.acquire()
        return _train_locked(loaded, options, writer, lock.stale if lock is not None else None)
    finally:
        if lock is not None:
            lock.release()
        if created and writer:
            with contextlib.suppress(OSError):
                options.output_dir.rmdir()  # only when the run stopped before writing anything


@dataclass
class _Setup:
    """Everything a training run builds before it writes its first file."""

    args: Any
    resume_point: Any
    tokenizer: Any
    prepared: Prepared
    model: Any
    eval_split: str | None


def _set_up(loaded: LoadedRecipe, options: RunOptions) -> _Setup:
    """Arguments, resume point, data, tokenizer, features and model: every input error surfaces here."""
    import transformers

    from llmkit import checkpoints

    recipe = loaded.recipe
    task = get_task(recipe.task)
    args = build_training_args(recipe, options.output_dir, save_total_limit=None)
    resume_point = checkpoints.find_resume_point(options.output_dir, args.world_size) if options.resume else None
    if resume_point is not None:
        for name, reason in resume_point.rejected:
            log.warning("not resuming from %s: %s", name, reason)
        log.info(
            "resuming from %s (step %d); batches already seen are skipped without being loaded",
            resume_point.path.name,
            resume_point.step,
        )
    transformers.set_seed(args.seed)
    raw = load_raw(recipe.data, seed=args.seed, reshape=_reshaper(task, recipe))
    require_training_data(raw)
    if resume_point is not None and recipe.tokenizer.train is not None:
        # The checkpoint holds the tokenizer the run trained: reuse it rather than train again (WordPiece
        # training breaks ties between equal counts differently from one training to the next).
        tokenizer = load_tokenizer(recipe.model.model_copy(update={"tokenizer_name_or_path": str(resume_point.path)}))
    else:
        tokenizer = train_tokenizer_for(recipe, training_texts(recipe, raw)) or load_tokenizer(recipe.model)
    model_config = load_config(recipe.model, tokenizer)
    prepared = prepare_task(recipe, raw, tokenizer, model_config, training=True, args=args, strict=options.strict)
    check_truncation(prepared, options.strict)
    model = apply_peft(recipe, task, build_model(recipe, task, tokenizer, model_config, prepared))
    eval_split = "validation" if "validation" in prepared.features else None
    if eval_split is None and args.eval_strategy != "no":
        raise ConfigError(
            f"training.eval_strategy: '{args.eval_strategy}' needs validation data; set data.validation_file, "
            "data.validation_split_percentage, or training.eval_strategy=no"
        )
    return _Setup(args, resume_point, tokenizer, prepared, model, eval_split)


def _start_record(loaded: LoadedRecipe, options: RunOptions, setup: _Setup, owned: set[str], writer: bool) -> Any:
    """Write run.json (first, so a failure after it is recorded) and the resolved recipe."""
    from llmkit.data import tokenizer_fingerprint
    from llmkit.runlog import environment, library_versions

    recipe, run_dir = loaded.recipe, options.output_dir
    if writer:
        from llmkit import checkpoints

        checkpoints.clean_staging(run_dir)
    try:
        record = RunRecord.start(
            run_dir,
            owned,
            command=options.command,
            task=recipe.task,
            model=recipe.model.label,
            recipe_path=str(loaded.path) if loaded.path else None,
            overrides=list(loaded.overrides),
            argv=options.argv,
            world_size=setup.args.world_size,
            data_fingerprints=data_fingerprints(recipe),
            resume_from=setup.resume_point.path.name if setup.resume_point else None,
            writer=writer,
        )
    except OSError as exc:  # nothing of this run exists yet: say why, leave nothing behind
        raise (as_resource_error(exc, run_dir) or exc) from exc
    with recorded(record):
        record.data.update(versions=library_versions(), environment=environment(setup.args))
        record.data["tokenizer_hash"] = tokenizer_fingerprint(setup.tokenizer)
        if writer:
            write_atomic(run_dir / RECIPE_FILE, recipe_to_yaml(recipe))
            record.claim(RECIPE_FILE)
        record.save()
    return record


def _train_locked(loaded: LoadedRecipe, options: RunOptions, writer: bool, previous: Any) -> RunResult:
    from llmkit import checkpoints
    from llmkit.guards import DivergenceGuard, StopOnSignal
    from llmkit.runlog import MetricsLog

    recipe = loaded.recipe
    task = get_task(recipe.task)
    run_dir = options.output_dir
    owned = prepare_output_dir(run_dir, options.resume, options.overwrite, previous) if writer else set()
    if options.resume:
        check_resume_compatible(run_dir, recipe, options.allow_config_change)
    quiet_libraries()
    started_at = time.perf_counter()
    setup = _set_up(loaded, options)
    record = _start_record(loaded, options, setup, owned, writer)
    stopper = StopOnSignal()
    guard = DivergenceGuard(lambda: _last_good_checkpoint(run_dir, setup.args.world_size))
    resume_point = setup.resume_point
    with recorded(record):
        trainer = build_trainer(
            recipe,
            task,
            setup.model,
            setup.tokenizer,
            setup.args,
            setup.prepared,
            setup.eval_split,
            [stopper, guard, MetricsLog(run_dir, resume_point.step if resume_point else None), *options.callbacks],
            trainer_wrapper=lambda base: checkpoints.committing_trainer(base, _recipe_hash(recipe), keep_limit(recipe)),
            compute_loss_func=_distill_loss(recipe, task, setup.model),
        )
        guard.attach(trainer)
        stopper.install()
        try:
            with record.track(keep=_written_while_training(run_dir)):
                train_output = trainer.train(resume_from_checkpoint=str(resume_point.path) if resume_point else None)
        finally:
            stopper.restore()
            guard.detach()
        if stopper.signum is not None:
            record.data["stopped_at_step"] = stopper.stopped_at
            raise RunInterrupted(_resume_hint(loaded, options, run_dir, stopper.stopped_at), stopper.exit_code)
        _save_final(trainer, recipe, setup.prepared, record, writer)
        splits = {
            split: evaluate_split(trainer, recipe, task, setup.prepared, split)
            for split in ("validation", "test")
            if split in setup.prepared.features
        }
        train_metrics = {k: float(v) for k, v in train_output.metrics.items() if isinstance(v, int | float)}
        wall = time.perf_counter() - started_at
        summary = run_summary(trainer, train_metrics, wall, run_dir)
        if writer:
            write_json(
                run_dir / METRICS_FILE, _metrics_file(recipe, train_metrics, splits, setup.prepared, summary, wall)
            )
            record.claim(METRICS_FILE)
        record.data.update(status="finished", ended=now())
        if writer:
            with undo_on_failure(record), record.track():
                write_report(run_dir)
        record.finish("finished")
    return RunResult(run_dir, recipe.task, train_metrics, splits, setup.prepared.summary, wall, summary)


def keep_limit(recipe: Recipe) -> int | None:
    """How many committed checkpoints to keep (llmkit rotates them itself, after each commit)."""
    return recipe.training.save_total_limit


def _written_while_training(run_dir: Path) -> Callable[[str], bool]:
    """Which names that appear in the run directory during training are llmkit's (or Trainer's) own.

    Only these join the manifest: committed checkpoints, the metrics log, the staging folder and the
    logging directory of the integrations. A file the user drops there meanwhile stays theirs.
    """
    from llmkit.checkpoints import STAGING, checkpoint_step
    from llmkit.runlog import METRICS_LOG

    logging_top = "runs"  # where Trainer's TensorBoard callback writes, unless TENSORBOARD_LOGGING_DIR says
    custom = os.environ.get("TENSORBOARD_LOGGING_DIR")
    if custom:
        try:
            logging_top = Path(custom).resolve().relative_to(run_dir.resolve()).parts[0]
        except (ValueError, IndexError):
            logging_top = None

    def keep(name: str) -> bool:
        return checkpoint_step(Path(name)) is not None or name in (METRICS_LOG, STAGING, logging_top)

    return keep


FINAL_STAGING = ".llmkit-final"


def _save_final(trainer: Any, recipe: Recipe, prepared: Prepared, record: RunRecord, writer: bool) -> None:
    """Save the final model, tokenizer and trainer state: into a staging folder, then moved into place.

    A full disk halfway through therefore leaves the run directory as it was (no torn weights), and the
    staging folder is removed.
    """
    run_dir = record.run_dir
    staging = run_dir / FINAL_STAGING
    if writer and staging.exists():
        shutil.rmtree(staging)
    try:
        trainer.save_model(str(staging))
        if writer:
            trainer.state.save_to_json(str(staging / "trainer_state.json"))
            if recipe.peft is not None:
                prepared.summary["adapter"] = save_peft_extras(trainer.model, staging)
            for path in sorted(staging.iterdir()):
                os.replace(path, run_dir / path.name)
                record.claim(path.name)
    finally:
        if writer:
            shutil.rmtree(staging, ignore_errors=True)


def _metrics_file(
    recipe: Recipe,
    train_metrics: dict[str, float],
    splits: dict[str, SplitResult],
    prepared: Prepared,
    summary: dict[str, Any],
    wall: float,
) -> dict[str, Any]:
    """The content of metrics.json."""
    return {
        "task": recipe.task,
        "train": train_metrics,
        **{split: result.metrics for split, result in splits.items()},
        "tables": {split: result.tables for split, result in splits.items() if result.tables},
        "samples": {split: result.rows[:SAMPLE_ROWS] for split, result in splits.items() if result.rows},
        "data": prepared.summary,
        "summary": summary,
        "wall_time_s": round(wall, 3),
    }


SAMPLE_ROWS = 10  # per-example rows kept in metrics.json for the report


def run_summary(trainer: Any, train_metrics: dict[str, float], wall: float, run_dir: Path) -> dict[str, Any]:
    """The end-of-run facts: best metric and checkpoint, wall time, throughput, peak memory, files."""
    from llmkit.report import REPORT_FILE
    from llmkit.runlog import METRICS_LOG, peak_memory_mb

    state = trainer.state
    best = state.best_model_checkpoint
    summary: dict[str, Any] = {
        "wall_time_s": round(wall, 2),
        "steps": state.global_step,
        "train_samples_per_second": train_metrics.get("train_samples_per_second"),
        "best_metric": state.best_metric,
        "metric_for_best_model": trainer.args.metric_for_best_model if best else None,
        "best_checkpoint": Path(best).name if best else None,
        **peak_memory_mb(),
        "model": str(run_dir),
        "report": str(run_dir / REPORT_FILE),
        "log": str(run_dir / METRICS_LOG),
    }
    return {k: v for k, v in summary.items() if v is not None}


def write_report(run_dir: Path) -> None:
    """Build report.html; a failure here is logged, never fatal to a finished run."""
    from llmkit.report import build_report

    try:
        build_report(run_dir)
    except Exception as exc:  # the model and metrics are already saved
        if is_disk_full(exc):
            raise  # exit 6 like every other phase: the report is part of what the run promised to write
        log.warning("could not write report.html: %s", exc)


def training_texts(recipe: Recipe, raw: RawData) -> Any:
    """The training split's text column (``data.text_column``), for training a tokenizer on it."""
    if recipe.tokenizer.train is None:
        return None
    column = getattr(recipe.data, "text_column", "text")
    train = raw.splits["train"]
    require_columns(train, {"text_column": column}, raw.sources.get("train", "train"))
    return (text for text in train[column] if text)


def _recipe_hash(recipe: Recipe) -> str:
    from llmkit.checkpoints import recipe_hash

    return recipe_hash(recipe_to_dict(recipe, redact=False))


def _last_good_checkpoint(run_dir: Path, world_size: int) -> str | None:
    """The newest checkpoint that passes every check (what a diverged run may name as its last good one)."""
    from llmkit.checkpoints import newest_valid

    found = newest_valid(run_dir, world_size)
    return found.name if found else None


def _resume_hint(loaded: LoadedRecipe, options: RunOptions, run_dir: Path, step: int | None) -> str:
    recipe_ref = str(loaded.path) if loaded.path else "RECIPE"
    overrides = " ".join(redact_argv(list(loaded.overrides)))
    command = f"llmkit {options.command} {recipe_ref} {overrides} --output-dir {run_dir} --resume"
    return f"stopped after step {step}; checkpoint saved in {run_dir}. Resume with: {' '.join(command.split())}"


def data_fingerprints(recipe: Recipe) -> dict[str, str]:
    """sha256 of every local data file the recipe trains and validates on."""
    from llmkit.checkpoints import fingerprint_file

    found: dict[str, str] = {}
    for field_name in ("train_file", "validation_file", "test_file"):
        value = getattr(recipe.data, field_name, None)
        for path in [value] if isinstance(value, str) else list(value or []):
            if Path(path).is_file():
                found[str(path)] = fingerprint_file(path)
    if recipe.data.dataset_name:
        found[f"hub:{recipe.data.dataset_name}"] = recipe.data.dataset_revision or "unpinned"
    return found


def check_resume_compatible(run_dir: Path, recipe: Recipe, allow_change: bool) -> None:
    """Refuse to resume with a recipe or data that differ from the run's, listing each difference."""
    from llmkit.checkpoints import recipe_diff

    saved_path = run_dir / RECIPE_FILE
    if not saved_path.is_file():
        raise ModelError(f"--resume: {run_dir} has no {RECIPE_FILE}; cannot check what the run was trained with")
    saved = load_saved_recipe(saved_path)
    differences = recipe_diff(recipe_to_dict(saved), recipe_to_dict(recipe))
    old_prints = read_json(run_dir / RUN_FILE).get("data_fingerprints", {})
    new_prints = data_fingerprints(recipe)
    for path in sorted(set(old_prints) & set(new_prints)):
        if old_prints[path] != new_prints[path]:
            differences.append(f"{path}: the file's content changed since the run started")
    if differences and not allow_change:
        raise ConfigError(
            [f"--resume: the recipe or data changed since {run_dir} started (--allow-config-change resumes anyway):"]
            + [f"  {line}" for line in differences]
        )
    for line in differences:
        log.warning("resuming with a changed recipe: %s", line)


def check_truncation(prepared: Prepared, strict: bool) -> None:
    """With --strict, truncated inputs are a data error instead of a count in the summary."""
    truncated = {split: n for split, n in prepared.summary.get("truncated", {}).items() if n}
    if strict and truncated:
        listed = ", ".join(f"{n} in {split}" for split, n in truncated.items())
        raise DataError(f"data.max_seq_length: {listed} input(s) are longer and would be truncated (--strict)")


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
        return updated(loaded.recipe, _from_run_dir(path))
    return load_recipe(target, overrides).recipe


def _from_run_dir(path: Path) -> dict[str, Any]:
    """Recipe changes that load a finished run's own model and tokenizer (not build or train new ones)."""
    return {
        "model.name_or_path": str(path.resolve()),
        "model.tokenizer_name_or_path": None,
        "model.config": None,
        "tokenizer.train": None,
    }


def evaluate(
    target: str,
    overrides: list[str] | None = None,
    data_file: str | None = None,
    split: str | None = None,
    model_transform: Callable[[Any], Any] | None = None,
) -> EvalResult:
    """Score a finished run (or a recipe's model) on one split or on any file of the recipe's format.

    ``model_transform`` replaces the loaded model before scoring (`llmkit export --quantize` scores an int8 copy).
    """
    recipe = resolve_target(target, overrides or [])
    task = get_task(recipe.task)
    quiet_libraries()
    if split is None:
        split = "test" if (data_file or recipe.data.test_file) else "validation"
    overrides_files = {split: data_file} if data_file else None
    raw = load_raw(recipe.data, splits=(split,), override_files=overrides_files, reshape=_reshaper(task, recipe))
    if split not in raw.splits:
        field_name = {"validation": "validation_file", "test": "test_file"}.get(split, f"{split}_file")
        raise UsageError(f"--split: the recipe has no '{split}' data (data.{field_name}); pass --data FILE")
    tokenizer = load_tokenizer(recipe.model)
    model_config = load_config(recipe.model, tokenizer)
    prepared = prepare_task(recipe, raw, tokenizer, model_config, training=False)
    model = build_model(recipe, task, tokenizer, model_config, prepared)
    if model_transform is not None:
        model = model_transform(model)
    with tempfile.TemporaryDirectory(prefix="llmkit-eval-") as scratch:
        args = build_training_args(
            recipe, Path(scratch), for_training=False, report_to="none", eval_strategy="no", save_strategy="no"
        )
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


def load_for_inference(
    model_ref: str, task_name: str | None = None, dtype: str | None = None, device: str | None = None
) -> LoadedModel:
    """Load a run directory (task from its recipe) or a plain checkpoint (task from its architecture),
    on ``device`` (default: CUDA, then MPS, then CPU) with weights in ``dtype`` when given."""
    quiet_libraries()
    from llmkit.config import ModelSection
    from llmkit.generation import pick_device

    path = Path(model_ref)
    recipe = load_saved_recipe(path / RECIPE_FILE) if is_run_directory(path) else None
    section = ModelSection(name_or_path=model_ref)
    if recipe is not None:
        task_name = task_name or recipe.task
        section = updated(recipe, _from_run_dir(path)).model
    tokenizer = load_tokenizer(section)
    config = load_config(section, tokenizer)
    if task_name is None:
        task_name = task_for_config(config)
    task = get_task(task_name)
    if dtype is not None:
        section = section.model_copy(update={"dtype": dtype})
    if task.load_model is not None:
        model = task.load_model(section, config, recipe=recipe, tokenizer=tokenizer)
    else:
        model = load_model(section, task.auto_model, config)
    model.to(device or pick_device())
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


# ---------------------------------------------------------------------------------------------
# Checking a recipe before a run


@dataclass
class ValidationReport:
    """What `llmkit validate` found: data per split, the model's size, and warnings worth reading."""

    task: str
    model: str
    splits: dict[str, dict[str, Any]]  # split -> rows, truncated, length percentiles
    labels: list[str] | None
    parameters: int
    trainable_memory_mb: float  # weights + gradients + AdamW moments in fp32
    tokenizer: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def validate(loaded: LoadedRecipe) -> ValidationReport:
    """Open the data, tokenize it, resolve the model and tokenizer, and size the model, without training.

    Raises the same errors (and exit codes) a real run would meet before its first step.
    """
    import numpy as np
    import torch
    import transformers

    recipe = loaded.recipe
    task = get_task(recipe.task)
    quiet_libraries()
    args = build_training_args(recipe, Path(tempfile.gettempdir()) / "llmkit-validate", report_to="none")
    raw = load_raw(recipe.data, seed=args.seed, reshape=_reshaper(task, recipe))
    require_training_data(raw)
    tokenizer = train_tokenizer_for(recipe, training_texts(recipe, raw)) or load_tokenizer(recipe.model)
    model_config = load_config(recipe.model, tokenizer)
    checkpoint_labels = getattr(model_config, "num_labels", None)
    prepared = prepare_task(recipe, raw, tokenizer, model_config, training=True)
    for key, value in prepared.model_kwargs.items():
        setattr(model_config, key, value)
    warnings: list[str] = []
    splits: dict[str, dict[str, Any]] = {}
    for split, features in prepared.features.items():
        info: dict[str, Any] = {"rows read": raw.rows_read.get(split), "features": len(features)}
        if "input_ids" in features.column_names:
            lengths = np.array([len(ids) for ids in features["input_ids"]])
            for q in (50, 90, 99):
                info[f"p{q}"] = int(np.percentile(lengths, q))
            info["max"] = int(lengths.max())
        info["truncated"] = int((prepared.summary.get("truncated") or {}).get(split, 0))
        if info["truncated"]:
            warnings.append(f"{split}: {info['truncated']} input(s) longer than data.max_seq_length will be truncated")
        splits[split] = info
    with torch.device("meta"):
        model = getattr(transformers, task.auto_model).from_config(model_config)
    parameters = sum(p.numel() for p in model.parameters())
    labels = prepared.state.get("labels")
    new_labels = prepared.model_kwargs.get("num_labels")
    source = "builtin" if recipe.model.name_or_path is None else resolve_source_kind(recipe.model.name_or_path)
    if new_labels and source != "builtin" and checkpoint_labels not in (None, new_labels):
        warnings.append(
            f"the checkpoint's head has {checkpoint_labels} outputs and the data {new_labels} labels: "
            "the head is initialised anew"
        )
    if "validation" not in prepared.features and args.eval_strategy != "no":
        warnings.append("no validation data, but training.eval_strategy is not 'no'")
    tokenizer_info = {
        "class": type(tokenizer).__name__,
        "vocab_size": len(tokenizer),
        "pad_token": tokenizer.pad_token,
        "model_max_length": getattr(tokenizer, "model_max_length", None),
    }
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        warnings.append("the tokenizer has more tokens than the model's embeddings: they will be resized")
    return ValidationReport(
        task=recipe.task,
        model=recipe.model.label,
        splits=splits,
        labels=list(labels) if labels else None,
        parameters=parameters,
        trainable_memory_mb=round(parameters * 16 / 2**20, 1),
        tokenizer=tokenizer_info,
        warnings=warnings,
    )


def resolve_source_kind(name_or_path: str) -> str:
    """builtin, local or hub (see models.resolve_source)."""
    from llmkit.models import resolve_source

    return resolve_source(name_or_path).kind
