"""textcls preprocessing on a few hand-written rows."""

import pytest

from llmkit.config import ModelSection
from llmkit.errors import DataError
from llmkit.recipe import load_recipe_data
from llmkit.tasks.spec import PrepareContext
from llmkit.tasks.textcls import prepare


@pytest.fixture(scope="module")
def tokenizer():
    from llmkit.models import load_tokenizer

    return load_tokenizer(ModelSection(name_or_path="tiny-bert"))


def recipe(**sections):
    data = {"task": "textcls", "model": {"name_or_path": "tiny-bert"}, **sections}
    return load_recipe_data(data).recipe


def context(recipe_, tokenizer, splits, training=True, model_config=None):
    import datasets

    raw = {name: datasets.Dataset.from_list(rows) for name, rows in splits.items()}
    return PrepareContext(recipe=recipe_, raw=raw, tokenizer=tokenizer, model_config=model_config, training=training)


TRAIN = [
    {"text": "a dog", "label": "animal"},
    {"text": "a hammer", "label": "tool"},
    {"text": "a cat that purrs", "label": "animal"},
]


def test_labels_are_sorted_training_labels_and_encoded(tokenizer):
    prepared = prepare(context(recipe(), tokenizer, {"train": TRAIN}))
    assert prepared.state["labels"] == ["animal", "tool"]
    assert prepared.features["train"]["labels"] == [0, 1, 0]
    assert prepared.model_kwargs["id2label"] == {0: "animal", 1: "tool"}
    assert "attention_mask" in prepared.features["train"].column_names
    assert "text" not in prepared.features["train"].column_names  # raw columns removed


def test_integer_labels_sort_numerically(tokenizer):
    rows = [{"text": str(i), "label": v} for i, v in enumerate([10, 2, 1])]
    prepared = prepare(context(recipe(), tokenizer, {"train": rows}))
    assert prepared.state["labels"] == ["1", "2", "10"]


def test_unseen_validation_label_is_a_data_error_with_counts(tokenizer):
    validation = [{"text": "x", "label": "plant"}, {"text": "y", "label": "plant"}]
    with pytest.raises(DataError) as info:
        prepare(context(recipe(), tokenizer, {"train": TRAIN, "validation": validation}))
    message = str(info.value)
    assert "'plant' (2 rows)" in message and "known labels: animal, tool" in message


def test_missing_column_names_key_and_available_columns(tokenizer):
    r = recipe(data={"text_column": "sentence"})
    with pytest.raises(DataError) as info:
        prepare(context(r, tokenizer, {"train": TRAIN}))
    assert "column 'sentence' (data.text_column) not found" in str(info.value)
    assert "columns: text, label" in str(info.value)


def test_truncation_is_counted_exactly(tokenizer):
    rows = [{"text": "word " * 50, "label": "a"}, {"text": "short", "label": "b"}]
    prepared = prepare(context(recipe(data={"max_seq_length": 8}), tokenizer, {"train": rows}))
    assert prepared.summary.truncated == {"train": 1}
    assert [len(x) for x in prepared.features["train"]["input_ids"]] == [8, 3]


def test_text_pairs_use_segment_ids(tokenizer):
    rows = [{"a": "one", "b": "two", "label": 0}, {"a": "three", "b": "four", "label": 1}]
    r = recipe(data={"text_column": "a", "text_pair_column": "b"})
    prepared = prepare(context(r, tokenizer, {"train": rows}))
    assert prepared.features["train"]["token_type_ids"][0][-2:] == [1, 1]


def test_multi_label_with_separator(tokenizer):
    rows = [{"text": "x", "label": "a,b"}, {"text": "y", "label": "b"}]
    r = recipe(textcls={"problem_type": "multi_label_classification", "label_separator": ","})
    prepared = prepare(context(r, tokenizer, {"train": rows}))
    assert prepared.features["train"]["labels"] == [[1.0, 1.0], [0.0, 1.0]]


def test_eval_takes_labels_from_the_trained_checkpoint(tokenizer):
    from transformers import BertConfig

    config = BertConfig(id2label={0: "tool", 1: "animal"}, label2id={"tool": 0, "animal": 1})
    prepared = prepare(context(recipe(), tokenizer, {"test": TRAIN}, training=False, model_config=config))
    assert prepared.state["labels"] == ["tool", "animal"]
    assert prepared.features["test"]["labels"] == [1, 0, 1]


def test_one_class_is_not_enough(tokenizer):
    with pytest.raises(DataError, match="at least 2"):
        prepare(context(recipe(), tokenizer, {"train": [{"text": "x", "label": "a"}]}))


