"""The harness behind ``test_fault_table.py``: one row per bad input or fault, from the ``fault_cases_*`` modules.

Each case builds what it needs under a private folder (``Env``), runs the real CLI in-process, and the
harness checks the three promises every row shares: the documented exit code, a short message without a
traceback that names what is wrong (``fragments``), and that no file the user had was changed or removed
(every file under the case's folder is hashed before and after; only ``may_write`` globs may change).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from paths import FIXTURES

EXIT_KINDS = {
    2: ("recipe error", "usage error"),
    3: ("data error",),
    4: ("model error",),
    5: ("training diverged",),
    6: ("out of resources",),
    130: ("interrupted",),
    143: ("interrupted",),
}


@dataclass
class Env:
    """A private folder for one case, with helpers to write inputs into it."""

    tmp: Path
    runs: dict[str, Path]  # task -> a finished session run, copied on demand by ``finished_run``
    environ: dict[str, str] = field(default_factory=dict)  # variables set while the CLI runs
    patches: list[tuple[str, Any]] = field(default_factory=list)  # ("module.attr", value) set while it runs
    cleanups: list[Callable[[], None]] = field(default_factory=list)  # run after the case, pass or fail
    held: list[Any] = field(default_factory=list)  # objects to keep alive during the run (a held lock)

    def write(self, name: str, content: str | bytes) -> Path:
        """Write a file (text as UTF-8, or raw bytes) under the case's folder."""
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def recipe(self, task: str = "textcls", extra: str = "", name: str = "recipe.yaml", **replace: str) -> Path:
        """A copy of ``tests/fixtures/<task>-tiny.yaml`` with absolute data paths, edited by ``replace`` and ``extra``.

        ``replace`` maps an exact substring of the fixture recipe to its replacement; ``extra`` is appended.
        """
        text = (FIXTURES / f"{task}-tiny.yaml").read_text(encoding="utf-8")
        for old, new in replace.items():
            assert old in text, f"{old!r} is not in {task}-tiny.yaml"
            text = text.replace(old, new)
        lines = []
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip().endswith("_file") and value.strip() and not value.strip().startswith("/"):
                candidate = FIXTURES / value.strip()
                if candidate.exists():
                    line = f"{key}: {candidate}"
            lines.append(line)
        return self.write(name, "\n".join(lines) + "\n" + extra)

    def data(self, relative: str) -> Path:
        """A copy of a fixture data file (``textcls/train.csv``) in the case's folder, to edit."""
        target = self.tmp / "data" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(FIXTURES / relative, target)
        return target

    def finished_run(self, task: str = "textcls", name: str = "run") -> Path:
        """A private copy of a finished tiny run of ``task`` (textcls or clm)."""
        target = self.tmp / name
        shutil.copytree(self.runs[task], target, symlinks=True)
        return target


@dataclass
class Case:
    """One bad input or fault: how to set it up, and what the user must see."""

    id: str
    setup: Callable[[Env], list[Any]]  # builds the inputs, returns the CLI arguments
    code: int
    fragments: list[str] = field(default_factory=list)  # must all appear in stderr
    may_write: list[str] = field(default_factory=list)  # globs (relative to the case folder) llmkit may change
    check: Callable[[Env], None] | None = None  # any extra assertion after the run


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``folder``."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def allowed(relative: str, globs: list[str]) -> bool:
    if Path(relative).name == ".llmkit.lock":  # the run lock is llmkit's own, taken and dropped by every run
        return True
    return any(Path(relative).match(pattern) or relative.startswith(pattern.rstrip("*")) for pattern in globs)
