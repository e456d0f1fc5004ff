"""Reading raw examples: local files of any common format, or a hub dataset, into named splits.

Every failure names the recipe field and the file (exit 3): a missing file, an empty one, text that is
not UTF-8 (line and byte), a malformed JSON line or CSV record (its line), an empty split, a missing
column. ``RawData.sources`` also locates each split's rows in its files, so tasks can name the lines
of bad rows (``llmkit.data.rows``); a carved validation split still points at the training file.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.data.rows import RowOrigin, Sources
from llmkit.errors import DataError, UsageError, did_you_mean

if TYPE_CHECKING:
    from llmkit.config import DataSection

log = logging.getLogger(__name__)

# file suffix -> (datasets builder, extra builder kwargs)
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
    ".txt": ("text", {}),
    ".text": ("text", {}),
}
SPLIT_FIELDS = {"train": "train_file", "validation": "validation_file", "test": "test_file"}
SAMPLE_LIMITS = {"train": "max_train_samples", "validation": "max_eval_samples", "test": "max_predict_samples"}


@dataclass
class RawData:
    """Raw splits plus where each came from (for messages and the run report)."""

    splits: dict[str, Any]  # split name -> datasets.Dataset
    # split name -> "data.train_file (path)"; its ``origins`` locate a split's rows in the files
    sources: Sources = field(default_factory=Sources)
    rows_read: dict[str, int] = field(default_factory=dict)


def _files(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _builder_for(paths: list[str], label: str) -> tuple[str, dict[str, Any]]:
    suffixes = {Path(p).suffix.lower() for p in paths}
    unknown = suffixes - FORMATS.keys()
    if unknown:
        raise DataError(f"{label}: unsupported file type '{sorted(unknown)[0]}' (use one of: {', '.join(FORMATS)})")
    if len({repr(FORMATS[s]) for s in suffixes}) > 1:
        raise DataError(f"{label}: all files of one split must share a format, got {', '.join(sorted(suffixes))}")
    return FORMATS[suffixes.pop()]


def load_file_split(paths: list[str], label: str, split: str, sample_by: str | None = None) -> Any:
    """Load one split from local files; raise DataError naming ``label`` (the recipe key) on any problem.

    ``sample_by`` ("line", "paragraph" or "document") says what one row of a text file is. A file with
    nothing in it is refused before loading; when datasets cannot read a file, ``datacheck`` says why
    and where (encoding, the bad JSON line, the CSV record), in place of the parser's own error.
    """
    import datasets

    from llmkit.data.check import blank_file, file_problem, library_cause, naming

    for path in paths:
        if not Path(path).is_file():
            raise DataError(f"{label}: file not found: {path}")
    builder, kwargs = builder_of(paths, label, sample_by)
    for path in paths:
        problem = blank_file(path) if builder != "parquet" else None
        if problem is not None:
            raise DataError(f"{label}: {naming(path, problem)}")
    try:
        with _quiet_datasets():
            dataset = datasets.load_dataset(builder, data_files={split: paths}, split=split, **kwargs)
    except Exception as exc:  # datasets raises many types for malformed files
        for path in paths:
            problem = file_problem(path, builder, kwargs)
            if problem is not None:
                raise DataError(f"{label}: {naming(path, problem)}") from exc
        cause = library_cause(exc)
        if "corresponds to no data" in cause:
            raise DataError(f"{label}: {', '.join(paths)} has no rows") from exc
        raise DataError(f"{label}: cannot read {', '.join(paths)}: {cause}") from exc
    if len(dataset) == 0:
        raise DataError(f"{label}: {', '.join(paths)} has no rows")
    if builder == "json":
        _check_utf8(dataset, paths, label)
    return dataset


def _check_utf8(dataset: Any, paths: list[str], label: str) -> None:
    """pyarrow's JSON reader keeps bytes that are not UTF-8 (the other readers refuse them): validate in Arrow."""
    import pyarrow as pa

    from llmkit.data.check import naming, utf8_problem

    try:
        dataset.data.table.validate(full=True)
    except pa.ArrowInvalid as exc:
        for path in paths:
            problem = utf8_problem(path)
            if problem is not None:
                raise DataError(f"{label}: {naming(path, problem)}") from exc
        raise DataError(f"{label}: {', '.join(paths)}: {exc}") from exc


