"""Checkpoints that are either complete or invisible, and resume that only uses complete ones.

Trainer writes ``checkpoint-N`` in place, rotates old checkpoints before the new one is known to be
whole, and resumes from the newest directory whatever state it is in. llmkit instead lets Trainer
write into a staging folder, fsyncs every file, writes a completion marker (step, files and sizes,
recipe hash, world size) last, and only then renames the folder to ``checkpoint-N``. Rotation runs
after that commit and never removes the newest committed or the best checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmkit import __version__
from llmkit.errors import ModelError, UsageError

log = logging.getLogger(__name__)

MARKER = "llmkit-checkpoint.json"
STAGING = ".llmkit-staging"
PREFIX = "checkpoint-"
_STEP = re.compile(rf"^{PREFIX}(\d+)$")


# ---------------------------------------------------------------------------------------------
# Committing


def _fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename below is still atomic
    finally:
        os.close(fd)


def file_sizes(folder: Path) -> dict[str, int]:
    """Relative path -> size of every file below ``folder`` (the marker itself excluded)."""
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def commit(staging: Path, final: Path, step: int, recipe_hash: str, world_size: int) -> Path:
    """Make a fully written staging checkpoint durable and visible as ``final``."""
    files = file_sizes(staging)
    for relative in files:
        _fsync_file(staging / relative)
    marker = {
        "step": step,
        "files": files,
        "recipe_hash": recipe_hash,
        "world_size": world_size,
        "llmkit_version": __version__,
        "committed_at": time.time(),
    }
    tmp = staging / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(marker, indent=2), encoding="utf-8")
    _fsync_file(tmp)
    os.replace(tmp, staging / MARKER)
    _fsync_dir(staging)
    # A folder with the same name (a leftover, or a second save at the same step) is moved aside
    # first, so that at every instant a complete checkpoint-N exists or none does.
    aside = final.with_name(f".{final.name}.replaced")
    if final.exists():
        if aside.exists():
            shutil.rmtree(aside)
        os.replace(final, aside)
    os.replace(staging, final)
    _fsync_dir(final.parent)
    if aside.exists():
        shutil.rmtree(aside, ignore_errors=True)
    return final


# ---------------------------------------------------------------------------------------------
# Validating and choosing


def checkpoint_step(path: Path) -> int | None:
    """The step number of a ``checkpoint-N`` folder name, or None."""
    match = _STEP.match(path.name)
    return int(match.group(1)) if match else None


def list_checkpoints(run_dir: Path) -> list[Path]:
    """``checkpoint-N`` folders of a run, newest (highest N) first."""
    if not run_dir.is_dir():
        return []
    found = [p for p in run_dir.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    return sorted(found, key=lambda p: checkpoint_step(p) or 0, reverse=True)


def read_marker(path: Path) -> dict[str, Any] | None:
    """The completion marker of a checkpoint, or None if absent or unreadable."""
    try:
        return json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def rejection(path: Path, world_size: int) -> str | None:
    """Why a checkpoint must not be used, or None when it is complete and fits this run."""
    marker = read_marker(path)
    if marker is None:
        if (path / MARKER).exists():
            return "its completion marker is unreadable"
        return "no completion marker (an interrupted save, or not written by llmkit)"
    for relative, size in marker.get("files", {}).items():
        file = path / relative
        if not file.is_file():
            return f"file {relative} is missing"
        if file.stat().st_size != size:
            return f"file {relative} has {file.stat().st_size} bytes, the marker says {size}"
    saved_world = int(marker.get("world_size", 1))
    if saved_world != world_size:
        return f"saved by {saved_world} process(es), this run has {world_size}"
    rng_files = ["rng_state.pth"] if world_size <= 1 else [f"rng_state_{rank}.pth" for rank in range(world_size)]
    for name in rng_files:
        if name not in marker.get("files", {}):
            return f"RNG state {name} is missing, so the resumed run would not be exact"
    return None


@dataclass
class ResumePoint:
    """The checkpoint to resume from and the ones that were passed over."""

    path: Path
    step: int
    rejected: list[tuple[str, str]]


def find_resume_point(run_dir: Path, world_size: int) -> ResumePoint:
    """The newest valid checkpoint; exit 2 when there is none at all, exit 4 when none is valid."""
    candidates = list_checkpoints(run_dir)
    if not candidates:
        raise UsageError(f"--resume: {run_dir} holds no checkpoint to resume from")
    rejected: list[tuple[str, str]] = []
    for path in candidates:
        reason = rejection(path, world_size)
        if reason is None:
            return ResumePoint(path=path, step=checkpoint_step(path) or 0, rejected=rejected)
        rejected.append((path.name, reason))
    listed = "; ".join(f"{name}: {why}" for name, why in rejected)
    raise ModelError(f"--resume: no usable checkpoint in {run_dir} ({listed})")


def clean_staging(run_dir: Path) -> None:
    """Remove what an interrupted save left in the staging folder."""
    staging = run_dir / STAGING
    if staging.exists():
        shutil.rmtree(staging, ignore_errors=True)


def rotate(run_dir: Path, keep: int | None, best: str | None) -> list[str]:
    """Delete committed checkpoints beyond the newest ``keep``, never the newest or the best one."""
    if not keep or keep < 1:
        return []
    committed = [p for p in list_checkpoints(run_dir) if read_marker(p) is not None]
    best_path = Path(best).resolve() if best else None
    keepers = {p for p in committed[:keep]}
    if committed:
        keepers.add(committed[0])
    deleted = []
    for path in committed:
        if path in keepers or (best_path is not None and path.resolve() == best_path):
            continue
        shutil.rmtree(path, ignore_errors=True)
        deleted.append(path.name)
    return deleted


# ---------------------------------------------------------------------------------------------
# Recipe identity


# Keys that change how a run is observed, not what it computes: resuming with them changed is fine.
NEUTRAL_KEYS = (
    "training.logging_steps",
    "training.logging_strategy",
    "training.logging_first_step",
    "training.report_to",
    "training.per_device_eval_batch_size",
    "training.dataloader_num_workers",
    "training.save_total_limit",
    "training.output_dir",
    "training.run_name",
    "training.hub_token",
    "generate",
    "eval.metrics",
)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): data}


def _neutral(key: str) -> bool:
    return any(key == n or key.startswith(f"{n}.") for n in NEUTRAL_KEYS)


def recipe_hash(recipe_data: dict[str, Any]) -> str:
    """A stable hash of the parts of a recipe that determine the training computation."""
    relevant = {k: v for k, v in sorted(_flatten(recipe_data).items()) if not _neutral(k)}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def recipe_diff(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Field-by-field differences that matter for resuming (``key: old -> new``)."""
    before, after = _flatten(saved), _flatten(current)
    lines = []
    for key in sorted(set(before) | set(after)):
        if _neutral(key) or before.get(key) == after.get(key):
            continue
        lines.append(f"{key}: {before.get(key)!r} -> {after.get(key)!r}")
    return lines


