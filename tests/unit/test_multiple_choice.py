"""The multiple_choice task on hand-written rows: choices layouts, the bad-row rule, pair features, the collator,
accuracy against scikit-learn and run_swag.py, predictions and the generate inputs."""

import json

import numpy as np
import pytest

from llmkit.errors import DataError, UsageError
from llmkit.models import ASSETS
from llmkit.recipe import load_recipe_data
from llmkit.tasks.multiple_choice import (
    ChoicesCollator,
    accuracy,
    details,
    encode,
    metrics,
    predict,
    prepare,
    sample_inputs,
    show_prediction,
)
from llmkit.tasks.multiple_choice_rows import label_index
from llmkit.tasks.spec import PrepareContext

ROWS = [
    {"question": "a young dog", "choices": ["kitten", "puppy", "calf"], "label": 1},
    {"question": "a sweet baked food", "choices": ["cake", "stone", "river"], "label": 0},
    {"question": "to move fast on foot", "choices": ["sleep", "read", "run"], "label": 2},
]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ASSETS / "tiny-bert")


@pytest.fixture(scope="module")
def model():
    import torch
    from transformers import BertConfig, BertForMultipleChoice

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=4096, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37
    )
    return BertForMultipleChoice(config).eval()


def recipe(**data):
    section = {"max_seq_length": 32, **data}
    return load_recipe_data({"task": "multiple_choice", "model": {"name_or_path": "tiny-bert"}, "data": section}).recipe


def prepared_of(rows, tokenizer, strict=False, **data):
    import datasets

    ctx = PrepareContext(
        recipe=recipe(**data),
        raw={"train": datasets.Dataset.from_list(rows)},
        tokenizer=tokenizer,
        model_config=None,
        training=True,
        strict=strict,
    )
    return prepare(ctx)


def test_each_question_becomes_one_block_of_question_choice_pairs(tokenizer):
    prepared = prepared_of(ROWS, tokenizer)
    features = prepared.features["train"]
    assert len(features) == 3 and features["labels"] == [1, 0, 2]
    for row, ids in zip(ROWS, features["input_ids"], strict=True):
        assert len(ids) == 3  # one sequence per choice
        for choice, sequence in zip(row["choices"], ids, strict=True):
            assert sequence == tokenizer(row["question"], choice)["input_ids"]  # a text pair, as run_swag.py
    assert prepared.summary.rows == {"train": 3}
    assert prepared.summary.extra == {"choices": {"train": 3}}
    assert prepared.summary.truncated == {"train": 0} and prepared.summary.dropped == {"train": 0}


def test_swag_columns_with_a_prefix_read_the_same_pairs(tokenizer):
    swag = [
        {"sent1": "She opened the door.", "sent2": "She", "ending0": "walked in.", "ending1": "flew.", "label": "0"},
        {"sent1": "He sat down.", "sent2": "He", "ending0": "slept.", "ending1": "ate lunch.", "label": "1"},
    ]
    prepared = prepared_of(
        swag,
        tokenizer,
        question_column="sent1",
        choices_column=["ending0", "ending1"],
        choice_prefix_column="sent2",
        id_column="sent2",
    )
    examples = prepared.state["examples"]["train"]
    assert examples.choices == [["She walked in.", "She flew."], ["He slept.", "He ate lunch."]]
    assert examples.labels == [0, 1] and examples.ids == ["She", "He"]
    first = prepared.features["train"]["input_ids"][0][1]
    assert first == tokenizer("She opened the door.", "She flew.")["input_ids"]


def test_choices_as_json_text_as_csv_files_hold_them(tokenizer):
    rows = [{**row, "choices": json.dumps(row["choices"])} for row in ROWS]
    assert prepared_of(rows, tokenizer).state["examples"]["train"].choices == [r["choices"] for r in ROWS]


def test_long_pairs_are_truncated_and_counted(tokenizer):
    rows = [{**ROWS[0], "question": "word " * 40}, ROWS[1]]
    prepared = prepared_of(rows, tokenizer, max_seq_length=16)
    assert prepared.summary.truncated == {"train": 1}
    assert max(len(seq) for ids in prepared.features["train"]["input_ids"] for seq in ids) == 16


