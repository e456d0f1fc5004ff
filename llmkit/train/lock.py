"""The run directory's lock: one process writes a run at a time, and a dead writer is recognised.

An OS file lock (``flock`` on ``.llmkit.lock``) is held for as long as a training process uses the
directory; the file also names the holder (pid, host, start time) so a refusal can say who it is.
``flock`` locks belong to the open file, so the lock is released by the kernel when the holder dies
in any way (``kill -9``, power loss): a lock file that nobody holds is a stale one, and the run it
guarded ``died``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmkit.errors import UsageError

LOCK_FILE = ".llmkit.lock"

try:  # POSIX; on Windows the lock degrades to the pid record alone
    import fcntl
except ImportError:  # pragma: no cover - not on the CI platforms
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a run directory's lock."""

    pid: int | None
    host: str
    started: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, since {self.started}"


def read_holder(run_dir: Path) -> Holder | None:
    """The process named in the lock file, or None when there is no readable lock file."""
    try:
        data: Any = json.loads((run_dir / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    return Holder(pid if isinstance(pid, int) else None, str(data.get("host", "?")), str(data.get("started", "?")))


def _try_flock(handle: Any) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def is_held(run_dir: Path) -> bool:
    """Whether a live process holds the run directory's lock right now (never takes it for long)."""
    path = run_dir / LOCK_FILE
    try:
        handle = path.open("rb")
    except OSError:
        return False
    with handle:
        if fcntl is None:
            holder = read_holder(run_dir)
            return holder is not None and holder.host == socket.gethostname() and _pid_alive(holder.pid)
        free = _try_flock(handle)
        if free:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return not free


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """Hold ``RUN/.llmkit.lock`` while a run writes there; refuse (exit 2) when a live process holds it."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self.handle: Any = None
        self.stale: Holder | None = None  # the dead holder found when the lock was taken, if any

    def acquire(self) -> RunLock:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        previous = read_holder(self.run_dir)
        # Opened without truncating: the holder's record must survive a refused attempt.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        handle = os.fdopen(fd, "r+b", buffering=0)  # unbuffered: nothing left to flush on a full disk
        if not _try_flock(handle):
            handle.close()
            holder = read_holder(self.run_dir)
            who = holder.describe() if holder else "another process"
            raise UsageError(
                f"--output-dir: {self.run_dir} is in use by a running llmkit process ({who}); wait for it to "
                "finish, stop it, or choose another --output-dir"
            )
        self.handle = handle
        self.stale = previous
        record = json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        ).encode()
        # A lock record that cannot be written (disk full) still leaves the flock itself in force.
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.write(record.ljust(max(len(record), 256)))
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (the file goes first, while it is still ours)."""
        if self.handle is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self.handle.close()
        self.handle = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
