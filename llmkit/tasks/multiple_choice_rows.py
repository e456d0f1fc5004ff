"""Rows of the multiple_choice task: the question, its choices and the index of the right one, checked.

Choices come from one column holding a list per row (a JSON list as text in CSV files), or from one column
per choice (SWAG's ``ending0`` .. ``ending3``), with an optional column whose text starts every choice
(SWAG's ``sent2``). The rule for bad rows:

- a row without question, choices or label is left out and counted (``--strict`` stops instead);
- every other row of a split must have the same number of choices (at least 2), and a label that is a whole
  number in ``0 .. choices-1`` (an integer, or a string or float that reads as one): otherwise a data error
  names the rows (file and line), since guessing would train on the wrong answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llmkit.data import column_values
from llmkit.data.rows import Dropped, kept_positions, key_of, report_dropped, where
from llmkit.errors import DataError
from llmkit.tasks.spec import PrepareContext


@dataclass
class Examples:
    """The usable rows of one split, as Python values."""

    ids: list[Any]
    questions: list[str]
    choices: list[list[str]]  # every row the same number of choices
    labels: list[int]
    dropped: int  # rows left out (no question, choices or label)


def choice_columns(data: Any) -> list[str]:
    """The column(s) ``data.choices_column`` names: one list column, or one column per choice."""
    value = data.choices_column
    return [value] if isinstance(value, str) else list(value)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _as_list(value: Any) -> Any:
    """A choices value as a list: lists stay, a JSON list written as text (CSV) is decoded, others stay as they are."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _raw_choices(dataset: Any, data: Any) -> list[Any]:
    """Per row: the choices as read (None when missing), before any check."""
    columns = choice_columns(data)
    if len(columns) == 1:
        return [_as_list(v) if _present(v) else None for v in column_values(dataset, columns[0])]
    values = [column_values(dataset, column) for column in columns]
    return [None if any(v is None for v in row) else list(row) for row in zip(*values, strict=True)]


def label_index(value: Any) -> int | None:
    """A label as a choice index: ints, and strings or floats that read as whole numbers; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _check_choices(choices: list[Any], keep: list[int], ctx: PrepareContext, split: str) -> None:
    """Every kept row holds a list of at least 2 texts, the same number in every row of the split."""
    sources, column = ctx.sources, "', '".join(choice_columns(ctx.recipe.data))
    not_lists = [i for i in keep if not isinstance(choices[i], list)]
    if not_lists:
        raise DataError(
            f"{key_of(sources, split)}: column '{column}' must hold a list of choices per row (a JSON list in CSV "
            f"files), or data.choices_column must name one column per choice ({where(sources, split, not_lists)})"
        )
    counts: dict[int, list[int]] = {}
    for i in keep:
        counts.setdefault(len(choices[i]), []).append(i)
    expected = len(choices[keep[0]])
    if expected < 2:
        first = where(sources, split, keep[:1])
        raise DataError(f"{key_of(sources, split)}: {first} has {expected} choice(s); multiple choice needs 2 or more")
    odd = sorted(i for n, rows in counts.items() if n != expected for i in rows)
    if odd:
        found = ", ".join(str(n) for n in sorted(counts) if n != expected)
        raise DataError(
            f"{key_of(sources, split)}: every row of a split needs the same number of choices; the first has "
            f"{expected}, but {where(sources, split, odd)} {'has' if len(odd) == 1 else 'have'} {found} "
            f"(data.choices_column '{column}')"
        )


def _check_labels(labels: list[Any], count: int, keep: list[int], ctx: PrepareContext, split: str) -> list[int]:
    sources, column = ctx.sources, ctx.recipe.data.label_column
    indexes = {i: label_index(labels[i]) for i in keep}
    bad = [i for i, value in indexes.items() if value is None or not 0 <= value < count]
    if bad:
        shown = ", ".join(repr(labels[i]) for i in bad[:3])
        raise DataError(
            f"{key_of(sources, split)}: column '{column}' must hold the index of the right choice, 0 to "
            f"{count - 1}; found {shown} ({where(sources, split, bad)})"
        )
    return [indexes[i] for i in keep]


def read_examples(dataset: Any, split: str, ctx: PrepareContext) -> Examples:
    """The split's rows checked under the module's rule, without the rows left out."""
    from llmkit.data import require_columns

    data = ctx.recipe.data
    columns = {"question_column": data.question_column, "label_column": data.label_column}
    columns |= {"choice_prefix_column": data.choice_prefix_column, "id_column": data.id_column}
    columns |= {f"choices_column[{i}]": c for i, c in enumerate(choice_columns(data))}
    require_columns(dataset, columns, ctx.sources.get(split, split))
    questions = column_values(dataset, data.question_column)
    choices, labels = _raw_choices(dataset, data), column_values(dataset, data.label_column)
    dropped = Dropped()
    dropped.add(f"no '{data.question_column}' text", [i for i, q in enumerate(questions) if not _present(q)])
    named = "', '".join(choice_columns(data))
    dropped.add(f"no '{named}' choices", [i for i, c in enumerate(choices) if c is None])
    dropped.add(f"no '{data.label_column}' value", [i for i, v in enumerate(labels) if not _present(v)])
    if not len(dataset):
        raise DataError(f"{key_of(ctx.sources, split)}: no rows")
    count = report_dropped(len(dataset), dropped, ctx.sources, split, ctx.strict)  # warns, or stops (--strict)
    keep = kept_positions(len(dataset), dropped)
    _check_choices(choices, keep, ctx, split)
    indexes = _check_labels(labels, len(choices[keep[0]]), keep, ctx, split)
    prefixes = column_values(dataset, data.choice_prefix_column) if data.choice_prefix_column else None
    ids = column_values(dataset, data.id_column) if data.id_column else list(range(len(dataset)))
    return Examples(
        ids=[ids[i] for i in keep],
        questions=[str(questions[i]) for i in keep],
        choices=[[_choice_text(prefixes[i] if prefixes else None, c) for c in choices[i]] for i in keep],
        labels=indexes,
        dropped=count,
    )


def _choice_text(prefix: Any, choice: Any) -> str:
    """One choice as the model reads it: SWAG's ``sent2`` header, a space, the ending."""
    text = "" if choice is None else str(choice)
    return f"{prefix} {text}".strip() if _present(prefix) else text