def builder_of(paths: list[str], label: str, sample_by: str | None = None) -> tuple[str, dict[str, Any]]:
    """The datasets builder and its arguments for a split's files."""
    builder, kwargs = _builder_for(paths, label)
    if builder == "text" and sample_by:
        kwargs = {**kwargs, "sample_by": sample_by}
    return builder, kwargs


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence datasets' own error logs while loading: a failure is reported once, by llmkit, in its terms."""
    import datasets

    level = datasets.logging.get_verbosity()
    if not os.environ.get("LLMKIT_VERBOSE"):
        datasets.logging.set_verbosity(logging.CRITICAL)
    try:
        yield
    finally:
        datasets.logging.set_verbosity(level)


def load_raw(
    data: DataSection,
    splits: tuple[str, ...] = ("train", "validation", "test"),
    override_files: dict[str, str] | None = None,
    seed: int = 42,
    reshape: Callable[[Any, str], Any] | None = None,
) -> RawData:
    """Load the requested splits from the data section (or from ``override_files``: split -> path).

    Splits with no source are simply absent. ``validation_split_percentage`` carves a validation
    split out of the training rows when no validation source exists. ``reshape(dataset, source)``
    (a task's ``raw_rows``) runs on each loaded split first, so limits and splits count its rows.
    """
    override_files = override_files or {}
    raw = RawData(splits={})
    for split in splits:
        field_name = SPLIT_FIELDS.get(split, f"{split}_file")
        paths = [override_files[split]] if split in override_files else _files(getattr(data, field_name, None))
        if paths:
            label = "--data" if split in override_files else f"data.{field_name}"
            sample_by = getattr(data, "sample_by", None)
            raw.splits[split] = load_file_split(paths, label, split, sample_by)
            raw.sources[split] = f"{label} ({', '.join(paths)})"
            raw.sources.origins[split] = RowOrigin(label, paths, *builder_of(paths, label, sample_by))
            _reshape(raw, split, reshape)

    missing = [s for s in splits if s not in raw.splits]
    if missing and data.dataset_name and not override_files:
        hub = _load_hub(data)
        for split in missing:
            name = getattr(data, f"{split}_split", split)
            if name in hub:
                raw.splits[split] = hub[name]
                raw.sources[split] = f"data.dataset_name ({data.dataset_name}, split '{name}')"
                _reshape(raw, split, reshape)
            elif split == "train":
                raise DataError(
                    f"data.train_split: dataset '{data.dataset_name}' has no split '{name}'"
                    f"{did_you_mean(name, hub)} (splits: {', '.join(hub)})"
                )

    if "validation" in splits and "validation" not in raw.splits and "train" in raw.splits:
        pct = data.validation_split_percentage
        if pct:
            _carve_validation(raw, pct, seed)

    for split, dataset in list(raw.splits.items()):
        limit = getattr(data, SAMPLE_LIMITS.get(split, ""), None)
        if limit is not None and len(dataset) > limit:
            raw.splits[split] = dataset.select(range(limit))  # a prefix: rows keep their place in the files
        raw.rows_read[split] = len(raw.splits[split])
        if len(raw.splits[split]) == 0:
            raise DataError(f"{raw.sources[split]}: split '{split}' is empty")
    return raw


def _reshape(raw: RawData, split: str, reshape: Callable[[Any, str], Any] | None) -> None:
    """Apply the task's ``raw_rows``; rows it builds anew no longer sit on a line of the file."""
    if reshape is None:
        return
    before = raw.splits[split]
    raw.splits[split] = reshape(before, raw.sources[split])
    if raw.splits[split] is not before:
        raw.sources.origins[split] = None


def _carve_validation(raw: RawData, pct: float, seed: int) -> None:
    """Split ``validation_split_percentage`` of the training rows off; both parts still point at the train file."""
    train = raw.splits["train"]
    parts = train.train_test_split(test_size=pct / 100.0, seed=seed, shuffle=True)
    raw.splits["train"], raw.splits["validation"] = parts["train"], parts["test"]
    origin = raw.sources.origins.get("train")
    key = origin.key if origin is not None else "the training rows"
    raw.sources["validation"] = f"data.validation_split_percentage ({pct:g}% of {key})"
    if origin is None:
        raw.sources.origins["validation"] = None
        return
    size, before = len(train), origin.positions

    def positions(part: str) -> Callable[[], list[int]]:
        def compute() -> list[int]:  # the same permutation: it depends on the length and the seed only
            import datasets

            numbers = datasets.Dataset.from_dict({"row": list(range(size))})
            picked = numbers.train_test_split(test_size=pct / 100.0, seed=seed, shuffle=True)[part]["row"]
            return [before()[i] for i in picked] if before is not None else list(picked)

        return compute

    raw.sources.origins["train"] = RowOrigin(
        origin.key, origin.paths, origin.builder, origin.kwargs, positions("train")
    )
    raw.sources.origins["validation"] = RowOrigin(
        origin.key, origin.paths, origin.builder, origin.kwargs, positions("test")
    )


