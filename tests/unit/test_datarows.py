"""Bad rows: Arrow checks for missing values and mixed types, and where a split's row sits in its file."""

from __future__ import annotations

import json

import datasets
import pytest

from llmkit.data import column_values, load_raw
from llmkit.data.rows import Dropped, Sources, drop_rows, key_of, missing_rows, report_dropped, value_kinds, where
from llmkit.errors import DataError
from llmkit.recipe import load_recipe_data


def data_section(**data):
    return load_recipe_data({"task": "textcls", "model": {"name_or_path": "tiny-bert"}, "data": data}).recipe.data


def test_missing_rows_are_nulls_and_blank_strings():
    rows = datasets.Dataset.from_dict({"label": ["a", None, "  ", "b", ""], "n": [1, None, 3, 4, 5]})
    assert missing_rows(rows, "label") == [1, 2, 4]
    assert missing_rows(rows, "n") == [1]
    assert missing_rows(rows.select([3, 1, 0]), "label") == [1]  # positions in the selection


def test_mixed_json_values_are_decoded_and_grouped_by_kind(tmp_path):
    path = tmp_path / "m.jsonl"
    rows = [{"label": 1}, {"label": "dog"}, {"text": "no label"}, {"label": ["a"]}, {"label": 2}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    raw = load_raw(data_section(train_file=str(path)), splits=("train",))
    train = raw.splits["train"]
    assert column_values(train, "label") == [1, "dog", None, ["a"], 2]  # not JSON text
    assert value_kinds(train, "label") == {"number": [0, 4], "string": [1], "list": [3]}
    assert missing_rows(train, "label") == [2]
    assert value_kinds(datasets.Dataset.from_dict({"label": ["a", "b"]}), "label") == {}


def test_rows_are_located_on_their_file_lines_across_several_files(tmp_path):
    first = tmp_path / "a.csv"
    first.write_text('text,label\nx,1\n\n"two\nlines",2\n')
    second = tmp_path / "b.csv"
    second.write_text("text,label\ny,3\nz,4\n")
    raw = load_raw(data_section(train_file=[str(first), str(second)]), splits=("train",))
    sources = raw.sources
    assert isinstance(sources, Sources) and sources["train"] == f"data.train_file ({first}, {second})"
    assert where(sources, "train", [0, 1, 3]) == f"{first} lines 2, 4; {second} line 3"
    assert key_of(sources, "train") == "data.train_file"


def test_a_carved_validation_split_points_at_the_training_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps({"text": f"row {i}", "label": i % 2}) + "\n" for i in range(20)))
    raw = load_raw(data_section(train_file=str(path), validation_split_percentage=25), seed=3)
    validation = raw.splits["validation"]
    texts = column_values(validation, "text")
    places = where(raw.sources, "validation", list(range(len(texts))), shown=len(texts))
    expected = ", ".join(str(int(t.split()[1]) + 1) for t in texts)  # row i of the file is on line i + 1
    assert places == f"{path} lines {expected}"
    assert key_of(raw.sources, "validation") == "data.validation_split_percentage (25% of data.train_file)"


def test_sample_limits_keep_rows_on_their_lines_and_plain_dicts_number_rows(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("one\ntwo\n\nfour\nfive\n")
    raw = load_raw(data_section(train_file=str(path), max_train_samples=4), splits=("train",))
    assert where(raw.sources, "train", [3]) == f"{path} line 4"
    assert where({"train": "data.dataset_name (x)"}, "train", [0, 6]) == "rows 1, 7"
    assert where({}, "train", list(range(9)), shown=2) == "rows 1, 2 and 7 more"


def test_parquet_rows_are_numbered(tmp_path):
    path = tmp_path / "t.parquet"
    datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": ["x", None, "y"]}).to_parquet(str(path))
    raw = load_raw(data_section(train_file=str(path)), splits=("train",))
    assert where(raw.sources, "train", missing_rows(raw.splits["train"], "label")) == f"{path} row 2"


def test_dropping_warns_counts_and_strict_stops(caplog):
    rows = datasets.Dataset.from_dict({"text": ["a", "b", "c"]})
    dropped = Dropped()
    dropped.add("no 'label' value", [2, 0])
    kept, count = drop_rows(rows, dropped, {"train": "data.train_file (t.csv)"}, "train", strict=False)
    assert count == 2 and kept["text"] == ["b"]
    assert "left out 2 row(s) with no 'label' value (rows 1, 3)" in caplog.text
    with pytest.raises(DataError, match=r"2 row\(s\) with no 'label' value \(rows 1, 3\) \(--strict"):
        report_dropped(3, dropped, {}, "train", strict=True)
    with pytest.raises(DataError, match="no usable row"):
        report_dropped(2, dropped, {}, "train", strict=False)
    assert report_dropped(3, Dropped(), {}, "train", strict=True) == 0
