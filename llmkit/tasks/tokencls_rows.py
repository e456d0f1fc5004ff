"""Rows of the tokencls task: CoNLL text files read into sentences, the tag set, and unusable rows.

A CoNLL file (``.txt``) holds one word per line with its tag in one of the columns (tab- or
space-separated), a blank line after each sentence; ``-DOCSTART-`` lines are skipped. It becomes one
row per sentence with the data section's tokens and tags columns, as JSON/JSONL/Parquet rows already are
(and ``data.id_column``, when set, holding the sentence's number in the file).
Tags are names, or integers that index ``tokencls.labels`` (or a hub dataset's ``ClassLabel`` names).
A row with no words or with not one tag per word is left out and counted (``--strict`` stops instead);
a tag outside the tag set is a data error naming it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from llmkit.data import column_values
from llmkit.data.rows import Dropped, key_of, where
from llmkit.errors import DataError
from llmkit.tasks.spec import PrepareContext
from llmkit.tasks.textcls_labels import checkpoint_labels

DOCSTART = "-DOCSTART-"
TEXT = "text"  # the one column of a .txt file as datasets reads it (one row per line)


def raw_rows(dataset: Any, recipe: Any, source: str) -> Any:
    """A CoNLL text file (rows of lines) -> one row per sentence; other files are returned as they are."""
    data = recipe.data
    if dataset.column_names != [TEXT] or data.tokens_column == TEXT:
        return dataset
    import datasets

    sentences = read_conll(column_values(dataset, TEXT), data.conll_token_column, data.conll_tag_column, source)
    if not sentences:
        raise DataError(f"{source}: no sentences (expected one 'word ... tag' line per word, blank between sentences)")
    columns = {data.tokens_column: [words for words, _ in sentences], data.tags_column: [tags for _, tags in sentences]}
    if data.id_column:  # a sentence's id is its number in the file (0-based)
        columns[data.id_column] = [str(number) for number in range(len(sentences))]
    return datasets.Dataset.from_dict(columns)


def read_conll(lines: list[str], token_column: int, tag_column: int, source: str) -> list[tuple[list, list]]:
    """(words, tags) per sentence; a line without the two columns is a data error naming its number."""
    sentences: list[tuple[list, list]] = []
    words: list[str] = []
    tags: list[str] = []
    for number, line in enumerate(lines, start=1):
        line = line or ""
        columns = [c.strip() for c in line.split("\t")] if "\t" in line else line.split()
        if not columns or not line.strip() or columns[0] == DOCSTART:
            if words:
                sentences.append((words, tags))
            words, tags = [], []
            continue
        try:
            word, tag = columns[token_column], columns[tag_column]
        except IndexError:
            raise DataError(
                f"{source}: line {number} has {len(columns)} column(s), but data.conll_token_column is "
                f"{token_column} and data.conll_tag_column is {tag_column} (0-based; -1 is the last): {line[:80]!r}"
            ) from None
        words.append(word)
        tags.append(tag)
    if words:
        sentences.append((words, tags))
    return sentences


# ---------------------------------------------------------------------------------------------
# The tag set


def class_names(dataset: Any, column: str) -> list[str] | None:
    """The names of a ``Sequence(ClassLabel)`` column (hub datasets such as conll2003), else None."""
    feature = dataset.features.get(column)
    inner = getattr(feature, "feature", None)
    if inner is None and isinstance(feature, list) and feature:
        inner = feature[0]
    names = getattr(inner, "names", None)
    return list(names) if names else None


def tag_name(value: Any, labels: list[str] | None) -> str:
    """One tag as its name: a string as it is, an integer as ``labels[value]``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    index = int(value)
    if labels is None or not 0 <= index < len(labels):
        count = "no label list" if labels is None else f"{len(labels)} labels"
        raise ValueError(f"integer tag {index} with {count}")
    return labels[index]