def _load_hub(data: DataSection) -> Any:
    import datasets

    try:
        return datasets.load_dataset(data.dataset_name, data.dataset_config_name, revision=data.dataset_revision)
    except Exception as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"data.dataset_name: cannot load hub dataset '{data.dataset_name}': {cause}") from exc


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A short hash of everything that decides how a tokenizer encodes text (vocabulary, rules, specials)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    parts = [
        backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items())),
        repr(sorted((k, str(v)) for k, v in tokenizer.special_tokens_map.items())),
        str(getattr(tokenizer, "padding_side", "")),
        str(getattr(tokenizer, "truncation_side", "")),
        type(tokenizer).__name__,
    ]
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:16]


def cached_map(dataset: Any, function: Any, *, key: dict[str, Any], tokenizer: Any = None, **map_kwargs: Any) -> Any:
    """``dataset.map`` whose cache key is computed from what determines the result.

    ``datasets`` fingerprints a mapped function by pickling it, closure and tokenizer included: seconds
    for a large vocabulary, every run. The key here is the input's fingerprint, the recipe values the
    function reads (``key``), the tokenizer's hash and the source of the module defining the function,
    so a second run with the same data, tokenizer and settings reads the cached result at once, and a
    change to any of them (or to the preprocessing code) recomputes it.
    """
    source_file = inspect.getsourcefile(function)
    code = Path(source_file).read_bytes() if source_file else function.__code__.co_code
    parts = {
        "dataset": getattr(dataset, "_fingerprint", None),
        "key": key,
        "tokenizer": tokenizer_fingerprint(tokenizer) if tokenizer is not None else None,
        "code": hashlib.sha256(code).hexdigest(),
        "function": function.__qualname__,
        "map": {k: v for k, v in map_kwargs.items() if k in ("batched", "batch_size", "remove_columns")},
    }
    fingerprint = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:40]
    return dataset.map(function, new_fingerprint=fingerprint, **map_kwargs)


def column_sum(dataset: Any, column: str) -> int:
    """Sum of a numeric column, computed by Arrow: iterating ``dataset[column]`` decodes row by row
    (half a second for 25k rows in datasets 5)."""
    import pyarrow.compute as pc

    total = pc.sum(dataset.with_format("arrow")[column]).as_py()
    return int(total or 0)


def column_values(dataset: Any, column: str) -> list[Any]:
    """A column as a Python list, converted by Arrow in one go (``dataset[column]`` decodes row by row).

    A column whose rows mix types (datasets stores it as JSON text) is decoded back to Python values.
    """
    import pyarrow as pa

    values = dataset.with_format("arrow")[column]
    if isinstance(values.type, pa.JsonType):
        return [None if text is None else json.loads(text) for text in values.to_pylist()]
    rows = values.to_pylist()
    if pa.types.is_struct(values.type):  # {"en": ..., "de": ...} whose fields mix types hold JSON text too
        mixed = [f.name for f in values.type if isinstance(f.type, pa.JsonType)]
        for row in rows if mixed else []:
            for name in mixed if row else []:
                row[name] = None if row[name] is None else json.loads(row[name])
    return rows


def require_columns(dataset: Any, columns: dict[str, str | None], source: str) -> None:
    """Check that each configured column exists; name the recipe key and the available columns."""
    available = list(dataset.column_names)
    for key, column in columns.items():
        if column is not None and column not in available:
            raise DataError(
                f"{source}: column '{column}' (data.{key}) not found{did_you_mean(column, available)}; "
                f"columns: {', '.join(available)}"
            )


def require_training_data(raw: RawData) -> None:
    """Training needs a train split; say which keys provide one."""
    if "train" not in raw.splits:
        raise UsageError("data.train_file: no training data; set data.train_file or data.dataset_name")