def test_rows_without_question_choices_or_label_are_left_out_and_strict_stops(tokenizer):
    rows = [*ROWS, {"question": "", "choices": ["a", "b", "c"], "label": 0}, {**ROWS[0], "label": None}]
    prepared = prepared_of(rows, tokenizer)
    assert prepared.summary.rows == {"train": 3} and prepared.summary.dropped == {"train": 2}
    assert prepared.state["examples"]["train"].ids == [0, 1, 2]
    with pytest.raises(DataError, match="--strict"):
        prepared_of(rows, tokenizer, strict=True)


def test_a_different_number_of_choices_is_a_data_error_naming_the_row(tokenizer):
    rows = [*ROWS, {"question": "a cat", "choices": ["cat", "dog"], "label": 0}]
    with pytest.raises(DataError, match=r"same number of choices; the first has 3, but row 4 has 2"):
        prepared_of(rows, tokenizer)


@pytest.mark.parametrize(("label", "shown"), [(3, "3"), (-1, "-1"), ("b", "'b'"), (1.5, "1.5")])
def test_a_label_that_is_not_a_choice_index_is_a_data_error_naming_the_row(tokenizer, label, shown):
    rows = [*ROWS[:2], {**ROWS[2], "label": label}]
    if isinstance(label, str):
        rows = [{**row, "label": str(row["label"])} for row in rows[:2]] + rows[2:]
    with pytest.raises(DataError, match=rf"0 to 2; found {shown} \(row 3\)"):
        prepared_of(rows, tokenizer)


def test_choices_that_are_not_lists_and_single_choices_are_data_errors(tokenizer):
    with pytest.raises(DataError, match="must hold a list of choices"):
        prepared_of([{**ROWS[0], "choices": "kitten"}], tokenizer)
    with pytest.raises(DataError, match="1 choice"):
        prepared_of([{**ROWS[0], "choices": ["kitten"], "label": 0}], tokenizer)
    with pytest.raises(DataError, match=r"data.choices_column\[1\]"):
        prepared_of([{"question": "q", "a": "x", "label": 0}], tokenizer, choices_column=["a", "b"])


def test_label_index():
    assert [label_index(v) for v in (2, "2", " 1 ", 3.0, "x", 1.5, None, False)] == [2, 2, 1, 3, None, None, None, None]


def test_encode_keeps_each_question_with_its_own_number_of_choices(tokenizer):
    blocks, truncated = encode(tokenizer, ["q one", "q two"], [["a", "b"], ["c", "d", "e"]], 32)
    assert [len(b) for b in blocks["input_ids"]] == [2, 3] and truncated == [False, False]
    assert blocks["input_ids"][1][2] == tokenizer("q two", "e")["input_ids"]


def test_collator_pads_every_pair_and_reshapes_to_batch_choices_sequence(tokenizer):
    features = prepared_of(ROWS, tokenizer).features["train"]
    batch = ChoicesCollator(tokenizer)([features[i] for i in range(3)])
    longest = max(len(seq) for ids in features["input_ids"] for seq in ids)
    assert tuple(batch["input_ids"].shape) == (3, 3, longest)
    assert batch["attention_mask"].shape == batch["token_type_ids"].shape == batch["input_ids"].shape
    assert batch["labels"].tolist() == [1, 0, 2]
    row = features[0]["input_ids"][1]
    assert batch["input_ids"][0, 1, : len(row)].tolist() == row
    assert batch["attention_mask"][0, 1].sum().item() == len(row)
    unlabelled = ChoicesCollator(tokenizer)([{k: v for k, v in features[0].items() if k != "labels"}])
    assert "labels" not in unlabelled and unlabelled["input_ids"].shape[:2] == (1, 3)


def test_accuracy_equals_scikit_learn_and_run_swag():
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(0)
    for choices in (2, 4, 5):
        logits = rng.normal(size=(37, choices)).astype(np.float32)
        labels = rng.integers(0, choices, size=37)
        reference = accuracy_score(labels, logits.argmax(axis=1))
        swag = (np.argmax(logits, axis=1) == labels).astype(np.float32).mean().item()  # run_swag.py
        assert accuracy(logits, labels) == pytest.approx(reference) == pytest.approx(swag)


