"""textcls preprocessing on a few hand-written rows."""

import pytest

from llmkit.config import ModelSection, load_recipe_data
from llmkit.errors import DataError
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
    assert prepared.summary["truncated"] == {"train": 1}
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
