"""Arrow-side column helpers: same answers as Python iteration, also on selected (indexed) datasets."""

from __future__ import annotations

import datasets

from llmkit.data import column_sum, column_values


def test_column_sum_matches_python_sum_and_respects_selection() -> None:
    data = datasets.Dataset.from_dict({"n": [3, 5, 7, 11], "flag": [True, False, True, True]})
    assert column_sum(data, "n") == 26
    assert column_sum(data, "flag") == 3
    picked = data.select([1, 3])  # an indices mapping over the full table
    assert column_sum(picked, "n") == 16
    assert column_sum(picked, "flag") == 1
    assert column_sum(data.select([]), "n") == 0


def test_column_values_keeps_order_and_structs() -> None:
    rows = [{"en": "a", "de": "b"}, {"en": "c", "de": "d"}]
    data = datasets.Dataset.from_dict({"id": ["x", "y"], "translation": rows})
    assert column_values(data, "id") == ["x", "y"]
    assert column_values(data, "translation") == rows
    assert column_values(data.select([1, 0]), "id") == ["y", "x"]
