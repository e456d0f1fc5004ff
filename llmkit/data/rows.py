"""Bad rows of a split: which rows lack a value or mix value types, and where they are in the user's files.

Checks go through Arrow (null counts, trimmed string lengths) so the cached path of a good split costs
milliseconds; a Python pass happens only on a column whose values already mix types. Locating rows in
files (``Sources.where``) re-reads the files and runs only when there is something to report.

Row numbers in messages are 1-based and, for CSV, JSON lines and text files, the line in the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from llmkit.errors import DataError

SHOWN_ROWS = 5  # rows named in a message


@dataclass
class RowOrigin:
    """Where the rows of one split come from: the recipe key, its files, and how rows map onto them.

    ``positions`` (computed only when needed) maps a split row to its row in the files read one after
    the other; None means the identity (the split is the files' rows, possibly cut by a sample limit).
    """

    key: str  # "data.train_file", "--data"...
    paths: list[str]
    builder: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    positions: Callable[[], list[int]] | None = None

    @cached_property
    def _files(self) -> list[tuple[str, list[int] | None, int]]:
        """(path, line of each row or None, row count) per file, in reading order."""
        from llmkit.data.check import row_lines

        found = []
        for path in self.paths:
            lines = row_lines(path, self.builder, self.kwargs)
            count = len(lines) if lines is not None else (_count_rows(path, self.builder, self.kwargs))
            found.append((path, lines, count))
        return found

    @cached_property
    def _mapped(self) -> list[int] | None:
        return self.positions() if self.positions is not None else None

    def locate(self, row: int) -> tuple[str, str]:
        """(path, "line 12" or "row 3") of split row ``row`` (0-based)."""
        if self._mapped is not None:
            row = self._mapped[row]
        if len(self.paths) == 1 and self.builder == "parquet":
            return self.paths[0], f"row {row + 1}"
        rest = row
        for path, lines, count in self._files:
            if rest < count:
                return path, f"line {lines[rest]}" if lines is not None else f"row {rest + 1}"
            rest -= count
        return ", ".join(self.paths), f"row {row + 1}"  # the files changed since they were read


def _count_rows(path: str, builder: str, kwargs: dict[str, Any]) -> int:
    import datasets

    return len(datasets.load_dataset(builder, data_files={"train": [path]}, split="train", **kwargs))


class Sources(dict):
    """split -> "data.train_file (path)", plus where each split's rows sit in the files (``origins``).

    A plain dict for every reader (messages, the run summary); tasks that report bad rows ask ``where``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.origins: dict[str, RowOrigin | None] = {}


def origin_of(sources: dict[str, str], split: str) -> RowOrigin | None:
    return getattr(sources, "origins", {}).get(split)


def key_of(sources: dict[str, str], split: str) -> str:
    """The recipe key to blame for a split's rows ("data.train_file"), or its source description."""
    origin = origin_of(sources, split)
    if origin is not None and split in sources and sources[split].startswith(origin.key + " ("):
        return origin.key
    return sources.get(split, split)


def where(sources: dict[str, str], split: str, rows: list[int], shown: int = SHOWN_ROWS) -> str:
    """Where rows (0-based split positions) are: "train.csv line 3, 9 and 2 more", grouped by file."""
    origin = origin_of(sources, split)
    picked = rows[:shown]
    more = f" and {len(rows) - shown} more" if len(rows) > shown else ""
    if origin is None:
        label = "row" if len(picked) == 1 else "rows"
        return f"{label} {', '.join(str(r + 1) for r in picked)}{more}"
    groups: dict[str, list[str]] = {}
    for row in picked:
        path, place = origin.locate(row)
        groups.setdefault(path, []).append(place)
    parts = []
    for path, places in groups.items():
        kind = places[0].split()[0]
        numbers = ", ".join(p.split()[1] for p in places)
        parts.append(f"{path} {kind}{'s' if len(places) > 1 else ''} {numbers}")
    return "; ".join(parts) + more


# ---------------------------------------------------------------------------------------------
# Column checks (Arrow)


def _arrow(dataset: Any, column: str) -> Any:
    return dataset.with_format("arrow")[column]


def is_json(dataset: Any, column: str) -> bool:
    """Whether datasets stored the column as JSON text because its rows hold values of different types."""
    import pyarrow as pa

    return isinstance(_arrow(dataset, column).type, pa.JsonType)


def _decoded(values: Any) -> list[Any]:
    """The Python values of a column datasets stored as JSON text (its rows mix types)."""
    return [None if text is None else json.loads(text) for text in values.to_pylist()]


def missing_rows(dataset: Any, column: str) -> list[int]:
    """Rows whose value is null (absent from a JSON line, an empty CSV cell) or a blank string."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = _arrow(dataset, column)
    if isinstance(values.type, pa.JsonType):  # mixed types: decode (this column is checked by kind anyway)
        return [i for i, v in enumerate(_decoded(values)) if v is None or (isinstance(v, str) and not v.strip())]
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        bad = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(values), ""), True)
    elif values.null_count:
        bad = pc.is_null(values)
    else:
        return []
    return pc.indices_nonzero(bad).to_pylist()


NOT_TEXT = type("NotText", (), {"__repr__": lambda self: "NOT_TEXT"})()  # a list or an object where text belongs


def as_text(value: Any, sentences: bool = False) -> Any:
    """A text value read from a row: the string (numbers read as text), None when absent or blank, ``NOT_TEXT``
    for an object or a list. With ``sentences``, a list of strings is the text's sentences, one per line."""
    if isinstance(value, list) and sentences and all(isinstance(item, str) for item in value):
        value = "\n".join(item.strip() for item in value if item.strip())
    elif isinstance(value, list | dict):
        return NOT_TEXT
    return None if value is None or not str(value).strip() else str(value)


def not_text_rows(dataset: Any, column: str) -> list[int]:
    """Rows whose value is a list or an object where text belongs (numbers and booleans read as text)."""
    import pyarrow as pa

    values = _arrow(dataset, column)
    if isinstance(values.type, pa.JsonType):
        return [i for i, v in enumerate(_decoded(values)) if as_text(v) is NOT_TEXT]
    if pa.types.is_nested(values.type):
        return [i for i, v in enumerate(values.to_pylist()) if v is not None]
    return []


def value_kinds(dataset: Any, column: str) -> dict[str, list[int]]:
    """For a column that mixes types: kind ("number", "string", "list", ...) -> its rows. Empty otherwise."""
    if not is_json(dataset, column):
        return {}
    kinds: dict[str, list[int]] = {}
    for row, text in enumerate(_arrow(dataset, column).to_pylist()):
        if text is None:
            continue
        value = json.loads(text)
        kinds.setdefault(kind_of(value), []).append(row)
    return kinds


def kind_of(value: Any) -> str:
    """A value's kind as a user reads it in a data file."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def describe_kinds(kinds: dict[str, list[int]], sources: dict[str, str], split: str) -> str:
    """ "numbers (train.jsonl lines 1, 2) and strings (train.jsonl line 3)"."""
    parts = [f"{kind}s ({where(sources, split, rows, shown=3)})" for kind, rows in kinds.items()]
    return ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else parts[0]


# ---------------------------------------------------------------------------------------------
# Dropping rows


@dataclass
class Dropped:
    """Rows of one split left out, and why (reason -> rows), for the summary and the messages."""

    reasons: dict[str, list[int]] = field(default_factory=dict)

    def add(self, reason: str, rows: list[int]) -> None:
        if rows:
            self.reasons.setdefault(reason, []).extend(rows)

    @property
    def rows(self) -> list[int]:
        return sorted({row for rows in self.reasons.values() for row in rows})


def report_dropped(total: int, dropped: Dropped, sources: dict[str, str], split: str, strict: bool) -> int:
    """Warn about the rows ``dropped`` names, or stop with a DataError when ``strict``; returns how many.

    A split left with no row at all is a DataError either way.
    """
    import logging

    bad = dropped.rows
    if not bad:
        return 0
    key = key_of(sources, split)
    described = "; ".join(
        f"{len(rows)} row(s) with {reason} ({where(sources, split, sorted(rows))})"
        for reason, rows in dropped.reasons.items()
    )
    if strict:
        raise DataError(f"{key}: {described} (--strict stops here; without it these rows are left out)")
    if len(bad) == total:
        raise DataError(f"{key}: no usable row: {described}")
    logging.getLogger("llmkit.data").warning("%s: left out %s", key, described)
    return len(bad)


def drop_rows(dataset: Any, dropped: Dropped, sources: dict[str, str], split: str, strict: bool) -> tuple[Any, int]:
    """``report_dropped``, then the dataset without those rows, and their number."""
    count = report_dropped(len(dataset), dropped, sources, split, strict)
    if not count:
        return dataset, 0
    return dataset.select(kept_positions(len(dataset), dropped)), count


def kept_positions(length: int, dropped: Dropped) -> list[int]:
    """Positions (in the split as read) of the rows ``drop_rows`` kept."""
    gone = set(dropped.rows)
    return [i for i in range(length) if i not in gone]
