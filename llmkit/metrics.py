"""Metric functions computed locally, never fetched at run time.

Each function here is checked in ``tests/unit`` against hand-computed values or the field's
reference tool. ``load_evaluate_module`` is the one door to Hugging Face ``evaluate``: it is
imported only when a recipe names a metric that is not built in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from llmkit.errors import UsageError, did_you_mean

# ---------------------------------------------------------------------------------------------
# Classification


def per_class_scores(predictions: np.ndarray, references: np.ndarray, num_labels: int) -> list[dict[str, float]]:
    """Precision, recall, F1 and support per class id (0/0 counts as 0, like scikit-learn).

    For single-label data pass 1-D class ids; for multi-label data pass 0/1 matrices.
    """
    predictions, references = np.asarray(predictions), np.asarray(references)
    rows = []
    for label in range(num_labels):
        if references.ndim == 2:
            pred, ref = predictions[:, label] == 1, references[:, label] == 1
        else:
            pred, ref = predictions == label, references == label
        tp = int(np.sum(pred & ref))
        fp = int(np.sum(pred & ~ref))
        fn = int(np.sum(~pred & ref))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append(
            {"precision": precision, "recall": recall, "f1": f1, "support": int(np.sum(ref)), "predicted": tp + fp}
        )
    return rows


def classification_scores(predictions: np.ndarray, references: np.ndarray, num_labels: int) -> dict[str, float]:
    """Accuracy and macro precision/recall/F1.

    Macro averages run over the classes that occur in the references or the predictions, which is
    scikit-learn's default for ``average="macro"``. For multi-label 0/1 matrices, accuracy is the
    exact-match ratio and ``f1_micro`` is added.
    """
    predictions, references = np.asarray(predictions), np.asarray(references)
    rows = per_class_scores(predictions, references, num_labels)
    present = [r for r in rows if r["support"] or r["predicted"]] or rows
    scores = {
        "accuracy": float(
            np.mean(np.all(predictions == references, axis=-1) if references.ndim == 2 else predictions == references)
        ),
        "precision": float(np.mean([r["precision"] for r in present])),
        "recall": float(np.mean([r["recall"] for r in present])),
        "f1": float(np.mean([r["f1"] for r in present])),
    }
    if references.ndim == 2:
        tp = int(np.sum((predictions == 1) & (references == 1)))
        predicted, actual = int(np.sum(predictions == 1)), int(np.sum(references == 1))
        scores["f1_micro"] = 2 * tp / (predicted + actual) if predicted + actual else 0.0
    return scores


def regression_scores(predictions: np.ndarray, references: np.ndarray) -> dict[str, float]:
    """Mean squared/absolute error and Pearson correlation for one-target regression."""
    pred = np.asarray(predictions, dtype=np.float64).reshape(-1)
    ref = np.asarray(references, dtype=np.float64).reshape(-1)
    mse = float(np.mean((pred - ref) ** 2))
    pearson = float(np.corrcoef(pred, ref)[0, 1]) if pred.std() > 0 and ref.std() > 0 else 0.0
    return {"mse": mse, "rmse": math.sqrt(mse), "mae": float(np.mean(np.abs(pred - ref))), "pearson": pearson}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function."""
    return 1.0 / (1.0 + np.exp(-logits))


# ---------------------------------------------------------------------------------------------
# Hugging Face `evaluate` modules, only when a recipe names one


def split_metric_names(names: Sequence[str] | None, builtin: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate built-in metric names from `evaluate` module names; catch typos of built-ins."""
    if not names:
        return list(builtin), []
    chosen, external = [], []
    for name in names:
        if name in builtin:
            chosen.append(name)
        elif "/" in name or Path(name).suffix == ".py" or not did_you_mean(name, builtin):
            external.append(name)
        else:
            raise UsageError(
                f"eval.metrics: unknown metric '{name}'{did_you_mean(name, builtin)} (built-in: {', '.join(builtin)})"
            )
    return chosen, external


def load_evaluate_module(name: str) -> Any:
    """Load a Hugging Face ``evaluate`` metric (a hub name, or a local script path) on demand."""
    try:
        import evaluate
    except ImportError:
        raise UsageError(
            f"eval.metrics: '{name}' is not a built-in metric; to use Hugging Face evaluate modules, "
            "install them with `pip install 'llmkit[evaluate]'`"
        ) from None
    try:
        return evaluate.load(name)
    except Exception as exc:
        cause = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"eval.metrics: cannot load evaluate module '{name}': {cause}") from exc


# ---------------------------------------------------------------------------------------------
# Language modelling


def perplexity_from_sums(nll: np.ndarray, tokens: np.ndarray) -> dict[str, float]:
    """Perplexity = exp(total NLL / total predicted tokens), from per-row NLL sums and token counts.

    Weighting by tokens (not averaging per-batch means) keeps the number independent of batching.
    """
    total_tokens = float(np.sum(tokens))
    if total_tokens == 0:
        return {"perplexity": float("nan"), "loss": float("nan"), "tokens": 0.0}
    loss = float(np.sum(nll, dtype=np.float64)) / total_tokens
    return {"perplexity": math.exp(min(loss, 700.0)), "loss": loss, "tokens": total_tokens}


# ---------------------------------------------------------------------------------------------
# Translation: corpus BLEU and chrF with sacrebleu's standard settings


def translation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU and chrF (one reference per sentence), as the ``sacrebleu`` command line computes them.

    sacrebleu's defaults are the field's standard (13a tokenization, exponential smoothing, chrF with
    character 6-grams and beta 2), so scores are comparable with published numbers.
    """
    return {name: score for name, (score, _) in _sacrebleu(hypotheses, references).items()}


def translation_signatures(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, str]:
    """sacrebleu's signature of each score above (settings and version): what to report next to it."""
    return {name: signature for name, (_, signature) in _sacrebleu(hypotheses, references).items()}


def _sacrebleu(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, tuple[float, str]]:
    from sacrebleu.metrics import BLEU, CHRF

    hyps, refs = [str(h) for h in hypotheses], [[str(r) for r in references]]
    out = {}
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF())):
        score = metric.corpus_score(hyps, refs).score  # the signature needs a scored corpus (it counts refs)
        out[name] = (float(score), str(metric.get_signature()))
    return out
