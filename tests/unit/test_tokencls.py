"""tokencls: CoNLL reading, word/sub-token alignment, preparation on hand-written rows, seqeval scores."""

import numpy as np
import pytest
from seqeval import metrics as seqeval
from seqeval.scheme import IOB2, IOBES

from llmkit.config import ModelSection
from llmkit.errors import DataError
from llmkit.recipe import load_recipe_data
from llmkit.tasks.spec import PrepareContext
from llmkit.tasks.tokencls import (
    TokenClsOptions,
    _tagged,
    align_labels,
    b_to_i_map,
    first_tokens,
    prepare,
    show_prediction,
    split_words,
    word_tags,
)
from llmkit.tasks.tokencls_rows import read_conll
from llmkit.tasks.tokencls_scores import as_chunks, entity_scores, entity_spans


@pytest.fixture(scope="module")
def tokenizer():
    from llmkit.models import load_tokenizer

    return load_tokenizer(ModelSection(name_or_path="tiny-bert"))


def recipe(**sections):
    data = {"task": "tokencls", "model": {"name_or_path": "tiny-bert"}, **sections}
    return load_recipe_data(data).recipe


def context(recipe_, tokenizer, splits, training=True, strict=False):
    import datasets

    raw = {
        name: rows if isinstance(rows, datasets.Dataset) else datasets.Dataset.from_list(rows)
        for name, rows in splits.items()
    }
    return PrepareContext(
        recipe=recipe_, raw=raw, tokenizer=tokenizer, model_config=None, training=training, strict=strict
    )


TRAIN = [
    {"tokens": ["Alice", "lives", "in", "Paris"], "tags": ["B-PER", "O", "O", "B-LOC"]},
    {"tokens": ["New", "York", "is", "big"], "tags": ["B-LOC", "I-LOC", "O", "O"]},
]


# --- CoNLL files


def test_conll_lines_become_sentences_skipping_docstart_and_blank_runs():
    lines = [
        "-DOCSTART- -X- O",
        "",
        "EU NNP B-ORG",
        "rejects VBZ O",
        "",
        "",
        "Peter\tNNP\tB-PER",
        "Blackburn NNP I-PER",
    ]
    assert read_conll(lines, 0, -1, "src") == [
        (["EU", "rejects"], ["B-ORG", "O"]),
        (["Peter", "Blackburn"], ["B-PER", "I-PER"]),
    ]
    assert read_conll(lines, 0, 1, "src")[0] == (["EU", "rejects"], ["NNP", "VBZ"])


def test_conll_line_without_the_tag_column_names_its_line():
    with pytest.raises(DataError, match=r"src: line 2 has 1 column\(s\).*data.conll_tag_column is 2"):
        read_conll(["a x B-X", "b"], 0, 2, "src")


# --- alignment


def test_first_sub_token_carries_the_tag_and_label_all_tokens_continues_b_as_i():
    labels = ["B-LOC", "I-LOC", "O"]
    word_ids = [None, 0, 0, 1, None]
    assert align_labels(word_ids, [0, 2], False, b_to_i_map(labels)) == [-100, 0, -100, 2, -100]
    assert align_labels(word_ids, [0, 2], True, b_to_i_map(labels)) == [-100, 0, 1, 2, -100]
    assert first_tokens(word_ids, 3) == [1, 3, -1]  # word 2 not in the input: -1


def test_prepare_aligns_words_and_counts_truncated_words(tokenizer):
    prepared = prepare(context(recipe(data={"max_seq_length": 5}), tokenizer, {"train": TRAIN}))
    assert prepared.state["labels"] == ["B-LOC", "B-PER", "I-LOC", "O"]
    features = prepared.features["train"]
    first = features[0]
    words = tokenizer(TRAIN[0]["tokens"], is_split_into_words=True, truncation=True, max_length=5).word_ids()
    expected = align_labels(words, [1, 3, 3, 0], False, b_to_i_map(prepared.state["labels"]))
    assert first["labels"] == expected and len(first["input_ids"]) == 5
    unseen = [
        4
        - len(
            {
                w
                for w in tokenizer(row["tokens"], is_split_into_words=True, truncation=True, max_length=5).word_ids()
                if w is not None
            }
        )
        for row in TRAIN
    ]
    assert unseen[0] > 0 and prepared.summary.extra["truncated_words"]["train"] == sum(unseen)
    assert prepared.summary.truncated["train"] == sum(1 for n in unseen if n)
    assert prepared.state["word_starts"]["train"][0][-1] == -1
    assert prepared.model_kwargs["id2label"][1] == "B-PER"


