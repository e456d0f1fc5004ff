"""Translation evaluation: corpus BLEU/chrF (sacrebleu) over the shared text-to-text evaluation pieces.

Decoding, ``gen_len`` and the per-pair rows are ``llmkit.tasks.seq2seq_eval``'s, shared with summarization.
"""

from __future__ import annotations

from typing import Any

from llmkit.tasks.seq2seq_eval import generation_metrics, pair_rows
from llmkit.tasks.spec import Details, Prepared

BUILTIN_METRICS = ("bleu", "chrf", "gen_len")


def metrics(recipe: Any, prepared: Prepared, split: str) -> Any:
    """A ``compute_metrics`` closure: corpus BLEU and chrF against the raw reference texts, and gen_len."""
    from llmkit.metrics import translation_scores

    return generation_metrics(recipe, prepared, split, BUILTIN_METRICS, translation_scores)


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """Per-pair predictions in input order, and the sacrebleu signatures of the scores."""
    from llmkit.metrics import translation_signatures

    rows = pair_rows(prepared, split, output)
    signatures = translation_signatures([r["prediction"] for r in rows], [r["reference"] for r in rows])
    return Details(rows=rows, tables={"sacrebleu": [{"metric": k, "signature": v} for k, v in signatures.items()]})
