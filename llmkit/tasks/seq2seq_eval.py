"""Evaluation pieces shared by the text-to-text tasks: decoding generated ids, ``gen_len``, a metrics closure
over any corpus scorer, and per-example rows in input order.

Generation itself (from the source prompt alone, timed) is Trainer glue: ``llmkit.train.trainer_api``'s
``generation_eval``, applied to every seq2seq task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llmkit.errors import ConfigError
from llmkit.tasks.spec import Prepared

# score(hypotheses, references) -> {metric name: value}: a task's corpus metrics.
Scorer = Callable[[Sequence[str], Sequence[str]], dict[str, float]]


def decode(token_rows: Any, tokenizer: Any) -> list[str]:
    """Generated ids (padded with -100 across batches) -> text, special tokens dropped."""
    import numpy as np

    rows = np.asarray(token_rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows = np.where(rows < 0, pad, rows)
    return [text.strip() for text in tokenizer.batch_decode(rows.tolist(), skip_special_tokens=True)]


def generated_lengths(token_rows: Any, tokenizer: Any) -> list[int]:
    """Generated tokens per row, padding and special tokens not counted (``gen_len``)."""
    import numpy as np

    rows = np.asarray(token_rows)
    specials = set(tokenizer.all_special_ids)
    return [int(sum(1 for v in row if v >= 0 and v not in specials)) for row in rows]


def generated_ids(eval_pred_predictions: Any) -> Any:
    """The generated ids of a Trainer prediction output (the first element when it is a tuple)."""
    return eval_pred_predictions[0] if isinstance(eval_pred_predictions, tuple) else eval_pred_predictions


def generation_metrics(
    recipe: Any, prepared: Prepared, split: str, builtin_names: Sequence[str], score: Scorer
) -> Callable[[Any], dict[str, float]]:
    """A ``compute_metrics`` closure: ``score`` against the raw reference texts, plus ``gen_len``.

    ``eval.metrics`` picks among ``builtin_names``; these tasks have no external metrics.
    """
    from llmkit.metrics import split_metric_names

    builtin, external = split_metric_names(recipe.eval.metrics, builtin_names)
    if external:
        raise ConfigError(f"eval.metrics: {recipe.task} has built-in metrics only ({', '.join(builtin_names)})")
    tokenizer = prepared.state["target_tokenizer"]
    references = prepared.state["references"][split]

    def compute(eval_pred: Any) -> dict[str, float]:
        import numpy as np

        tokens = generated_ids(eval_pred.predictions)
        hypotheses = decode(tokens, tokenizer)
        scores = score(hypotheses, references[: len(hypotheses)])
        scores["gen_len"] = float(np.mean(generated_lengths(tokens, tokenizer))) if len(hypotheses) else 0.0
        return {name: scores[name] for name in builtin}

    return compute


def pair_rows(prepared: Prepared, split: str, output: Any, source_key: str | None = "source") -> list[dict[str, Any]]:
    """Per-example ``{id, [source_key], prediction, reference}`` rows in input order."""
    state = prepared.state
    hypotheses = decode(generated_ids(output.predictions), state["target_tokenizer"])
    order = state["order"][split]
    rows: list[dict[str, Any]] = [{}] * len(order)
    for position, index in enumerate(order):
        row: dict[str, Any] = {"id": state["ids"][split][index]}
        if source_key is not None:
            row[source_key] = state["sources"][split][index]
        row["prediction"] = hypotheses[position]
        row["reference"] = state["references"][split][position]
        rows[index] = row
    return rows