def test_integer_tags_index_the_recipe_labels(tokenizer):
    rows = [{"tokens": ["a", "b"], "tags": [0, 1]}, {"tokens": ["c"], "tags": [1]}]
    prepared = prepare(context(recipe(tokencls={"labels": ["O", "B-X"]}), tokenizer, {"train": rows}))
    assert prepared.state["tags"]["train"] == [["O", "B-X"], ["B-X"]]
    with pytest.raises(DataError, match="holds integer tags"):
        prepare(context(recipe(), tokenizer, {"train": rows}))


def test_class_label_names_of_a_hub_style_dataset_are_the_tag_set(tokenizer):
    import datasets

    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER"])),
        }
    )
    train = datasets.Dataset.from_dict({"tokens": [["Ann", "Lee", "ran"]], "tags": [[1, 2, 0]]}, features=features)
    prepared = prepare(context(recipe(), tokenizer, {"train": train}))
    assert prepared.state["labels"] == ["O", "B-PER", "I-PER"]
    assert prepared.state["tags"]["train"] == [["B-PER", "I-PER", "O"]]


def test_rows_without_one_tag_per_word_are_dropped_and_counted_or_refused_when_strict(tokenizer):
    bad = [*TRAIN, {"tokens": ["x", "y"], "tags": ["O"]}, {"tokens": [], "tags": []}]
    prepared = prepare(context(recipe(), tokenizer, {"train": bad}))
    assert prepared.summary.rows["train"] == 2 and prepared.summary.dropped == {"train": 2}
    with pytest.raises(DataError, match="not one tag per word"):
        prepare(context(recipe(), tokenizer, {"train": bad}, strict=True))


def test_unknown_validation_tag_is_a_data_error_with_counts(tokenizer):
    validation = [{"tokens": ["Acme"], "tags": ["B-ORG"]}]
    with pytest.raises(DataError, match=r"'B-ORG' \(1 words\).*known tags: B-LOC, B-PER, I-LOC, O"):
        prepare(context(recipe(), tokenizer, {"train": TRAIN, "validation": validation}))


def test_scheme_without_strict_mode_is_refused():
    with pytest.raises(ValueError, match="strict mode only"):
        TokenClsOptions(scheme="IOBES")


# --- scores: seqeval's numbers on hand-made cases

TRUE = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"], ["I-LOC", "I-LOC", "O"]]
PRED = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"], ["I-LOC", "I-LOC", "O"]]


def test_default_mode_scores_equal_seqeval_and_the_hand_count():
    overall, table = entity_scores(TRUE, PRED, TokenClsOptions(), plain=False)
    # entities: MISC(3-5) missed, MISC(2-5) spurious, PER hit, LOC (a leading I- opens an entity) hit
    assert overall["precision"] == pytest.approx(2 / 3) and overall["recall"] == pytest.approx(2 / 3)
    assert overall["f1"] == pytest.approx(seqeval.f1_score(TRUE, PRED))
    assert overall["precision"] == seqeval.precision_score(TRUE, PRED)
    assert overall["accuracy"] == seqeval.accuracy_score(TRUE, PRED) == pytest.approx(11 / 13)  # words 2 and 3 differ
    assert {row["type"]: row["support"] for row in table} == {"LOC": 1, "MISC": 1, "PER": 1}
    misc = next(row for row in table if row["type"] == "MISC")
    assert misc["f1"] == 0.0


