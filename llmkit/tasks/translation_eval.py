"""Translation evaluation: decoding generated ids, corpus BLEU/chrF, per-pair details.

Generation itself (from the source prompt alone, timed) is Trainer glue: ``llmkit.train.trainer_api``'s
``generation_eval``, applied to every seq2seq task.
"""

from __future__ import annotations

from typing import Any

from llmkit.errors import ConfigError
from llmkit.tasks.spec import Details, Prepared

BUILTIN_METRICS = ("bleu", "chrf", "gen_len")


def decode(token_rows: Any, tokenizer: Any) -> list[str]:
    """Generated ids (padded with -100 across batches) -> text, special tokens dropped."""
    import numpy as np

    rows = np.asarray(token_rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows = np.where(rows < 0, pad, rows)
    return [text.strip() for text in tokenizer.batch_decode(rows.tolist(), skip_special_tokens=True)]


def _generated_lengths(token_rows: Any, tokenizer: Any) -> list[int]:
    import numpy as np

    rows = np.asarray(token_rows)
    specials = set(tokenizer.all_special_ids)
    return [int(sum(1 for v in row if v >= 0 and v not in specials)) for row in rows]


def _predictions(eval_pred_predictions: Any) -> Any:
    return eval_pred_predictions[0] if isinstance(eval_pred_predictions, tuple) else eval_pred_predictions


def metrics(recipe: Any, prepared: Prepared, split: str) -> Any:
    """A ``compute_metrics`` closure: corpus BLEU and chrF against the raw reference texts, and gen_len."""
    from llmkit.metrics import split_metric_names, translation_scores

    builtin, external = split_metric_names(recipe.eval.metrics, BUILTIN_METRICS)
    if external:
        raise ConfigError(f"eval.metrics: translation has built-in metrics only ({', '.join(BUILTIN_METRICS)})")
    tokenizer = prepared.state["target_tokenizer"]
    references = prepared.state["references"][split]

    def compute(eval_pred: Any) -> dict[str, float]:
        import numpy as np

        tokens = _predictions(eval_pred.predictions)
        hypotheses = decode(tokens, tokenizer)
        scores = translation_scores(hypotheses, references[: len(hypotheses)])
        scores["gen_len"] = float(np.mean(_generated_lengths(tokens, tokenizer))) if len(hypotheses) else 0.0
        return {name: scores[name] for name in builtin}

    return compute


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """Per-pair predictions in input order, and the sacrebleu signatures of the scores."""
    from llmkit.metrics import translation_signatures

    state = prepared.state
    hypotheses = decode(_predictions(output.predictions), state["target_tokenizer"])
    order = state["order"][split]
    rows: list[dict[str, Any]] = [{}] * len(order)
    for position, index in enumerate(order):
        rows[index] = {
            "id": state["ids"][split][index],
            "source": state["sources"][split][index],
            "prediction": hypotheses[position],
            "reference": state["references"][split][position],
        }
    signatures = translation_signatures([r["prediction"] for r in rows], [r["reference"] for r in rows])
    return Details(rows=rows, tables={"sacrebleu": [{"metric": k, "signature": v} for k, v in signatures.items()]})
