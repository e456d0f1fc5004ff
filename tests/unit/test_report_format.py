"""report.html's number formatting, curve grouping and prediction review on hand-written values."""

from __future__ import annotations

from llmkit.train.report_format import byte_size, format_value, label, mib, number, percent, seconds
from llmkit.train.report_plots import group
from llmkit.train.review import confusion, is_mistake, mistakes


def test_seconds_mib_bytes_and_percentages():
    assert seconds(0.4242) == "0.42 s" and seconds(41.26) == "41.3 s"
    assert seconds(125) == "2 min 05 s" and seconds(3725) == "1 h 02 min"
    assert mib(661.2) == "661 MiB" and mib(2048) == "2.00 GiB"
    assert byte_size(512) == "512 B" and byte_size(94_208) == "92.0 KiB" and byte_size(3 * 2**30) == "3.00 GiB"
    assert percent(5, 80) == "6.2%" and percent(1, 0) == ""
    assert number(0.123456) == "0.1235" and number(2.1e9) == "2.1e+09" and number(float("inf")) == "inf"


def test_values_are_formatted_by_the_kind_their_key_names():
    assert format_value("wall_time_s", 4.1) == "4.10 s"
    assert format_value("train_runtime", 194.0) == "3 min 14 s"
    assert format_value("peak_rss_mb", 1075.5) == "1.05 GiB"
    assert format_value("adapter_bytes", 2**20) == "1.0 MiB"
    assert format_value("eval_samples_per_second", 14.63) == "14.6/s"
    assert format_value("steps", 12000) == "12,000" and format_value("accuracy", 0.8) == "0.8000"
    assert format_value("full_determinism", False) == "no" and format_value("device_name", None) == ""
    assert format_value("labels", ["a", "b"]) == "a, b"
    assert label("wall_time_s") == "wall time" and label("peak_rss_mb") == "peak rss" and label("steps") == "steps"


def test_losses_and_scores_share_charts_and_constant_series_are_named_not_drawn():
    series = {
        "train_loss": [(1, 2.0), (2, 1.5)],
        "eval_loss": [(2, 1.7)],
        "eval_accuracy": [(2, 0.5), (4, 0.75)],
        "eval_f1": [(2, 0.4), (4, 0.7)],
        "eval_perplexity": [(2, 30.0), (4, 20.0)],
        "learning_rate": [(1, 1e-3), (2, 1e-3)],
    }
    charts, constant = group(series)
    assert [c.names for c in charts] == [["train_loss", "eval_loss"], ["eval_accuracy", "eval_f1"], ["eval_perplexity"]]
    assert constant == {"learning_rate": 1e-3}


def test_mistakes_and_confusion_from_generic_row_keys():
    rows = [
        {"prediction": "a", "reference": "a"},
        {"prediction": "b", "reference": "a"},
        {"prediction": "a", "reference": "c"},
        {"prediction": "Paris", "reference": ["Paris", "paris"]},  # a list of accepted answers
        {"prediction": "x"},  # no reference: not judged
    ]
    assert [is_mistake(r) for r in rows] == [False, True, True, False, False]
    assert mistakes(rows, limit=1) == [rows[1]]
    found = confusion(rows[:3], labels=["c", "b", "a"])
    assert found == {"labels": ["c", "b", "a"], "matrix": [[0, 0, 1], [0, 0, 0], [0, 1, 1]]}
    assert confusion([{"prediction": 0.4, "reference": 0.5}]) is None  # regression: no classes
    assert confusion([{"prediction": ["a"], "reference": ["a", "b"]}]) is None  # multi-label sets
