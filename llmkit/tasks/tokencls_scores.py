"""Scores and entities of the tokencls task, computed by ``seqeval`` itself.

seqeval is the implementation, not only the test's reference: its default mode reads chunks with
lenient rules (an ``I-`` after ``O`` opens an entity, a type change closes one, ``E-``/``S-`` end one)
that every published NER score follows, and a copy would have to track each of them. The package is
small, pure Python and a declared dependency; it is imported only when scores are computed.

Tags without a scheme prefix (part-of-speech tags such as ``NOUN``) are scored as one-word entities
(``NOUN`` -> ``B-NOUN``), so precision/recall/f1 and the per-type table are per-tag scores over words;
without that, seqeval would read ``NOUN`` as the tag ``N`` of a type ``OUN``.
"""

from __future__ import annotations

from typing import Any

PREFIXES = ("B-", "I-", "E-", "S-", "L-", "U-")
OUTSIDE = "O"


def is_plain(labels: list[str]) -> bool:
    """Whether no tag carries a scheme prefix (POS tags), so each word is its own entity."""
    return not any(label.startswith(PREFIXES) for label in labels if label != OUTSIDE)


def as_chunks(tags: list[str], plain: bool) -> list[str]:
    """The tags seqeval reads: plain tags become one-word ``B-`` entities, others stay as they are."""
    if not plain:
        return list(tags)
    return [tag if tag == OUTSIDE else f"B-{tag}" for tag in tags]


def _mode(options: Any) -> dict[str, Any]:
    """seqeval's mode arguments: none for the default mode, ``mode="strict"`` and the scheme class otherwise."""
    if options.mode != "strict":
        return {}
    from seqeval import scheme

    return {"mode": "strict", "scheme": getattr(scheme, options.scheme or "IOB2")}


def entity_scores(
    references: list[list[str]], predictions: list[list[str]], options: Any, plain: bool
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Micro ``precision``/``recall``/``f1`` over entities, word ``accuracy``, and one row per entity type.

    The overall scores are seqeval's ``precision_score``/``recall_score``/``f1_score``/``accuracy_score`` (as
    Hugging Face's ``seqeval`` metric reports them), the table its ``classification_report``.
    """
    from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score

    y_true = [as_chunks(tags, plain) for tags in references]
    y_pred = [as_chunks(tags, plain) for tags in predictions]
    mode = {} if plain else _mode(options)  # one-word entities read the same in every mode
    overall = {
        "precision": float(precision_score(y_true, y_pred, zero_division=0, **mode)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0, **mode)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0, **mode)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
    }
    table: list[dict[str, Any]] = []
    if any(tag != OUTSIDE for tags in y_true + y_pred for tag in tags):
        report = classification_report(y_true, y_pred, output_dict=True, zero_division=0, **mode)
        for name, row in report.items():
            if name.endswith(" avg"):
                continue
            table.append(
                {
                    "type": name,
                    "precision": float(row["precision"]),
                    "recall": float(row["recall"]),
                    "f1": float(row["f1-score"]),
                    "support": int(row["support"]),
                }
            )
    return overall, table


def entity_spans(tags: list[str], options: Any, plain: bool) -> list[tuple[str, int, int]]:
    """(type, first word, last word + 1) of each entity in one sentence, read as the scores read them."""
    chunks = as_chunks(tags, plain)
    mode = {} if plain else _mode(options)
    if mode:
        from seqeval.scheme import Entities

        return [(e.tag, e.start, e.end) for e in Entities([chunks], mode["scheme"]).entities[0]]
    from seqeval.metrics.sequence_labeling import get_entities

    return [(kind, start, end + 1) for kind, start, end in get_entities(chunks)]
