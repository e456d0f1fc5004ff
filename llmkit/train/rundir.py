"""The run directory: who may write there, what llmkit wrote there, and ``run.json``, the record of the run.

A directory that holds anything is refused unless the user asked to ``--resume`` or ``--overwrite``.
``run.json`` lists, under ``files``, every name llmkit itself wrote into the directory (its manifest);
``--overwrite`` removes exactly those names and nothing else, so a user's ``checkpoint-5-keep/`` or
``notes.txt`` placed there survives. The manifest is built from what each llmkit write added
(``RunRecord.track``), never from name patterns.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit import __version__
from llmkit.errors import UsageError
from llmkit.train.lock import LOCK_FILE, Holder, RunLock, is_held

if TYPE_CHECKING:
    from llmkit.config import LoadedRecipe

log = logging.getLogger(__name__)

RUNS_ROOT = Path("runs")  # where runs go without --output-dir or training.output_dir; `llmkit runs` looks there
RUN_FILE = "run.json"
RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.json"
FINAL_STATUSES = ("finished", "failed", "interrupted", "diverged", "died")
RECORD_SLACK = 4096  # spare bytes kept in run.json so its final status can be written on a full disk
_CHECKPOINT = re.compile(r"^checkpoint-\d+$")
_WEIGHTS = ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")


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


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write a file through a temp file and a rename: a crash or a full disk never leaves half a file."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_json(path: Path, data: Any, slack: int = 0) -> None:
    """Write JSON atomically; ``slack`` trailing spaces leave room for a later in-place rewrite."""
    text = json.dumps(data, indent=2, default=str) + "\n"
    write_atomic(path, text + " " * slack)


def rewrite_in_place(path: Path, data: dict[str, Any], essentials: tuple[str, ...]) -> bool:
    """Overwrite an existing JSON file within its own bytes (a full disk grants no new blocks).

    The text is padded with spaces to the old length (still valid JSON); when the whole record does not
    fit, only the ``essentials`` keys are written. Returns whether it worked.
    """
    try:
        size = path.stat().st_size
    except OSError:
        return False
    for candidate in (data, {key: data.get(key) for key in essentials}):
        raw = (json.dumps(candidate, indent=2, default=str) + "\n").encode()
        if len(raw) <= size:
            try:
                with path.open("r+b") as handle:
                    handle.write(raw.ljust(size))
                return True
            except OSError:
                return False
    return False


def effective_status(run_dir: Path, record: dict[str, Any]) -> str:
    """The record's status, except that a ``running`` run whose lock nobody holds has ``died``."""
    status = str(record.get("status", "unknown"))
    if status == "running" and not is_held(run_dir):
        return "died"
    return status


def _owned(record: dict[str, Any]) -> set[str]:
    files = record.get("files", [])
    return {str(name) for name in files} if isinstance(files, list) else set()


def _never_trained(record: dict[str, Any], owned: set[str]) -> bool:
    """A run that ended before it saved any checkpoint or weights: rerunning it loses nothing."""
    return not any(_CHECKPOINT.match(name) or name in _WEIGHTS for name in owned)


def _remove(run_dir: Path, names: set[str]) -> None:
    for name in sorted(names):
        target = run_dir / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def _what_is_there(record: dict[str, Any], status: str, holder: Holder | None) -> str:
    if not record:
        return "files llmkit did not write"
    if status == "died":
        who = f" ({holder.describe()})" if holder else ""
        return f"a run whose process died{who} without finishing"
    return f"a {status} llmkit run"


def run_dir_for(explicit: Path | None, loaded: LoadedRecipe, from_run: Path | None) -> Path:
    """--output-dir, else training.output_dir, else runs/<recipe name>; a re-run defaults to RUN-rerun.

    A run saves its recipe with ``training.output_dir`` set to where it ran, so with ``--from-run`` that
    value names the original run: it counts only when the user set it again as an override.
    """
    if explicit is not None:
        return explicit
    configured = loaded.recipe.training.output_dir
    if from_run is not None and not _overrides_key(loaded.overrides, ("training", "output_dir")):
        return Path(f"{str(from_run).rstrip('/')}-rerun")
    return Path(configured) if configured else RUNS_ROOT / loaded.name


def _overrides_key(overrides: tuple[str, ...] | list[str], key: tuple[str, ...]) -> bool:
    """Whether one of the ``KEY=VALUE`` overrides sets ``key`` (they were validated when the recipe loaded)."""
    from llmkit.config.overrides import parse_override

    return any(parse_override(token)[0] == key for token in overrides)


