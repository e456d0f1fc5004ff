"""Checking weight and checkpoint files before a library loads them, without letting them run code.

PyTorch's ``.pt``/``.pth``/``.bin`` files are pickles, and a plain ``torch.load`` calls whatever function
the file names (``os.system``...). transformers 5, accelerate and PEFT read every such file they load on
resume or ``from_pretrained`` with ``weights_only=True`` (a restricted unpickler that admits tensors and
plain containers only), so nothing runs; but a refused or unreadable file then surfaces as an
UnpicklingError (or IndexError, EOFError...) deep inside ``Trainer.train``, an internal error. llmkit
reads each such file once beforehand, the same safe way (memory-mapped: the tensors are not read, the
pickle is), and turns a refusal into one line that names the file. Safetensors files get their header
read, which also tells a truncated file (the header's offsets run past its end).
"""

from __future__ import annotations

import contextlib
import pickle
import re
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

PICKLE_SUFFIXES = (".pt", ".pth", ".bin")
# Trainer writes this pickled TrainingArguments object for the record and never reads it back; a safe
# load refuses it (it is a class instance), and no llmkit or library code path loads it.
NEVER_LOADED = frozenset({"training_args.bin"})

_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


# The extra globals a safe load admits, as a context manager factory.
Allowlist = Callable[[], contextlib.AbstractContextManager[Any]]


def _allowlist(path: Path, allowlist: Allowlist | None) -> contextlib.AbstractContextManager[Any]:
    """The extra globals for this file: numpy's RNG state in ``rng_state*.pth``, when the caller knows them.

    The training layer passes the allowlist Trainer itself loads those files under
    (``train.trainer_api.trainer_safe_globals``); model folders hold no RNG state and need none.
    """
    if allowlist is None or not path.name.startswith("rng_state"):
        return contextlib.nullcontext()
    return allowlist()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def describe(exc: BaseException) -> str:
    """Why a safe ``torch.load`` failed, in one line (never the advice to retry with ``weights_only=False``)."""
    text = str(exc)
    found = _GLOBAL.search(text)
    if found:
        return (
            f"it asks for {found.group(1)}, which a safe load refuses (a PyTorch state file holds only "
            "tensors and plain values); nothing in it was run"
        )
    if isinstance(exc, pickle.UnpicklingError) and "Weights only load failed" in text:
        detail = text.partition("WeightsUnpickler error:")[2].partition("Check the documentation")[0]
        lines = [line.strip() for line in detail.splitlines() if line.strip()]
        reason = lines[0] if lines else "not a plain state file"
        return f"it holds pickle data that a safe load refuses ({reason}); nothing in it was run"
    return f"it is not a readable PyTorch file ({_first_line(exc)})"


def pickle_problem(path: Path, allowlist: Allowlist | None = None) -> str | None:
    """Why a PyTorch pickle cannot be loaded with ``weights_only=True``, or None when it can."""
    import torch

    with path.open("rb") as handle:
        head = handle.read(4)
    if not head:
        return "it is empty"
    mappable = zipfile.is_zipfile(path)
    if not mappable and head[:1] != b"\x80":  # a zip archive (torch.save) or a pickle (PROTO opcode first)
        return f"it is not a PyTorch file (neither a zip archive nor a pickle; it starts with {head!r})"
    try:
        with _allowlist(path, allowlist), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # mmap: the pickle is unpickled in full, the tensor bytes are not read (0.02 s instead of 0.7 s
            # for MiniLM's 182 MB optimizer.pt). Only the zip format (torch >= 1.6) can be mapped.
            torch.load(path, map_location="cpu", weights_only=True, mmap=mappable)
    except Exception as exc:  # whatever the cause, the file is unusable; it is never retried unsafely
        return describe(exc)
    return None


def safetensors_problem(path: Path) -> str | None:
    """Why a safetensors file cannot be opened (unreadable or truncated header), or None."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as exc:  # SafetensorError, OSError: either way the file cannot be loaded
        return f"it is not a readable safetensors file ({_first_line(exc)})"
    return None


def file_problem(path: Path, allowlist: Allowlist | None = None) -> str | None:
    """Why a weight or state file cannot be loaded safely, or None (other kinds of file: None)."""
    if path.name in NEVER_LOADED:
        return None
    if path.suffix == ".safetensors":
        return safetensors_problem(path)
    if path.suffix in PICKLE_SUFFIXES:
        return pickle_problem(path, allowlist)
    return None


def first_problem(paths: list[Path], allowlist: Allowlist | None = None) -> tuple[Path, str] | None:
    """The first of ``paths`` that cannot be loaded safely, with the reason, or None."""
    for path in paths:
        problem = file_problem(path, allowlist)
        if problem is not None:
            return path, problem
    return None


def model_weight_files(folder: Path, allow_pickle: bool) -> list[Path]:
    """The weight files ``from_pretrained`` reads from a ``save_pretrained`` folder.

    Safetensors when there are any (transformers prefers them), else, when pickles are allowed, the
    ``.bin`` files (``pytorch_model*.bin``; never ``training_args.bin``).
    """
    safetensors = sorted(folder.glob("*.safetensors"))
    if safetensors or not allow_pickle:
        return safetensors
    return sorted(p for p in folder.glob("*.bin") if p.name not in NEVER_LOADED)