def test_tokenized_features_are_cached_by_content_not_by_pickling(tokenizer):
    import datasets

    r = recipe()
    first = prepare(context(r, tokenizer, {"train": TRAIN}))
    raw = datasets.Dataset.from_list(TRAIN)
    again = prepare(PrepareContext(recipe=r, raw={"train": raw}, tokenizer=tokenizer, model_config=None, training=True))
    assert again.features["train"]._fingerprint == first.features["train"]._fingerprint
    changed = prepare(context(recipe(data={"max_seq_length": 4}), tokenizer, {"train": TRAIN}))
    assert changed.features["train"]._fingerprint != first.features["train"]._fingerprint


def test_rows_without_label_or_text_are_left_out_and_counted(tokenizer, caplog):
    rows = [*TRAIN, {"text": "a spoon", "label": None}, {"text": "  ", "label": "tool"}, {"text": "a cow", "label": ""}]
    prepared = prepare(context(recipe(), tokenizer, {"train": rows}))
    assert prepared.summary.dropped == {"train": 3}
    assert prepared.features["train"]["labels"] == [0, 1, 0]
    assert prepared.state["ids"]["train"] == [0, 1, 2]
    assert "2 row(s) with no 'label' value (rows 4, 6); 1 row(s) with no 'text' text (row 5)" in caplog.text


def test_strict_stops_on_a_row_without_label(tokenizer):
    import dataclasses

    rows = [{"text": "a spoon", "label": None}, *TRAIN]
    ctx = dataclasses.replace(context(recipe(), tokenizer, {"train": rows}), strict=True)
    with pytest.raises(DataError, match=r"1 row\(s\) with no 'label' value \(row 1\) \(--strict"):
        prepare(ctx)


def test_dropped_rows_keep_their_position_as_id(tokenizer):
    rows = [{"text": "a spoon", "label": None}, *TRAIN]
    prepared = prepare(context(recipe(), tokenizer, {"train": rows, "validation": rows}))
    assert prepared.state["ids"]["validation"] == [1, 2, 3]
    assert prepared.summary.dropped == {"train": 1, "validation": 1}


def test_a_split_with_no_usable_row_is_a_data_error(tokenizer):
    rows = [{"text": "x", "label": None}, {"text": "y", "label": None}]
    with pytest.raises(DataError, match="no usable row"):
        prepare(context(recipe(), tokenizer, {"train": TRAIN, "validation": rows}))


def _jsonl_context(tmp_path, tokenizer, rows, **sections):
    import json

    from llmkit.data import load_raw

    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    r = recipe(data={"train_file": str(path)}, **sections)
    raw = load_raw(r.data, splits=("train",))
    return path, PrepareContext(
        recipe=r, raw=raw.splits, tokenizer=tokenizer, model_config=None, training=True, sources=raw.sources
    )


def test_mixed_label_types_name_their_lines(tokenizer, tmp_path):
    rows = [{"text": "a", "label": 1}, {"text": "b", "label": "dog"}, {"text": "c", "label": 2}]
    path, ctx = _jsonl_context(tmp_path, tokenizer, rows)
    with pytest.raises(DataError) as caught:
        prepare(ctx)
    message = str(caught.value)
    assert message.startswith("data.train_file: column 'label' mixes numbers")
    assert f"numbers ({path} lines 1, 3) and strings ({path} line 2)" in message


def test_lists_mixed_with_strings_in_multi_label(tokenizer, tmp_path):
    rows = [{"text": "a", "label": ["x", "y"]}, {"text": "b", "label": "y"}]
    _, ctx = _jsonl_context(tmp_path, tokenizer, rows, textcls={"problem_type": "multi_label_classification"})
    with pytest.raises(DataError, match=r"mixes lists \(.*line 1\) and strings \(.*line 2\); write every row"):
        prepare(ctx)


def test_list_labels_need_the_multi_label_problem_type(tokenizer, tmp_path):
    rows = [{"text": "a", "label": ["x"]}, {"text": "b", "label": ["y"]}]
    _, ctx = _jsonl_context(tmp_path, tokenizer, rows)
    with pytest.raises(DataError, match=r"holds lists .*multi_label_classification"):
        prepare(ctx)


def test_regression_labels_that_are_not_numbers_are_left_out(tokenizer):
    rows = [{"text": "a", "label": "1.5"}, {"text": "b", "label": "high"}, {"text": "c", "label": "2"}]
    prepared = prepare(context(recipe(textcls={"problem_type": "regression"}), tokenizer, {"train": rows}))
    assert prepared.features["train"]["labels"] == [1.5, 2.0]
    assert prepared.summary.dropped == {"train": 1}
