"""QA rows: nested SQuAD files flattened, answers parsed and located, bad rows cleaned under one rule.

The rule (see ``llmkit.tasks.qa``): a wrong ``answer_start`` is relocated to the nearest occurrence of its
text; a question with no context, no question text, or (outside v2) no answer is dropped from every split;
a training question none of whose answers occurs in its context is dropped from training. Dropped rows are
counted (``data.dropped``); with ``--strict`` they stop the run, naming their lines in the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from llmkit.data.rows import NOT_TEXT, Dropped, as_text
from llmkit.data.rows import where as rows_where
from llmkit.errors import DataError

SHOWN_PROBLEMS = 5  # examples of bad rows kept in the report per split
REASONS = {
    "not_text": "a question or context that is not text",
    "no_context": "an empty context",
    "no_question": "an empty question",
    "no_answer": "no answer (set qa.version_2_with_negative: true for v2 data)",
    "dropped": "no answer that occurs in its context",
}


def raw_rows(dataset: Any, recipe: Any, source: str) -> Any:
    """Flatten a nested SQuAD JSON file (one row holding ``version`` and ``data``) into one row per question."""
    data = recipe.data
    if data.question_column in dataset.column_names or "data" not in dataset.column_names:
        return dataset
    import datasets

    rows: list[dict[str, Any]] = []
    for record in dataset:
        # datasets yields one row per file ("data" = list of articles) or, for larger files, one per article.
        articles = record["data"] if isinstance(record["data"], list) else [record["data"]]
        for article in articles:
            if not isinstance(article, dict):
                raise DataError(f"{source}: 'data' must be a list of {{title, paragraphs}} objects (SQuAD layout)")
            for paragraph in article.get("paragraphs") or []:
                context = paragraph.get("context") or ""
                for qa in paragraph.get("qas") or []:
                    answers = [] if qa.get("is_impossible") else list(qa.get("answers") or [])
                    rows.append(
                        {
                            data.id_column: str(qa.get("id") or len(rows)),
                            "title": article.get("title") or "",
                            data.question_column: qa.get("question") or "",
                            data.context_column: context,
                            data.answers_column: {
                                "text": [a.get("text") or "" for a in answers],
                                "answer_start": [a.get("answer_start") for a in answers],
                            },
                        }
                    )
    if not rows:
        raise DataError(f"{source}: a SQuAD-style 'data' list with no questions (data → paragraphs → qas)")
    return datasets.Dataset.from_list(rows)


def parse_answers(value: Any) -> tuple[list[str], list[int]]:
    """Answer texts and starts from the hub layout, a list of {text, answer_start}, or a JSON string of either."""
    if value is None:
        return [], []
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return [], []
        try:
            value = json.loads(stripped)
        except ValueError:
            raise ValueError(f"not JSON: {stripped[:60]!r}") from None
    if isinstance(value, dict):
        texts = value.get("text") or []
        starts = value.get("answer_start") or []
        if isinstance(texts, str):
            texts, starts = [texts], [starts]
    elif isinstance(value, list):
        texts = [a.get("text") or "" for a in value]
        starts = [a.get("answer_start", -1) for a in value]
    else:
        raise ValueError(f"expected {{text, answer_start}}, got {type(value).__name__}")
    if len(texts) != len(starts):
        raise ValueError(f"{len(texts)} answer texts but {len(starts)} answer_start values")
    pairs = [
        (str(t), int(s) if s is not None else -1)
        for t, s in zip(texts, starts, strict=True)
        if t is not None and str(t)
    ]
    return [t for t, _ in pairs], [s for _, s in pairs]


def locate(context: str, text: str, start: int) -> int | None:
    """The start of ``text`` in ``context``: ``start`` when it points at it, else the nearest occurrence."""
    if start >= 0 and context[start : start + len(text)] == text:
        return start
    found, position = [], context.find(text)
    while position != -1:
        found.append(position)
        position = context.find(text, position + 1)
    return min(found, key=lambda p: (abs(p - start), p)) if found else None


@dataclass
class Problems:
    """Bad rows of one split: counts per kind plus the first few examples."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)  # rows with at least one problem
    left_out: dict[str, list[int]] = field(default_factory=dict)  # kind -> rows (0-based) dropped

    def add(self, kind: str, qid: Any, detail: str, dropped_row: int | None = None) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.ids.add(str(qid))
        if dropped_row is not None:
            self.left_out.setdefault(kind, []).append(dropped_row)
        if len(self.examples) < SHOWN_PROBLEMS:
            self.examples.append({"id": qid, "problem": kind, "detail": detail})

    def as_dropped(self) -> Dropped:
        """The rows left out, with readable reasons, for ``datarows.report_dropped``."""
        dropped = Dropped()
        for kind, rows in self.left_out.items():
            dropped.add(REASONS.get(kind, kind), rows)
        return dropped


def clean_examples(
    dataset: Any, recipe: Any, training: bool, source: str, sources: dict[str, str] | None = None, split: str = ""
) -> tuple[list[dict[str, Any]], Problems]:
    """Raw rows -> examples ``{id, question, context, answers, label_start, label_text}`` under the module rule.

    ``sources`` and ``split`` (the runner's) let messages name the line of a bad row in its file.
    """
    data, options = recipe.data, recipe.options
    columns = dataset.column_names
    has_ids = data.id_column in columns
    impossible = dataset["is_impossible"] if "is_impossible" in columns else None
    examples: list[dict[str, Any]] = []
    problems = Problems()
    for i, row in enumerate(dataset):
        qid = str(row[data.id_column]) if has_ids and row[data.id_column] is not None else str(i)
        if NOT_TEXT in (as_text(row[data.question_column]), as_text(row[data.context_column])):
            problems.add("not_text", qid, "question or context is not text; dropped", dropped_row=i)
            continue
        question = str(row[data.question_column] or "").lstrip()  # leading spaces only waste window room
        context = str(row[data.context_column] or "")
        try:
            texts, starts = parse_answers(row[data.answers_column])
        except ValueError as exc:
            place = rows_where(sources or {}, split, [i])
            raise DataError(f"{source}: {place} (id {qid}): column '{data.answers_column}': {exc}") from None
        if impossible is not None and impossible[i]:
            texts, starts = [], []
        if not context.strip():
            problems.add("no_context", qid, "empty context; dropped", dropped_row=i)
            continue
        if not question.strip():
            problems.add("no_question", qid, "empty question; dropped", dropped_row=i)
            continue
        if not texts and not options.version_2_with_negative:
            detail = "no answer (set qa.version_2_with_negative: true for v2 data); dropped"
            problems.add("no_answer", qid, detail, dropped_row=i)
            continue
        located: list[tuple[str, int]] = []
        for text, start in zip(texts, starts, strict=True):
            where = locate(context, text, start)
            if where is None:
                problems.add("not_in_context", qid, f"answer {text[:40]!r} does not occur in the context")
            else:
                if where != start:
                    problems.add("relocated", qid, f"answer {text[:40]!r}: answer_start {start} -> {where}")
                located.append((text, where))
        if texts and not located and training:
            detail = "no answer can be located in the context; dropped from training"
            problems.add("dropped", qid, detail, dropped_row=i)
            continue
        label_text, label_start = located[0] if located else ("", -1)
        examples.append(
            {
                "id": qid,
                "question": question,
                "context": context,
                "answers": texts,
                "label_text": label_text,
                "label_start": label_start,
            }
        )
    return examples, problems
