"""Files and folders the user names as outputs: never destroy what llmkit did not write.

Every command that writes a path the user gives (``generate --output``, ``eval --predictions``,
``recipes copy``, ``export OUT``) checks it here before any model loads, then writes through a temp
file (or folder) and a rename, so an error halfway leaves neither a 0-byte nor a half-written file.

- An existing file is replaced only with ``--overwrite``; a directory is never replaced by a file.
- A file a model or run directory needs (weights, config, tokenizer, recipe, llmkit's records,
  checkpoints) is never replaced, even with ``--overwrite``: writing JSONL over ``model.safetensors``
  is always a mistake.
- ``export`` writes ``llmkit-export.json`` (its manifest) into OUT; ``--overwrite`` replaces only a
  folder that holds an earlier export and nothing else.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmkit.errors import ResourceError, UsageError

EXPORT_MANIFEST = "llmkit-export.json"
# Names a model or run directory needs to load or to be resumed/reported: never an output's target.
MODEL_FILES = (
    "config.json",
    "generation_config.json",
    "recipe.yaml",
    "run.json",
    "metrics.json",
    "metrics.jsonl",
    "trainer_state.json",
    "training_args.bin",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "*.model",
    "adapter_config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "*.bin",
    "*.pt",
    "*.onnx",
    "*.onnx.data",
    "checkpoint-*",
    ".llmkit*",
    EXPORT_MANIFEST,
)
MARKERS = ("config.json", "run.json", "adapter_config.json", EXPORT_MANIFEST)  # what makes a model folder


def model_folders_of(path: Path, levels: int = 4) -> list[tuple[Path, str]]:
    """Each folder above ``path`` (up to ``levels``) that holds a model or run, with the name below it."""
    path = path.absolute().parent.resolve() / path.name  # through symlinked folders and ".."
    return [
        (parent, path.relative_to(parent).parts[0])
        for parent in list(path.parents)[:levels]
        if any((parent / marker).is_file() for marker in MARKERS)
    ]


def _owned_names(folder: Path) -> set[str]:
    """What the run record in ``folder`` lists as llmkit's own files."""
    try:
        record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    files = record.get("files") if isinstance(record, dict) else None
    return {str(name) for name in files} if isinstance(files, list) else set()


def is_model_file(folder: Path, name: str) -> bool:
    """Whether ``folder/name`` is (or would shadow) something the model or run in ``folder`` needs."""
    return name in _owned_names(folder) or any(fnmatch.fnmatch(name, pattern) for pattern in MODEL_FILES)


def check_output_file(
    path: Path, option: str, overwrite: bool, inputs: Iterable[Path] = (), flag: str = "--overwrite"
) -> None:
    """Refuse an output path that would lose data; call before anything expensive runs.

    Raises UsageError (exit 2) naming ``option`` when the path is a directory, sits under a file, is one of
    the command's ``inputs``, is a file a model or run folder needs, or exists and ``overwrite`` is off.
    """
    if path.is_dir():
        raise UsageError(f"{option}: {path} is a directory; give a file name, e.g. {path / 'out.jsonl'}")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{option}: {parent} is a file, so {path} cannot be created under it")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise UsageError(f"{option}: cannot write into {parent} (permission denied)")
            break
    for source in inputs:
        if path.exists() and source.exists() and path.resolve() == source.resolve():
            raise UsageError(f"{option}: {path} is also the input file; write the results to another file")
    for folder, name in model_folders_of(path):
        if not is_model_file(folder, name):
            continue
        where = "replace" if path.absolute().parent.resolve() == folder else "write inside"
        raise UsageError(
            f"{option}: {path} would {where} '{name}' of the model in {folder}, which llmkit needs; "
            "write the results outside the run directory or under another name"
        )
    if path.exists() and not overwrite:
        raise UsageError(f"{option}: {path} exists; pass {flag} to replace it, or choose another file")


def write_atomic(path: Path, content: str | bytes, option: str = "output") -> None:
    """Write a file through a temp file beside it and a rename; create missing parent folders.

    On any error the temp file is removed and an existing ``path`` is left as it was.
    """
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(path, option, exc) from None
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            shutil.copymode(path, tmp)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _write_error(path, option, exc) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_error(path: Path, option: str, exc: OSError) -> Exception:
    if exc.errno == errno.ENOSPC:
        return ResourceError(f"{option}: out of disk space while writing {path}; nothing was written")
    return UsageError(f"{option}: cannot write {path}: {exc.strerror or exc}")


def jsonl_text(rows: list[dict[str, Any]]) -> str:
    """One JSON object per line (UTF-8 kept as is)."""
    return "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)


def write_jsonl(path: Path, rows: list[dict[str, Any]], option: str = "output") -> None:
    """Write rows as JSONL atomically (the whole text is built first, so a bad row writes nothing)."""
    write_atomic(path, jsonl_text(rows), option)


# ---------------------------------------------------------------------------------------------
# export OUT: a folder of llmkit's own, replaced only as a whole


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def read_export_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of an earlier export in ``folder``, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((folder / EXPORT_MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), list) else None


def check_export_dir(out: Path, overwrite: bool) -> None:
    """Refuse an OUT folder that holds anything but an earlier export (and that one without ``overwrite``)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"OUT: {out} is a file; give a new or empty directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    manifest = read_export_manifest(out)
    if manifest is None:
        raise UsageError(
            f"OUT: {out} is not an empty directory and holds files llmkit did not write (no {EXPORT_MANIFEST}); "
            "choose a new or empty directory (--overwrite only replaces an earlier llmkit export)"
        )
    if not overwrite:
        raise UsageError(
            f"OUT: {out} is not an empty directory: it holds an earlier llmkit export; pass --overwrite to replace it"
        )
    foreign = sorted(set(_files_under(out)) - {str(f) for f in manifest["files"]} - {EXPORT_MANIFEST})
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise UsageError(
            f"OUT: {out} holds files that are not part of the earlier export ({shown}); "
            "move them away or choose another directory"
        )


def staging_dir(out: Path) -> Path:
    """A new hidden folder beside OUT where the export is written before it is moved into place."""
    try:
        out.absolute().parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.absolute().name}.llmkit-", dir=out.absolute().parent))
    except OSError as exc:
        raise _write_error(out, "OUT", exc) from None


def commit_export(staging: Path, out: Path, info: dict[str, Any]) -> list[str]:
    """Write the manifest into ``staging`` and put it in OUT's place (an earlier export is replaced whole)."""
    files = _files_under(staging)
    manifest = {**info, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "files": files}
    (staging / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.chmod(staging, 0o777 & ~_umask())
    if out.is_dir() and any(out.iterdir()):
        check_export_dir(out, overwrite=True)  # again: nothing of the user's may have appeared meanwhile
    if not out.exists():
        os.rename(staging, out)
        return sorted([*files, EXPORT_MANIFEST])
    old = Path(tempfile.mkdtemp(prefix=f".{out.absolute().name}.llmkit-old-", dir=out.absolute().parent))
    old.rmdir()
    try:
        os.rename(out, old)
    except OSError:  # OUT cannot move (the working directory, a mount point): replace its entries instead
        for entry in out.iterdir():
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        for entry in staging.iterdir():
            os.replace(entry, out / entry.name)
        staging.rmdir()
        return sorted([*files, EXPORT_MANIFEST])
    os.rename(staging, out)
    shutil.rmtree(old, ignore_errors=True)
    return sorted([*files, EXPORT_MANIFEST])


def discard(staging: Path) -> None:
    """Remove a staging folder after a failed export."""
    shutil.rmtree(staging, ignore_errors=True)