def prepare_output_dir(output_dir: Path, resume: bool, overwrite: bool, previous: Holder | None = None) -> set[str]:
    """Apply the run directory policy; return the names llmkit wrote there before (kept in the manifest).

    Called while holding the directory's lock, so a run recorded as ``running`` here has died;
    ``previous`` is the process the stale lock file named, for the message.
    """
    if resume and overwrite:
        raise UsageError("--resume and --overwrite contradict each other; choose one")
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"--output-dir: {output_dir} exists and is not a directory")
    present = {p.name for p in output_dir.iterdir()} - {LOCK_FILE} if output_dir.is_dir() else set()
    if not present:
        if resume:
            raise UsageError(f"--resume: {output_dir} holds no run to resume")
        return set()
    record = read_json(output_dir / RUN_FILE)
    owned = _owned(record) | ({RUN_FILE} if record else set())
    status = str(record.get("status", "unknown"))
    status = "died" if status == "running" else status
    if resume:
        if not record:
            raise UsageError(f"--resume: {output_dir} was not written by llmkit (it has no readable {RUN_FILE})")
        return owned & present
    if not overwrite and record and status != "finished" and _never_trained(record, owned):
        log.warning("replacing the %s run in %s: it stopped before saving anything", status, output_dir)
        _remove(output_dir, owned & present)
        return set()
    if not overwrite:
        hint = "--resume to continue it, " if record and status != "finished" else ""
        raise UsageError(
            f"--output-dir: {output_dir} already holds {_what_is_there(record, status, previous)}; pass "
            f"--overwrite to replace it, {hint}or choose another --output-dir"
        )
    if not record:
        raise UsageError(
            f"--output-dir: {output_dir} holds files llmkit did not write (no readable {RUN_FILE}); --overwrite "
            "only replaces llmkit runs, so choose an empty or new directory"
        )
    _remove(output_dir, owned & present)
    return set()


class RunRecord:
    """``run.json``: versions, command line, status, data fingerprints and the manifest of llmkit's files."""

    def __init__(self, run_dir: Path, owned: set[str], data: dict[str, Any], writer: bool = True):
        self.run_dir, self.owned, self.data, self.writer = run_dir, set(owned), data, writer

    @classmethod
    def start(
        cls,
        run_dir: Path,
        owned: set[str],
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
        from llmkit.config import redact_argv  # here, so that `llmkit runs` and --help never load pydantic

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
            "pid": os.getpid(),
            "started": previous.get("started", now()),
            "ended": None,
        }
        data.pop("error", None)
        if resume_from:
            data["resumes"] = [*previous.get("resumes", []), {"from": resume_from, "at": now()}]
        record = cls(run_dir, owned | {RUN_FILE}, data, writer)
        record.save()
        return record

    def claim(self, *names: str) -> None:
        """Add names llmkit wrote into the run directory to the manifest."""
        self.owned.update(names)

    @contextlib.contextmanager
    def track(self, keep: Callable[[str], bool] | None = None) -> Iterator[None]:
        """Claim what the enclosed llmkit write adds to the directory (only names ``keep`` accepts)."""
        before = self._names()
        try:
            yield
        finally:
            added = self._names() - before
            self.claim(*(name for name in added if keep is None or keep(name)))

    def _names(self) -> set[str]:
        return {p.name for p in self.run_dir.iterdir()} if self.run_dir.is_dir() else set()

    def save(self) -> None:
        """Write run.json with the manifest (the names llmkit wrote that still exist)."""
        if not self.writer:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        present = self._names()
        self.data["files"] = sorted((self.owned & present) | {RUN_FILE})
        write_json(self.run_dir / RUN_FILE, self.data, slack=RECORD_SLACK)

    def finish(self, status: str, **extra: Any) -> None:
        """Record how the run ended; on a full disk, rewrite the record within its reserved bytes."""
        self.data.update(status=status, ended=now(), **extra)
        try:
            self.save()
        except OSError as exc:
            if not self.writer:
                return
            if exc.errno != errno.ENOSPC or not rewrite_in_place(
                self.run_dir / RUN_FILE, self.data, ("status", "ended", "error", "files", "command", "task")
            ):
                log.warning("could not record the run's status in %s: %s", self.run_dir / RUN_FILE, exc)


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
            section = metrics.get(name)
            if key and isinstance(section, dict) and isinstance(section.get(key), int | float):
                value, split = section[key], name
                break
        found.append(
            {
                "run": str(run_dir),
                "task": task,
                "model": str(record.get("model", "")),
                "metric": f"{key} {value:.4f} ({split})" if value is not None else "",
                "status": effective_status(run_dir, record),
                "date": str(record.get("ended") or record.get("started") or ""),
            }
        )
    return sorted(found, key=lambda row: row["date"], reverse=True)


__all__ = ["FINAL_STATUSES", "METRICS_FILE", "RECIPE_FILE", "RUN_FILE", "RunLock", "RunRecord", "list_runs"]
