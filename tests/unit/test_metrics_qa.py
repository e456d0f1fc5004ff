"""SQuAD exact match and F1 against values worked out by hand from the official v1.1 / v2.0 scripts' rules."""

import pytest

from llmkit.metrics import (
    normalize_answer,
    squad_exact,
    squad_v1_f1,
    squad_v1_scores,
    squad_v2_f1,
    squad_v2_scores,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Cat's, hat!", "cats hat"),  # lower-case, punctuation removed (apostrophe too), spaces collapsed
        ("an apple a day", "apple day"),  # articles a/an/the removed as words
        ("Theater anthem", "theater anthem"),  # ...but not inside words
        ("  the\tEiffel\nTower. ", "eiffel tower"),
        ("the", ""),
        ("U.S.A.", "usa"),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_token_f1_counts_repeated_tokens_once_each():
    # pred {cat: 2, dog: 1}, gold {cat: 1, dog: 2}: overlap 1 + 1 = 2, precision = recall = 2/3
    assert squad_v1_f1("cat cat dog", "cat dog dog") == pytest.approx(2 / 3)
    assert squad_v1_f1("Paris, France", "paris") == pytest.approx(2 / 3)  # P 1/2, R 1
    assert squad_v1_f1("blue", "red") == 0.0


def test_empty_answers_differ_between_v1_and_v2():
    assert squad_exact("the", "a") == 1  # both normalize to ""
    assert squad_v1_f1("the", "a") == 0.0  # v1.1: no common token -> 0
    assert squad_v2_f1("the", "a") == 1.0  # v2.0: two empty answers agree
    assert squad_v2_f1("", "Denver") == 0.0
    assert squad_v2_f1("Denver", "") == 0.0


def test_v1_scores_take_the_max_over_gold_answers_and_count_missing_predictions():
    predictions = {"q1": "the Eiffel Tower", "q2": "Paris, France", "q3": "in 1889"}
    references = {
        "q1": ["Eiffel Tower", "the tower"],  # exact after normalization
        "q2": ["Paris"],  # EM 0, F1 2/3
        "q3": ["1889", "in the year 1889"],  # F1 2/3 vs "1889", 0.8 vs "in year 1889" (P 1, R 2/3)
        "q4": ["anything"],  # no prediction: 0
    }
    scores = squad_v1_scores(predictions, references)
    assert scores["exact_match"] == pytest.approx(100 * 1 / 4)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0.8 + 0) / 4)


def test_v1_ties_between_gold_answers_give_the_same_max():
    scores = squad_v1_scores({"q": "red car"}, {"q": ["red", "car"]})  # F1 2/3 against either
    assert scores == {"exact_match": 0.0, "f1": pytest.approx(100 * 2 / 3)}


# Five questions: a, b, c answerable; d, e unanswerable. diff = "no-answer" score per question.
V2_PREDICTIONS = {
    "a": "Denver Broncos",
    "b": "the Panthers",
    "c": "Santa Clara, California",
    "d": "Levi's Stadium",
    "e": "Super Bowl",
}
V2_REFERENCES = {
    "a": ["Denver Broncos"],
    "b": ["Carolina Panthers", "Panthers"],
    "c": ["Santa Clara"],  # F1 0.8: P 2/3, R 1
    "d": [],
    "e": [],
}
V2_DIFFS = {"a": -2.0, "b": -1.0, "c": 0.5, "d": 3.0, "e": 1.0}


def test_v2_scores_with_a_no_answer_threshold():
    scores = squad_v2_scores(V2_PREDICTIONS, V2_REFERENCES, V2_DIFFS, no_answer_threshold=0.0)
    # Above threshold 0: c, d, e are answered "" -> c wrong, d and e right. a, b right as predicted.
    assert scores["exact_match"] == pytest.approx(80.0)
    assert scores["f1"] == pytest.approx(80.0)
    assert scores["total"] == 5
    assert scores["HasAns_exact"] == pytest.approx(200 / 3)
    assert scores["HasAns_f1"] == pytest.approx(200 / 3)
    assert scores["HasAns_total"] == 3
    assert scores["NoAns_exact"] == scores["NoAns_f1"] == 100.0
    assert scores["NoAns_total"] == 2


def test_v2_best_thresholds_sweep_the_sorted_no_answer_scores():
    scores = squad_v2_scores(V2_PREDICTIONS, V2_REFERENCES, V2_DIFFS, no_answer_threshold=0.0)
    # Start from "all answered ''": 2 right. Sorted a, b, c, e, d. Exact: 3, 4, 4 (c is 0), 3, 2 -> best 4 at b.
    assert scores["best_exact"] == pytest.approx(80.0)
    assert scores["best_exact_thresh"] == -1.0
    # F1: 3, 4, 4.8 (c is 0.8), 3.8, 2.8 -> best 4.8 at c.
    assert scores["best_f1"] == pytest.approx(96.0)
    assert scores["best_f1_thresh"] == 0.5


def test_v2_without_no_answer_scores_uses_the_raw_predictions():
    scores = squad_v2_scores(V2_PREDICTIONS, V2_REFERENCES)
    assert scores["exact_match"] == pytest.approx(40.0)  # a, b
    assert scores["f1"] == pytest.approx(100 * 2.8 / 5)
    assert scores["NoAns_exact"] == 0.0
    assert "best_f1" not in scores


def test_v2_empty_prediction_on_unanswerable_question_is_right():
    scores = squad_v2_scores({"x": "", "y": ""}, {"x": [], "y": ["Denver"]})
    assert scores["exact_match"] == scores["f1"] == 50.0
    assert scores["NoAns_exact"] == 100.0 and scores["HasAns_exact"] == 0.0


def test_v2_gold_answers_that_normalize_to_nothing_are_dropped():
    # The script keeps only golds with a non-empty normalization, so "the" alone means "" is right;
    # the question still counts as HasAns (its answer list is not empty).
    scores = squad_v2_scores({"q": ""}, {"q": ["the"]})
    assert scores["exact_match"] == 100.0 and scores["f1"] == 100.0
    assert scores["HasAns_total"] == 1 and "NoAns_total" not in scores


def test_v2_missing_predictions_are_skipped_from_the_total():
    scores = squad_v2_scores({"a": "Denver Broncos"}, {"a": ["Denver Broncos"], "b": ["x"]})
    assert scores["total"] == 1 and scores["exact_match"] == 100.0
    assert scores["HasAns_total"] == 2 and scores["HasAns_exact"] == 50.0  # the script's qid list holds b too
