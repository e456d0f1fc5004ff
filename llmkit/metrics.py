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


def perplexity(loss: float) -> float:
    """exp(mean NLL); ``inf`` once that overflows a float (a loss above ~709 nats), never an exception.

    A run whose loss is huge but finite (the divergence guard stops only on non-finite ones) still
    finishes and reports ``perplexity: inf``.
    """
    try:
        return math.exp(loss)
    except OverflowError:
        return float("inf")


def perplexity_from_sums(nll: np.ndarray, tokens: np.ndarray) -> dict[str, float]:
    """Perplexity = exp(total NLL / total predicted tokens), from per-row NLL sums and token counts.

    Weighting by tokens (not averaging per-batch means) keeps the number independent of batching.
    """
    total_tokens = float(np.sum(tokens))
    if total_tokens == 0:
        return {"perplexity": float("nan"), "loss": float("nan"), "tokens": 0.0}
    loss = float(np.sum(nll, dtype=np.float64)) / total_tokens
    return {"perplexity": perplexity(loss), "loss": loss, "tokens": total_tokens}


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


# ---------------------------------------------------------------------------------------------
# Extractive question answering (SQuAD v1.1 and v2.0)
#
# These follow the official evaluation scripts (``evaluate-v1.1.py`` and ``evaluate-v2.0.py``) step by step,
# so that the numbers are the ones papers report: scores on a 0-100 scale, a question without a prediction
# counts as wrong, and v2.0 drops gold answers that normalize to nothing (an all-empty list means "no answer").


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower-case, drop ASCII punctuation, drop the articles a/an/the, collapse spaces."""
    import re
    import string

    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_exact(prediction: str, gold: str) -> int:
    """1 when the normalized strings are equal."""
    return int(normalize_answer(prediction) == normalize_answer(gold))


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    from collections import Counter

    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_v1_f1(prediction: str, gold: str) -> float:
    """v1.1 token F1: bag-of-tokens overlap; an empty side scores 0 (the v1.1 script never sees empties)."""
    return _token_f1(normalize_answer(prediction).split(), normalize_answer(gold).split())


def squad_v2_f1(prediction: str, gold: str) -> float:
    """v2.0 token F1: like v1.1, except that two empty answers agree (1) and one empty side scores 0."""
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    return _token_f1(pred_tokens, gold_tokens)


def squad_v1_scores(predictions: dict[str, str], references: dict[str, list[str]]) -> dict[str, float]:
    """``exact_match`` and ``f1`` (0-100) as ``evaluate-v1.1.py``: max over gold answers, mean over questions.

    Args:
        predictions: question id -> predicted answer text.
        references: question id -> gold answer texts; every id counts, predicted or not.
    """
    total = len(references)
    exact = f1 = 0.0
    for qid, golds in references.items():
        if qid not in predictions:
            continue  # the official script counts a missing prediction as 0
        exact += max(float(squad_exact(predictions[qid], g)) for g in golds)
        f1 += max(squad_v1_f1(predictions[qid], g) for g in golds)
    return {"exact_match": 100.0 * exact / total if total else 0.0, "f1": 100.0 * f1 / total if total else 0.0}


def squad_v2_scores(
    predictions: dict[str, str],
    references: dict[str, list[str]],
    no_answer_probs: dict[str, float] | None = None,
    no_answer_threshold: float = 1.0,
) -> dict[str, float]:
    """The v2.0 metrics of ``evaluate-v2.0.py``, with ``exact`` reported as ``exact_match``.

    Keys: ``exact_match``, ``f1``, ``total``; ``HasAns_exact/f1/total`` and ``NoAns_exact/f1/total`` when such
    questions exist; ``best_exact(_thresh)`` and ``best_f1(_thresh)``, the scores at the no-answer threshold
    that maximizes them (computed when ``no_answer_probs`` is given, as the script does with ``--na-prob-file``).

    Args:
        predictions: question id -> predicted text ("" = no answer). Ids without a prediction are skipped,
            as in the official script.
        references: question id -> gold texts ([] = unanswerable; answers that normalize to "" are dropped).
        no_answer_probs: question id -> "no answer" score (any scale; higher = more likely unanswerable).
        no_answer_threshold: a question whose score is above this counts as answered with "" (script default 1.0).
    """
    # As in the script, "has an answer" means a non-empty gold list, before normalization.
    has_answer = {qid: bool(golds) for qid, golds in references.items()}
    exact_raw: dict[str, float] = {}
    f1_raw: dict[str, float] = {}
    for qid, golds in references.items():
        if qid not in predictions:
            continue
        kept = [g for g in golds if normalize_answer(g)] or [""]
        exact_raw[qid] = float(max(squad_exact(predictions[qid], g) for g in kept))
        f1_raw[qid] = max(squad_v2_f1(predictions[qid], g) for g in kept)
    probs = no_answer_probs if no_answer_probs is not None else dict.fromkeys(predictions, 0.0)
    exact, f1 = (
        {q: float(not has_answer[q]) if probs.get(q, 0.0) > no_answer_threshold else v for q, v in raw.items()}
        for raw in (exact_raw, f1_raw)
    )
    result = _summary_over(exact, f1, list(exact), "")
    result["exact_match"] = result.pop("exact")
    if any(has_answer.values()):
        result.update(_summary_over(exact, f1, [q for q in references if has_answer[q]], "HasAns_"))
    if not all(has_answer.values()):
        result.update(_summary_over(exact, f1, [q for q in references if not has_answer[q]], "NoAns_"))
    if no_answer_probs is not None:
        for name, raw in (("exact", exact_raw), ("f1", f1_raw)):
            best, threshold = _best_threshold(predictions, raw, no_answer_probs, has_answer)
            result[f"best_{name}"], result[f"best_{name}_thresh"] = best, threshold
    return result


def _summary_over(exact: dict[str, float], f1: dict[str, float], ids: list[str], prefix: str) -> dict[str, float]:
    """The script's ``make_eval_dict`` over a list of ids (an id without a score raises there; here it is 0)."""
    n = len(ids)
    if n == 0:
        return {f"{prefix}exact": 0.0, f"{prefix}f1": 0.0, f"{prefix}total": 0.0}
    return {
        f"{prefix}exact": 100.0 * sum(exact.get(q, 0.0) for q in ids) / n,
        f"{prefix}f1": 100.0 * sum(f1.get(q, 0.0) for q in ids) / n,
        f"{prefix}total": float(n),
    }


def _best_threshold(
    predictions: dict[str, str], scores: dict[str, float], probs: dict[str, float], has_answer: dict[str, bool]
) -> tuple[float, float]:
    """``find_best_thresh``: sweep the no-answer threshold over the sorted scores, keep the best total."""
    current = best = float(sum(1 for q in has_answer if not has_answer[q]))
    threshold = 0.0
    for qid in sorted(probs, key=lambda q: probs[q]):  # stable: ties keep the given order, like the script
        if qid not in scores:
            continue
        if has_answer[qid]:
            current += scores[qid]
        else:
            current += -1.0 if predictions[qid] else 0.0
        if current > best:
            best, threshold = current, probs[qid]
    return 100.0 * best / len(scores) if scores else 0.0, float(threshold)