def test_metrics_closure_and_prediction_rows(tokenizer):
    from transformers import EvalPrediction

    prepared = prepared_of(ROWS, tokenizer, id_column="question")
    logits = np.array([[0.0, 2.0, 0.0], [0.0, 1.0, 0.0], [3.0, 0.0, 0.0]], dtype=np.float32)
    compute = metrics(recipe(), prepared, "train")
    assert compute(EvalPrediction(predictions=(logits,), label_ids=np.array([1, 0, 2]))) == {
        "accuracy": pytest.approx(1 / 3)
    }
    output = EvalPrediction(predictions=logits, label_ids=np.array([1, 0, 2]))
    rows = details(recipe(), prepared, "train", output).rows
    assert [(r["id"], r["prediction"], r["reference"]) for r in rows] == [
        ("a young dog", 1, 1),
        ("a sweet baked food", 1, 0),
        ("to move fast on foot", 0, 2),
    ]
    assert rows[0]["choices"] == ["kitten", "puppy", "calf"]
    assert sum(rows[0]["scores"]) == pytest.approx(1.0, abs=1e-5)
    assert rows[0]["probability"] == max(rows[0]["scores"])


def test_predict_keeps_input_order_across_batches_and_choice_counts(model, tokenizer):
    inputs = [
        {"question": "a young dog", "choices": ["kitten", "puppy"]},
        {"question": "a cake", "choices": ["sweet", "stone", "river"]},
        {"question": "to run", "choices": ["fast", "slow"]},
    ]
    rows = predict(model, tokenizer, inputs, options={"batch_size": 2})
    assert [r["question"] for r in rows] == ["a young dog", "a cake", "to run"]
    alone = [predict(model, tokenizer, [item])[0] for item in inputs]
    for row, single in zip(rows, alone, strict=True):
        assert row["prediction"] == single["prediction"] and row["choice"] == row["choices"][row["prediction"]]
        assert row["scores"] == pytest.approx(single["scores"], abs=1e-5)
        assert sum(row["scores"]) == pytest.approx(1.0, abs=1e-5)
    shown = show_prediction(rows[1])
    assert shown.source == "a cake" and shown.result.startswith(rows[1]["choice"])
    assert all(choice in shown.result for choice in ("sweet", "stone", "river"))


def test_predict_names_an_input_without_choices(model, tokenizer):
    with pytest.raises(UsageError, match="input 2: a multiple_choice model needs a question and two or more"):
        predict(model, tokenizer, [{"question": "q", "choices": ["a", "b"]}, {"text": "q"}])


def test_export_sample_inputs_are_three_dimensional(model, tokenizer):
    batch = sample_inputs(tokenizer, ("a small cat", "a sweet dessert with cream"))
    assert batch["input_ids"].dim() == 3 and batch["input_ids"].shape[:2] == (2, 3)
    assert model(**batch).logits.shape == (2, 3)


def test_generate_gathers_question_and_choices(tmp_path):
    from llmkit.cli.commands.generate import collect_inputs
    from llmkit.cli.commands.inputs import read_inputs
    from llmkit.cli.invocations import GenerateInvocation

    given = GenerateInvocation(model="m", question="a young dog", choices=("kitten", "puppy"))
    assert collect_inputs(given) == [{"question": "a young dog", "choices": ["kitten", "puppy"]}]
    for bad in (
        GenerateInvocation(model="m", question="q"),
        GenerateInvocation(model="m", choices=("a", "b")),
        GenerateInvocation(model="m", question="q", choices=("a", "")),
    ):
        with pytest.raises(UsageError, match="--question goes with --context, or with --choice"):
            collect_inputs(bad)
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"question": "q", "choices": ["a", "b"]}) + "\n")
    assert read_inputs(path) == [{"question": "q", "choices": ["a", "b"]}]
    path.write_text(json.dumps({"question": "q", "choices": "a"}) + "\n")
    with pytest.raises(DataError, match=r"in\.jsonl:1: 'choices' must be a list of strings"):
        read_inputs(path)