def fingerprint_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a data file's bytes (what a resumed run must see again)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# The Trainer side


def committing_trainer(base: type, recipe_hash_value: str, keep: int | None) -> type:
    """A subclass of ``base`` (Trainer or Seq2SeqTrainer) whose checkpoints are committed atomically.

    A callback cannot choose where Trainer writes a checkpoint, so this is the one Trainer subclass
    in llmkit: it points ``_get_output_dir`` at the staging folder while ``_save_checkpoint`` runs,
    then commits and rotates. Trainer's own rotation is off (its ``save_total_limit`` is None).
    """

    class CommittingTrainer(base):  # type: ignore[misc, valid-type]
        _llmkit_saving = False

        def _get_output_dir(self, trial: Any) -> str:
            run_dir = super()._get_output_dir(trial)
            return os.path.join(run_dir, STAGING) if self._llmkit_saving else run_dir

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            from llmkit import faults

            run_dir = Path(super()._get_output_dir(trial))
            name = f"{PREFIX}{self.state.global_step}"
            staging = run_dir / STAGING / name
            self._llmkit_saving = True
            try:
                super()._save_checkpoint(model, trial)
                faults.during_save(staging, self.state.global_step)
            except OSError:
                if self.args.should_save:
                    shutil.rmtree(staging, ignore_errors=True)
                raise
            finally:
                self._llmkit_saving = False
            _barrier(self.args)
            final = run_dir / name
            if self.args.should_save:
                best = self.state.best_model_checkpoint
                if best and Path(best).parent.name == STAGING:
                    self.state.best_model_checkpoint = str(run_dir / Path(best).name)
                    state_file = staging / "trainer_state.json"
                    if state_file.exists():
                        data = json.loads(state_file.read_text(encoding="utf-8"))
                        data["best_model_checkpoint"] = self.state.best_model_checkpoint
                        state_file.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
                commit(staging, final, self.state.global_step, recipe_hash_value, self.args.world_size)
                with contextlib.suppress(OSError):
                    staging.parent.rmdir()  # only succeeds when empty
                removed = rotate(run_dir, keep, self.state.best_model_checkpoint)
                if removed:
                    log.debug("rotated out %s", ", ".join(removed))
            _barrier(self.args)

    CommittingTrainer.__name__ = f"Committing{base.__name__}"
    return CommittingTrainer


def _barrier(args: Any) -> None:
    import torch.distributed as dist

    if args.world_size > 1 and dist.is_available() and dist.is_initialized():
        dist.barrier()
