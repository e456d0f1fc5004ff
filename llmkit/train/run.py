"""``llmkit finetune`` / ``pretrain``: lock the run directory, train, and write what the run promised.

Raises RunInterrupted (exit 130/143) after saving a checkpoint when stopped by a signal, DivergedError
(exit 5) on a non-finite loss, ResourceError (exit 6) when out of memory or disk. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmkit.config import LoadedRecipe, Recipe, recipe_to_dict, recipe_to_yaml, redact_argv
from llmkit.errors import ConfigError, RunInterrupted, UsageError
from llmkit.tasks import get_task
from llmkit.tasks.spec import Prepared
from llmkit.train import finish
from llmkit.train.arguments import build_training_args
from llmkit.train.libraries import quiet_libraries
from llmkit.train.lifecycle import as_resource_error, recorded, undo_on_failure
from llmkit.train.lock import RunLock
from llmkit.train.model import apply_peft, build_model
from llmkit.train.results import RunOptions, RunResult
from llmkit.train.resume import check_resume_compatible, data_fingerprints, last_good_checkpoint, run_recipe_hash
from llmkit.train.rundir import RECIPE_FILE, RunRecord, now, prepare_output_dir, write_atomic
from llmkit.train.setup import load_inputs
from llmkit.train.trainer import build_trainer, distill_loss, evaluate_split

log = logging.getLogger(__name__)


def train(loaded: LoadedRecipe, options: RunOptions) -> RunResult:
    """Pretrain or fine-tune as the recipe says and write the run directory.

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

    recipe = loaded.recipe
    task = get_task(recipe.task)
    args = build_training_args(recipe, options.output_dir, save_total_limit=None)
    resume_point = _resume_point(options, args.world_size)
    transformers.set_seed(args.seed)
    inputs = load_inputs(recipe, "train", args=args, resume_point=resume_point, strict=options.strict)
    prepared = inputs.prepared
    model = apply_peft(recipe, task, build_model(recipe, task, inputs.tokenizer, inputs.model_config, prepared))
    eval_split = "validation" if "validation" in prepared.features else None
    if eval_split is None and args.eval_strategy != "no":
        raise ConfigError(
            f"training.eval_strategy: '{args.eval_strategy}' needs validation data; set data.validation_file, "
            "data.validation_split_percentage, or training.eval_strategy=no"
        )
    return _Setup(args, resume_point, inputs.tokenizer, prepared, model, eval_split)


def _resume_point(options: RunOptions, world_size: int) -> Any:
    """The checkpoint ``--resume`` continues from (None without --resume), saying which were passed over."""
    from llmkit.train import checkpoints

    if not options.resume:
        return None
    resume_point = checkpoints.find_resume_point(options.output_dir, world_size)
    for name, reason in resume_point.rejected:
        log.warning("not resuming from %s: %s", name, reason)
    log.info(
        "resuming from %s (step %d); batches already seen are skipped without being loaded",
        resume_point.path.name,
        resume_point.step,
    )
    return resume_point


def _start_record(loaded: LoadedRecipe, options: RunOptions, setup: _Setup, owned: set[str], writer: bool) -> Any:
    """Write run.json (first, so a failure after it is recorded) and the resolved recipe."""
    from llmkit.data import tokenizer_fingerprint
    from llmkit.train.runlog import environment, library_versions

    recipe, run_dir = loaded.recipe, options.output_dir
    if writer:
        from llmkit.train import checkpoints

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
    with recorded(record):
        trainer, train_output = _fit(loaded, options, setup, record)
        finish.save_final(trainer, recipe, setup.prepared, record, writer)
        splits = {
            split: evaluate_split(trainer, recipe, task, setup.prepared, split)
            for split in ("validation", "test")
            if split in setup.prepared.features
        }
        train_metrics = {k: float(v) for k, v in train_output.metrics.items() if isinstance(v, int | float)}
        wall = time.perf_counter() - started_at
        summary = finish.run_summary(trainer, train_metrics, wall, run_dir)
        if writer:
            content = finish.metrics_file(recipe, train_metrics, splits, setup.prepared, summary, wall)
            finish.write_metrics(record, content)
        record.data.update(status="finished", ended=now())
        if writer:
            with undo_on_failure(record), record.track():
                finish.write_report(run_dir, record.data)
                finish.write_card(run_dir, task)
        record.finish("finished")
    return RunResult(run_dir, recipe.task, train_metrics, splits, setup.prepared.summary, wall, summary)


def _fit(loaded: LoadedRecipe, options: RunOptions, setup: _Setup, record: RunRecord) -> tuple[Any, Any]:
    """Build the trainer with llmkit's guards and run ``trainer.train``; a signal stops it with a checkpoint."""
    from llmkit.train import checkpoints
    from llmkit.train.guards import DivergenceGuard, StopOnSignal
    from llmkit.train.runlog import MetricsLog
    from llmkit.train.tracking import RecipeConfig

    recipe, run_dir = loaded.recipe, options.output_dir
    task = get_task(recipe.task)
    stopper = StopOnSignal()
    guard = DivergenceGuard(lambda: last_good_checkpoint(run_dir, setup.args.world_size))
    resume_point = setup.resume_point
    trainer = build_trainer(
        recipe,
        task,
        setup.model,
        setup.tokenizer,
        setup.args,
        setup.prepared,
        setup.eval_split,
        [
            stopper,
            guard,
            MetricsLog(run_dir, resume_point.step if resume_point else None),
            RecipeConfig(recipe_to_dict(recipe)),
            *options.callbacks,
        ],
        trainer_wrapper=lambda base: checkpoints.committing_trainer(base, run_recipe_hash(recipe), keep_limit(recipe)),
        compute_loss_func=distill_loss(recipe, task, setup.model),
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
    return trainer, train_output


def keep_limit(recipe: Recipe) -> int | None:
    """How many committed checkpoints to keep (llmkit rotates them itself, after each commit)."""
    return recipe.training.save_total_limit


def _written_while_training(run_dir: Path) -> Callable[[str], bool]:
    """Which names that appear in the run directory during training are llmkit's (or Trainer's) own.

    Only these join the manifest: committed checkpoints, the metrics log, the staging folder and the
    logging directory of the integrations. A file the user drops there meanwhile stays theirs.
    """
    from llmkit.train.checkpoints import STAGING, checkpoint_step
    from llmkit.train.runlog import METRICS_LOG

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


def _resume_hint(loaded: LoadedRecipe, options: RunOptions, run_dir: Path, step: int | None) -> str:
    recipe_ref = str(loaded.path) if loaded.path else "RECIPE"
    overrides = " ".join(redact_argv(list(loaded.overrides)))
    command = f"llmkit {options.command} {recipe_ref} {overrides} --output-dir {run_dir} --resume"
    return f"stopped after step {step}; checkpoint saved in {run_dir}. Resume with: {' '.join(command.split())}"
