"""The run directory: who may write there, and ``run.json``, the record of what happened in it.

A directory that holds anything is refused unless the user asked to ``--resume`` or ``--overwrite``;
``--overwrite`` removes only the files an earlier llmkit run listed as its own, so a user's file
placed there survives.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmkit import __version__
from llmkit.config import redact_argv
from llmkit.errors import UsageError

RUN_FILE = "run.json"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.json"


def now() -> str:
    """UTC time stamp, seconds resolution."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from a file, or {} when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file, then rename) so a crash never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def prepare_output_dir(output_dir: Path, resume: bool, overwrite: bool) -> set[str]:
    """Apply the run directory policy; return the names in it that llmkit must leave alone."""
    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other; choose one")
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"--output-dir: {output_dir} exists and is not a directory")
    if not output_dir.exists() or not any(output_dir.iterdir()):
        if resume:
            raise UsageError(f"--resume: {output_dir} holds no run to resume")
        return set()
    record = read_json(output_dir / RUN_FILE)
    present = {p.name for p in output_dir.iterdir()}
    ours = set(record.get("files", [])) | ({RUN_FILE, RECIPE_FILE, METRICS_FILE} if record else set())
    if record:
        ours |= {name for name in present if name.startswith(("checkpoint-", ".llmkit"))}
    if resume:
        if not record:
            raise UsageError(f"--resume: {output_dir} was not written by llmkit (it has no {RUN_FILE})")
        return present - ours
    if not overwrite:
        what = f"a {record.get('status', 'unknown')} llmkit run" if record else "files llmkit did not write"
        raise UsageError(
            f"--output-dir: {output_dir} already holds {what}; pass --overwrite to replace it, "
            "--resume to continue it, or choose another --output-dir"
        )
    if not record:
        raise UsageError(
            f"--output-dir: {output_dir} holds files llmkit did not write; --overwrite only replaces llmkit "
            "runs, so choose an empty or new directory"
        )
    for name in sorted(present & ours):
        target = output_dir / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    return present - ours


class RunRecord:
    """``run.json``: versions, command line, status, data fingerprints and the files llmkit wrote."""

    def __init__(self, run_dir: Path, user_files: set[str], data: dict[str, Any], writer: bool = True):
        self.run_dir, self.user_files, self.data, self.writer = run_dir, user_files, data, writer

    @classmethod
    def start(
        cls,
        run_dir: Path,
        user_files: set[str],
        *,
        command: str,
        task: str,
        model: str,
        recipe_path: str | None,
        overrides: list[str],
        argv: list[str],
        world_size: int,
        data_fingerprints: dict[str, str],
        resume_from: str | None,
        writer: bool = True,
    ) -> RunRecord:
        """Begin (or, on resume, continue) the record of a run."""
        previous = read_json(run_dir / RUN_FILE) if resume_from else {}
        data = {
            **previous,
            "llmkit_version": __version__,
            "command": command,
            "task": task,
            "model": model,
            "recipe": recipe_path,
            "overrides": redact_argv(overrides),
            "argv": redact_argv(argv),
            "world_size": world_size,
            "data_fingerprints": data_fingerprints,
            "status": "running",
            "started": previous.get("started", now()),
            "ended": None,
        }
        if resume_from:
            data["resumes"] = [*previous.get("resumes", []), {"from": resume_from, "at": now()}]
        record = cls(run_dir, user_files, data, writer)
        record.save()
        return record

    def save(self) -> None:
        """Write run.json, listing every file in the run directory that the user did not put there."""
        if not self.writer:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        present = {p.name for p in self.run_dir.iterdir()} | {RUN_FILE}
        self.data["files"] = sorted(present - self.user_files - {f".{RUN_FILE}.tmp"})
        write_json(self.run_dir / RUN_FILE, self.data)

    def finish(self, status: str, **extra: Any) -> None:
        """Record how the run ended (finished, interrupted, diverged, failed)."""
        self.data.update(status=status, ended=now(), **extra)
        self.save()


def list_runs(folder: Path, depth: int = 3) -> list[dict[str, Any]]:
    """Every llmkit run under ``folder`` (it included), newest first: task, model, key metric, status, date."""
    from llmkit.tasks import TASKS, get_task

    found: list[dict[str, Any]] = []
    candidates = [folder] if (folder / RUN_FILE).is_file() else []
    for level in range(1, depth + 1):
        candidates += [p.parent for p in folder.glob("/".join(["*"] * level) + f"/{RUN_FILE}")]
    for run_dir in dict.fromkeys(candidates):
        record = read_json(run_dir / RUN_FILE)
        if not record:
            continue
        metrics = read_json(run_dir / METRICS_FILE)
        task = str(record.get("task", ""))
        key = get_task(task).key_metric if task in TASKS else None
        value, split = None, None
        for name in ("test", "validation"):
            if key and isinstance(metrics.get(name), dict) and key in metrics[name]:
                value, split = metrics[name][key], name
                break
        found.append(
            {
                "run": str(run_dir),
                "task": task,
                "model": record.get("model", ""),
                "metric": f"{key} {value:.4f} ({split})" if value is not None else "",
                "status": record.get("status", "unknown"),
                "date": str(record.get("ended") or record.get("started") or ""),
            }
        )
    return sorted(found, key=lambda row: row["date"], reverse=True)
