"""Resuming a run: is the recipe (and its data) still the one the checkpoints were trained with?

A checkpoint's marker records a hash of the recipe's computation-relevant keys; ``--resume`` compares
the saved recipe and the data files' sha256 with the current ones and lists every difference.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from llmkit.config import Recipe, recipe_to_dict
from llmkit.errors import ConfigError, ModelError
from llmkit.recipe import load_saved_recipe
from llmkit.train.checkpoints import fingerprint_file, newest_valid
from llmkit.train.rundir import RECIPE_FILE, RUN_FILE, read_json

log = logging.getLogger(__name__)


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


def run_recipe_hash(recipe: Recipe) -> str:
    """The hash committed checkpoints of this recipe carry."""
    return recipe_hash(recipe_to_dict(recipe, redact=False))


def last_good_checkpoint(run_dir: Path, world_size: int) -> str | None:
    """The newest checkpoint that passes every check (what a diverged run may name as its last good one)."""
    found = newest_valid(run_dir, world_size)
    return found.name if found else None


def data_fingerprints(recipe: Recipe) -> dict[str, str]:
    """sha256 of every local data file the recipe trains and validates on."""
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