def test_strict_mode_follows_the_scheme():
    strict = TokenClsOptions(mode="strict", scheme="IOB2")
    overall, table = entity_scores(TRUE, PRED, strict, plain=False)
    assert overall["f1"] == seqeval.f1_score(TRUE, PRED, mode="strict", scheme=IOB2)
    assert [row["type"] for row in table] == ["MISC", "PER"]  # I-LOC I-LOC is no IOB2 entity
    iobes_true, iobes_pred = [["S-LOC", "B-PER", "E-PER"]], [["S-LOC", "B-PER", "I-PER"]]
    overall, _ = entity_scores(iobes_true, iobes_pred, TokenClsOptions(mode="strict", scheme="IOBES"), plain=False)
    assert overall["f1"] == seqeval.f1_score(iobes_true, iobes_pred, mode="strict", scheme=IOBES) == 2 / 3
    default, _ = entity_scores(iobes_true, iobes_pred, TokenClsOptions(), plain=False)
    assert default["f1"] == seqeval.f1_score(iobes_true, iobes_pred)


def test_plain_pos_tags_are_scored_as_one_word_entities():
    true, pred = [["NOUN", "VERB", "NOUN"]], [["NOUN", "NOUN", "NOUN"]]
    overall, table = entity_scores(true, pred, TokenClsOptions(), plain=True)
    assert as_chunks(true[0], True) == ["B-NOUN", "B-VERB", "B-NOUN"]
    assert overall["accuracy"] == pytest.approx(2 / 3) and overall["precision"] == pytest.approx(2 / 3)
    rows = {row["type"]: row for row in table}
    assert rows["NOUN"]["recall"] == 1.0 and rows["NOUN"]["precision"] == pytest.approx(2 / 3)
    assert rows["VERB"]["recall"] == 0.0


def test_word_tags_take_the_first_sub_token_and_o_for_unseen_words():
    from llmkit.tasks.spec import Prepared

    prepared = Prepared(features={}, state={"labels": ["B-X", "O"], "word_starts": {"test": [[1, 3, -1]]}})
    ids = np.array([[-100, 0, 0, 1, -100]])
    assert word_tags(prepared, "test", ids) == [["B-X", "O", "O"]]
    logits = np.zeros((1, 5, 2))
    logits[0, 1, 1] = logits[0, 3, 0] = 1.0
    assert word_tags(prepared, "test", logits) == [["O", "B-X", "O"]]


# --- prediction display


def test_split_words_keeps_offsets_and_cuts_punctuation_off():
    text = 'She said: "Paris." U.S. e-mail...'
    words = split_words(text)
    assert [w for w, _, _ in words] == ["She", "said", ":", '"', "Paris", ".", '"', "U.S", ".", "e-mail", "..."]
    assert all(text[s:e] == w for w, s, e in words)


def test_entities_are_grouped_with_character_spans_and_shown_as_word_type():
    text = "Bob flew to New York ."
    words = split_words(text)
    tags = ["B-PER", "O", "O", "B-LOC", "I-LOC", "O"]
    row = _tagged(
        text, [w for w, _, _ in words], [(s, e) for _, s, e in words], tags, [0.9] * 6, TokenClsOptions(), False
    )
    assert row["entities"] == [
        {"type": "PER", "text": "Bob", "start": 0, "end": 3, "words": [0, 1]},
        {"type": "LOC", "text": "New York", "start": 12, "end": 20, "words": [3, 5]},
    ]
    assert show_prediction(row).result == "Bob/PER flew to [New York]/LOC ."
    assert entity_spans(tags, TokenClsOptions(), False) == [("PER", 0, 1), ("LOC", 3, 5)]
    plain = _tagged("a b", ["a", "b"], [(0, 1), (2, 3)], ["DET", "NOUN"], [None, 0.5], TokenClsOptions(), True)
    assert show_prediction(plain).result.startswith("a/DET b/NOUN") and plain["truncated_words"] == 1
