"""What the report shows about a split's predictions: a sample of mistakes and the confusion matrix.

Both read the generic keys every task's ``details`` rows carry (``prediction`` and ``reference``); whether a
confusion matrix applies is the task's call (``TaskSpec.confusion_matrix``), not a branch here.
"""

from __future__ import annotations

from typing import Any

MISTAKE_ROWS = 10  # wrong predictions kept per split in metrics.json


def is_mistake(row: dict[str, Any]) -> bool:
    """A row whose ``prediction`` differs from its ``reference``; a list of references (QA answers) holds any match."""
    if "prediction" not in row or row.get("reference") is None:
        return False
    prediction, reference = row["prediction"], row["reference"]
    if isinstance(reference, list) and not isinstance(prediction, list):
        return prediction not in reference
    return prediction != reference


def mistakes(rows: list[dict[str, Any]], limit: int = MISTAKE_ROWS) -> list[dict[str, Any]]:
    """The first ``limit`` wrong predictions, in split order."""
    return [row for row in rows if is_mistake(row)][:limit]


def _single_label(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def confusion(rows: list[dict[str, Any]], labels: list[Any] | None = None) -> dict[str, Any] | None:
    """``{"labels": [...], "matrix": [[count]]}``, rows the reference and columns the prediction, or None.

    None when no row holds one label on both sides (regression scores, multi-label sets, generated text).
    """
    pairs = [(r["reference"], r["prediction"]) for r in rows if _single_label(r.get("reference"))]
    pairs = [(ref, pred) for ref, pred in pairs if _single_label(pred)]
    if not pairs:
        return None
    seen = {value for pair in pairs for value in pair}
    order = [label for label in (labels or []) if label in seen]
    order += sorted((value for value in seen if value not in order), key=str)
    index = {label: i for i, label in enumerate(order)}
    matrix = [[0] * len(order) for _ in order]
    for ref, pred in pairs:
        matrix[index[ref]][index[pred]] += 1
    return {"labels": order, "matrix": matrix}