def resolve_labels(ctx: PrepareContext, splits: dict[str, Any]) -> list[str]:
    """The tag set: the recipe's, the trained checkpoint's (eval), the data's ClassLabel names, or the train tags."""
    recipe = ctx.recipe
    data, options = recipe.data, recipe.options
    if options.labels:
        return list(options.labels)
    if not ctx.training:
        found = checkpoint_labels(ctx.model_config)
        if found:
            return found
    for dataset in splits.values():
        names = class_names(dataset, data.tags_column)
        if names:
            return names
    if "train" not in splits:
        raise DataError(
            "tokencls.labels: the tag set is unknown; evaluate a trained run, set tokencls.labels, "
            "or give data.train_file"
        )
    counts: Counter[str] = Counter()
    for number, tags in enumerate(column_values(splits["train"], data.tags_column)):
        for value in tags or []:
            if not isinstance(value, str) and value is not None:
                raise DataError(
                    f"{key_of(ctx.sources, 'train')}: column '{data.tags_column}' holds integer tags "
                    f"({where(ctx.sources, 'train', [number], shown=1)}); name them in tokencls.labels (id order)"
                )
            if value is not None:
                counts[value] += 1
    if len(counts) < 2:
        raise DataError(
            f"{key_of(ctx.sources, 'train')}: column '{data.tags_column}' has {len(counts)} distinct tag(s); "
            "tagging needs at least 2"
        )
    return sorted(counts)


def check_tags(dataset: Any, split: str, labels: list[str], ctx: PrepareContext) -> list[list[str]]:
    """Every row's tags as names, each one in the tag set (else a data error listing the unknown ones)."""
    data = ctx.recipe.data
    known, unseen, named = set(labels), Counter(), []
    for number, tags in enumerate(column_values(dataset, data.tags_column)):
        try:
            names = [tag_name(v, labels) for v in tags or []]
        except ValueError as exc:
            raise DataError(
                f"{key_of(ctx.sources, split)}: {exc} ({where(ctx.sources, split, [number], shown=1)})"
            ) from None
        unseen.update(n for n in names if n not in known)
        named.append(names)
    if unseen:
        listed = ", ".join(f"'{name}' ({count} words)" for name, count in unseen.most_common(5))
        origin = "tokencls.labels" if ctx.recipe.options.labels else "the tag set of the training split"
        if not ctx.training and not ctx.recipe.options.labels:
            origin = "the tag set the model was trained with"
        raise DataError(
            f"{key_of(ctx.sources, split)}: tag(s) {listed} in column '{data.tags_column}' are not in {origin}; "
            f"known tags: {', '.join(labels[:20])}{' ...' if len(labels) > 20 else ''}"
        )
    return named


def unusable_rows(dataset: Any, tokens_column: str, tags_column: str) -> Dropped:
    """Rows to leave out: no words, a word that is not a string, or not exactly one tag per word."""
    dropped = Dropped()
    empty, not_list, not_text, mismatched = [], [], [], []
    words = column_values(dataset, tokens_column)
    tags = column_values(dataset, tags_column)
    for row, (tokens, tagged) in enumerate(zip(words, tags, strict=True)):
        if tokens is not None and not isinstance(tokens, list):
            not_list.append(row)
        elif not tokens:
            empty.append(row)
        elif not all(isinstance(t, str) for t in tokens):
            not_text.append(row)
        elif not isinstance(tagged, list) or len(tagged) != len(tokens) or any(t is None for t in tagged):
            mismatched.append(row)
    dropped.add(f"no words in '{tokens_column}'", empty)
    dropped.add(f"'{tokens_column}' not a list of words (split the text into words first)", not_list)
    dropped.add(f"a word in '{tokens_column}' that is not a string", not_text)
    dropped.add(f"not one tag per word in '{tags_column}'", mismatched)
    return dropped


def usable_splits(ctx: PrepareContext) -> tuple[dict[str, Any], dict[str, list[int] | None], dict[str, int]]:
    """Every split with its columns checked and its unusable rows left out (``--strict``: an error)."""
    from llmkit.data import require_columns
    from llmkit.data.rows import drop_rows, kept_positions

    data = ctx.recipe.data
    columns = {"tokens_column": data.tokens_column, "tags_column": data.tags_column, "id_column": data.id_column}
    splits, kept, dropped = {}, {}, {}
    for split, dataset in ctx.raw.items():
        require_columns(dataset, columns, ctx.sources.get(split, split))
        unusable = unusable_rows(dataset, data.tokens_column, data.tags_column)
        splits[split], dropped[split] = drop_rows(dataset, unusable, ctx.sources, split, ctx.strict)
        kept[split] = kept_positions(len(dataset), unusable) if dropped[split] else None
    return splits, kept, dropped
