"""How a training run ends: every way out of a run leaves ``run.json`` with a final status.

``recorded(record)`` wraps everything a run does after its record exists. Whatever ends it (a signal,
divergence, a full disk, an exception from Trainer or from an integration such as a logging backend)
is written as ``finished``, ``interrupted``, ``diverged`` or ``failed`` before the error travels on,
and failures of the machine (memory, disk) become the documented ``ResourceError`` (exit 6).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

from llmkit.errors import DivergedError, LlmkitError, ResourceError, RunInterrupted
from llmkit.train.rundir import RunRecord

log = logging.getLogger(__name__)

_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# torch.save and safetensors report a failed write without an errno; these are their words for it.
_WRITE_FAILURES = (
    "no space left",
    "file write failed",
    "disk quota exceeded",
    "failed writing file",
    "pytorchstreamwriter",
    "unexpected pos",  # torch.save's zip writer when a write came up short
)
_NEARLY_FULL = 1 << 20  # bytes free under which an unexplained write error is taken for a full disk


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]


def _disk_filename(exc: BaseException) -> str | bool | None:
    """The file being written when the disk filled (or True when unnamed); False when not a disk failure."""
    for item in _chain(exc):
        if isinstance(item, OSError) and item.errno in _DISK_ERRNOS:
            return item.filename or True
        if isinstance(item, OSError | RuntimeError) and any(w in str(item).lower() for w in _WRITE_FAILURES):
            return True
    return False


def is_disk_full(exc: BaseException) -> bool:
    """Whether an exception (or one it was raised from) is a write that failed for lack of space."""
    return bool(_disk_filename(exc))


def _out_of_memory(exc: BaseException) -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return isinstance(exc, MemoryError)
    for item in _chain(exc):
        if isinstance(item, torch.OutOfMemoryError | MemoryError):
            return True
        if isinstance(item, RuntimeError) and "out of memory" in str(item).lower():
            return True
    return False


def as_resource_error(exc: BaseException, where: Path | None = None) -> ResourceError | None:
    """Out-of-memory and disk-full failures, from wherever they surface, as ResourceError (exit 6)."""
    if isinstance(exc, ResourceError):
        return exc
    filename = _disk_filename(exc)
    if not filename and where is not None and isinstance(exc, OSError | RuntimeError):
        with contextlib.suppress(OSError):
            filename = shutil.disk_usage(where).free < _NEARLY_FULL
    if filename:
        place = f" while writing {filename}" if isinstance(filename, str) else ""
        free = ""
        if where is not None:
            with contextlib.suppress(OSError):
                free = f" ({shutil.disk_usage(where).free // 2**20} MiB free on that disk now)"
        return ResourceError(
            f"out of disk space{place}{free}; committed checkpoints are intact: free space, then rerun with "
            "--resume (or plainly, if the run had not saved anything yet)"
        )
    if _out_of_memory(exc):
        return ResourceError(
            "out of memory: lower training.per_device_train_batch_size (raise gradient_accumulation_steps to "
            "keep the effective batch), data.max_seq_length, or set training.gradient_checkpointing=true"
        )
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def recorded(record: RunRecord) -> Iterator[None]:
    """Give the run its final status however the enclosed code ends; map resource failures to exit 6."""
    try:
        yield
    except RunInterrupted:
        record.finish("interrupted")
        raise
    except KeyboardInterrupt:
        record.finish("interrupted")
        raise RunInterrupted("aborted by a second interrupt; nothing was saved from the current step", 130) from None
    except DivergedError as exc:
        record.finish("diverged", error=_first_line(exc))
        raise
    except BaseException as exc:
        mapped = exc if isinstance(exc, LlmkitError) else as_resource_error(exc, record.run_dir)
        record.finish("failed", error=_first_line(mapped or exc))
        if mapped is not None and mapped is not exc:
            raise mapped from exc
        raise


@contextlib.contextmanager
def undo_on_failure(record: RunRecord) -> Iterator[None]:
    """Remove what the enclosed write added to the run directory if it fails (no half-written files)."""
    before = {p.name for p in record.run_dir.iterdir()} if record.run_dir.is_dir() else set()
    try:
        yield
    except BaseException:
        for path in record.run_dir.iterdir():
            if path.name in before:
                continue
            with contextlib.suppress(OSError):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        raise
