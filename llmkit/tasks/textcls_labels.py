"""Labels of the textcls task: the label set, unknown labels, and the rows that cannot be trained on.

A row with no text or no label is left out and counted (``--strict`` stops instead); a label column
whose rows mix types (numbers and strings, lists and strings) or that holds lists for a single-label
task is a data error naming the rows. Checks run through Arrow on the cached path.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from llmkit.data import column_values
from llmkit.data.rows import Dropped, describe_kinds, key_of, missing_rows, not_text_rows, value_kinds, where
from llmkit.errors import DataError
from llmkit.tasks.spec import PrepareContext

SINGLE, MULTI, REGRESSION = "single_label_classification", "multi_label_classification", "regression"
# problem type -> the value kinds a label may have (one of them, for every row)
LABEL_KINDS = {
    SINGLE: ("string", "number", "boolean"),
    MULTI: ("list", "string"),
    REGRESSION: ("number", "string"),
}  # strings that read as numbers are checked row by row


def label_values(value: Any, options: Any) -> list[str]:
    """The label names of one row (a list for multi-label data)."""
    if value is None:
        return []
    if options.problem_type == MULTI:
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                value = json.loads(stripped)
            elif options.label_separator:
                value = [v.strip() for v in stripped.split(options.label_separator) if v.strip()]
            else:
                value = [stripped]
        return [_label_name(v) for v in value]
    return [_label_name(value)]


def _label_name(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _sort_key(name: str) -> tuple[int, float | str]:
    try:
        return (0, float(name))
    except ValueError:
        return (1, name)


def checkpoint_labels(model_config: Any) -> list[str] | None:
    """Labels a checkpoint was trained with, unless they are transformers' placeholders (LABEL_0...)."""
    id2label = getattr(model_config, "id2label", None) or {}
    names = [str(id2label[i]) for i in sorted(int(k) for k in id2label)]
    if not names or all(n == f"LABEL_{i}" for i, n in enumerate(names)):
        return None
    return names


def resolve_labels(ctx: PrepareContext, splits: dict[str, Any] | None = None) -> list[str]:
    """Choose the label set: recipe, then trained checkpoint (eval), then the training split."""
    splits = ctx.raw if splits is None else splits
    recipe = ctx.recipe
    options, data = recipe.options, recipe.data
    if options.labels:
        return list(options.labels)
    if not ctx.training:
        found = checkpoint_labels(ctx.model_config)
        if found:
            return found
    if "train" not in splits:
        raise DataError(
            "textcls.labels: the label set is unknown; evaluate a trained run, set textcls.labels, "
            "or give data.train_file"
        )
    counts: Counter[str] = Counter()
    for value in column_values(splits["train"], data.label_column):
        counts.update(label_values(value, options))
    if len(counts) < 2 and options.problem_type == SINGLE:
        raise DataError(
            f"{key_of(ctx.sources, 'train')}: column '{data.label_column}' has {len(counts)} distinct label(s); "
            "classification needs at least 2"
        )
    return sorted(counts, key=_sort_key)


def check_labels(dataset: Any, source: str, labels: list[str], ctx: PrepareContext) -> None:
    """Every label of a split must be in the label set; list the unknown ones with their counts."""
    data, options = ctx.recipe.data, ctx.recipe.options
    known = set(labels)
    unseen: Counter[str] = Counter()
    for value in column_values(dataset, data.label_column):
        unseen.update(n for n in label_values(value, options) if n not in known)
    if unseen:
        listed = ", ".join(f"'{name}' ({count} rows)" for name, count in unseen.most_common(5))
        origin = "the recipe's textcls.labels" if options.labels else "the label set the model was trained with"
        if ctx.training and not options.labels:
            origin = "the training split"
        raise DataError(
            f"{source}: label(s) {listed} in column '{data.label_column}' are not in {origin}; "
            f"known labels: {', '.join(labels[:20])}{' ...' if len(labels) > 20 else ''}"
        )


