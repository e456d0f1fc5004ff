"""Metric functions against values computed by hand."""

import numpy as np
import pytest

from llmkit.errors import UsageError
from llmkit.metrics import (
    classification_scores,
    per_class_scores,
    regression_scores,
    softmax,
    split_metric_names,
)


def test_single_label_scores_match_hand_computation():
    refs = np.array([0, 0, 1, 1, 1])
    preds = np.array([0, 0, 1, 0, 2])
    # class 0: tp=2 fp=1 fn=0 -> p=2/3 r=1   f1=0.8
    # class 1: tp=1 fp=0 fn=2 -> p=1   r=1/3 f1=0.5
    # class 2: tp=0 fp=1 fn=0 -> p=0   r=0   f1=0 (predicted, so it counts in the macro average)
    scores = classification_scores(preds, refs, 3)
    assert scores["accuracy"] == pytest.approx(3 / 5)
    p = [2 / 3, 1.0, 0.0]
    r = [1.0, 1 / 3, 0.0]
    f = [0.8, 0.5, 0.0]
    assert scores["precision"] == pytest.approx(sum(p) / 3)
    assert scores["recall"] == pytest.approx(sum(r) / 3)
    assert scores["f1"] == pytest.approx(sum(f) / 3)


def test_macro_average_skips_classes_absent_from_both_sides():
    scores = classification_scores(np.array([0, 1]), np.array([0, 1]), num_labels=4)
    assert scores["f1"] == 1.0  # classes 2 and 3 never occur: not averaged in (scikit-learn's default)


def test_per_class_rows_have_support():
    rows = per_class_scores(np.array([0, 1, 1]), np.array([0, 1, 0]), 2)
    assert rows[0] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2, "predicted": 1}
    assert rows[1]["precision"] == 0.5 and rows[1]["support"] == 1


def test_multilabel_scores():
    preds = np.array([[1, 0, 1], [0, 1, 0]])
    refs = np.array([[1, 0, 0], [0, 1, 0]])
    scores = classification_scores(preds, refs, 3)
    assert scores["accuracy"] == 0.5  # exact match on 1 of 2 rows
    assert scores["f1_micro"] == pytest.approx(2 * 2 / (3 + 2))


def test_regression_scores():
    scores = regression_scores(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert scores["mse"] == pytest.approx(4 / 3)
    assert scores["mae"] == pytest.approx(2 / 3)
    assert scores["pearson"] == pytest.approx(np.corrcoef([1, 2, 3], [1, 2, 5])[0, 1])


def test_softmax_is_stable_and_normalised():
    probs = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    assert probs[0].tolist() == [0.5, 0.5]
    assert probs[1, 1] == pytest.approx(0.75)


def test_metric_names_split_builtin_from_evaluate_and_catch_typos():
    assert split_metric_names(None, ("accuracy", "f1")) == (["accuracy", "f1"], [])
    assert split_metric_names(["f1", "./my_metric.py", "matthews_correlation"], ("accuracy", "f1")) == (
        ["f1"],
        ["./my_metric.py", "matthews_correlation"],
    )
    with pytest.raises(UsageError, match="did you mean 'accuracy'"):
        split_metric_names(["acuracy"], ("accuracy", "f1"))