def check_label_kinds(dataset: Any, split: str, ctx: PrepareContext) -> None:
    """One kind of label value per column, and the kind the problem type expects (lists for multi-label)."""
    data, options = ctx.recipe.data, ctx.recipe.options
    column, sources = data.label_column, ctx.sources
    allowed = LABEL_KINDS[options.problem_type]
    kinds = value_kinds(dataset, column) or _typed_kind(dataset, column)
    hint = {
        SINGLE: "a single-label column holds one string or number per row (lists are for "
        "textcls.problem_type: multi_label_classification)",
        MULTI: "write every row's labels the same way: all lists, or all strings with textcls.label_separator",
        REGRESSION: "regression labels are numbers",
    }[options.problem_type]
    if len(kinds) > 1:
        raise DataError(
            f"{key_of(sources, split)}: column '{column}' mixes {describe_kinds(kinds, sources, split)}; {hint}"
        )
    wrong = {kind: rows for kind, rows in kinds.items() if kind not in allowed}
    if wrong:
        kind, rows = next(iter(wrong.items()))
        raise DataError(
            f"{key_of(sources, split)}: column '{column}' holds {kind}s ({where(sources, split, rows, shown=3)}); "
            f"{hint}"
        )


def _typed_kind(dataset: Any, column: str) -> dict[str, list[int]]:
    """The one kind of a typed (not mixed) column, with its first row, from the Arrow type alone."""
    import pyarrow as pa

    values = dataset.with_format("arrow")[column]
    kind_type = values.type
    if pa.types.is_null(kind_type):
        return {}
    if pa.types.is_list(kind_type) or pa.types.is_large_list(kind_type):
        kind = "list"
    elif pa.types.is_string(kind_type) or pa.types.is_large_string(kind_type):
        kind = "string"
    elif pa.types.is_boolean(kind_type):
        kind = "boolean"
    elif pa.types.is_integer(kind_type) or pa.types.is_floating(kind_type):
        kind = "number"
    else:
        kind = "object"
    return {kind: [0]}


def usable_splits(ctx: PrepareContext) -> tuple[dict[str, Any], dict[str, list[int] | None], dict[str, int]]:
    """Every split checked (columns, label kinds) and without its unusable rows (``--strict``: an error).

    Returns the kept splits, per split the positions kept (None when nothing was dropped), and the counts.
    """
    from llmkit.data import require_columns
    from llmkit.data.rows import drop_rows, kept_positions

    data = ctx.recipe.data
    columns = {
        "text_column": data.text_column,
        "text_pair_column": data.text_pair_column,
        "label_column": data.label_column,
        "id_column": data.id_column,
    }
    splits, kept, dropped = {}, {}, {}
    for split, dataset in ctx.raw.items():
        require_columns(dataset, columns, ctx.sources.get(split, split))
        check_label_kinds(dataset, split, ctx)
        unusable = unusable_rows(dataset, ctx)
        splits[split], dropped[split] = drop_rows(dataset, unusable, ctx.sources, split, ctx.strict)
        kept[split] = kept_positions(len(dataset), unusable) if dropped[split] else None
    return splits, kept, dropped


def unusable_rows(dataset: Any, ctx: PrepareContext) -> Dropped:
    """Rows to leave out: no text (or no second text), no label, a regression label that is not a number."""
    data, options = ctx.recipe.data, ctx.recipe.options
    dropped = Dropped()
    dropped.add(f"no '{data.label_column}' value", missing_rows(dataset, data.label_column))
    dropped.add(f"no '{data.text_column}' text", missing_rows(dataset, data.text_column))
    dropped.add(f"a '{data.text_column}' value that is not text", not_text_rows(dataset, data.text_column))
    if data.text_pair_column:
        dropped.add(f"no '{data.text_pair_column}' text", missing_rows(dataset, data.text_pair_column))
        dropped.add(
            f"a '{data.text_pair_column}' value that is not text", not_text_rows(dataset, data.text_pair_column)
        )
    if options.problem_type == REGRESSION:
        dropped.add(f"a '{data.label_column}' value that is not a number", _not_numbers(dataset, data.label_column))
    return dropped


def _not_numbers(dataset: Any, column: str) -> list[int]:
    import pyarrow as pa

    values = dataset.with_format("arrow")[column]
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        return []
    bad = []
    for row, value in enumerate(column_values(dataset, column)):
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # counted as a missing label
        try:
            float(value)
        except (TypeError, ValueError):
            bad.append(row)
    return bad
