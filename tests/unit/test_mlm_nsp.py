"""Next-sentence pairs on hand-made documents: sentence finding, half real / half random with a seed, the
``[CLS] A [SEP] B [SEP]`` layout with segment ids, lengths within the block, and the NSP metrics."""

from __future__ import annotations

import random

import numpy as np
import pytest

from llmkit.tasks.mlm_nsp import IS_NEXT, IS_RANDOM, Pair, build_pairs, encode_pair, split_sentences


def test_sentences_end_at_punctuation_before_a_capital_but_not_after_abbreviations():
    text = 'It works, e.g. Foo and bar. Dr. Who is here! "Yes." Then 3 more? ok.\nwrapped line.\n\nNew paragraph'
    assert split_sentences(text) == [
        "It works, e.g. Foo and bar.",
        "Dr. Who is here!",
        '"Yes."',
        "Then 3 more? ok. wrapped line.",  # a line break is a space; no capital after "?": one sentence
        "New paragraph",  # a blank line ends the sentence before it
    ]
    assert split_sentences("version 2.5 is out. 3.0 follows") == ["version 2.5 is out.", "3.0 follows"]


def documents(count: int, seed: int = 0) -> list[list[list[int]]]:
    """Documents of 2-6 sentences of 3-9 tokens; each token names its document (d * 1000 + position)."""
    rng = random.Random(seed)
    docs = []
    for d in range(count):
        sentences = [
            [d * 1000 + rng.randrange(1000) for _ in range(rng.randint(3, 9))] for _ in range(rng.randint(2, 6))
        ]
        docs.append(sentences)
    return docs


def doc_of(tokens: list[int]) -> set[int]:
    return {t // 1000 for t in tokens}


def test_pairs_are_half_real_half_random_and_repeat_with_the_seed():
    docs = documents(400)
    pairs = build_pairs(docs, 61, random.Random("0:validation"), 0.1)
    again = build_pairs(docs, 61, random.Random("0:validation"), 0.1)
    other = build_pairs(docs, 61, random.Random("1:validation"), 0.1)
    assert [(p.a, p.b, p.is_random) for p in pairs] == [(p.a, p.b, p.is_random) for p in again]
    assert [(p.a, p.b) for p in pairs] != [(p.a, p.b) for p in other]
    share = sum(p.is_random for p in pairs) / len(pairs)
    assert len(pairs) > 300 and 0.45 < share < 0.55
    for pair in pairs:
        assert pair.a and pair.b and len(pair.a) + len(pair.b) <= 61
        assert len(doc_of(pair.a)) == 1  # A is one document's text
        same = doc_of(pair.a) == doc_of(pair.b)
        assert same != pair.is_random  # a random B comes from another document, a real one from the same


def test_a_real_b_is_the_text_that_follows_a():
    docs = [[[1, 2], [3, 4, 5], [6]]]
    pairs = build_pairs(docs, 100, random.Random(3), 0.0)
    assert pairs and all(not p.is_random for p in pairs)  # one document: no other to draw from
    for pair in pairs:
        joined = [t for s in docs[0] for t in s]
        assert pair.a + pair.b == joined  # A then B: the whole document in order, cut at a sentence end


def test_one_sentence_documents_give_no_pair_but_serve_as_random_segments():
    docs = [[[1, 2, 3]], [[1001, 1002], [1003, 1004]]]
    pairs = build_pairs(docs, 100, random.Random(0), 0.0)
    assert all(doc_of(p.a) == {1} for p in pairs)


def test_long_pairs_are_trimmed_to_fit():
    docs = [[list(range(50)), list(range(50, 100))]]
    (pair,) = build_pairs(docs, 20, random.Random(0), 0.0)
    assert len(pair.a) + len(pair.b) == 20 and len(pair.a) == len(pair.b) == 10


def test_encode_pair_lays_out_cls_a_sep_b_sep_with_segment_ids():
    row = encode_pair(Pair([7, 8], [9, 10, 11], is_random=True), cls_id=101, sep_id=102)
    assert row["input_ids"] == [101, 7, 8, 102, 9, 10, 11, 102]
    assert row["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert row["special_tokens_mask"] == [1, 0, 0, 1, 0, 0, 0, 1]
    assert row["next_sentence_label"] == IS_RANDOM
    assert encode_pair(Pair([1], [2], is_random=False), 0, 0)["next_sentence_label"] == IS_NEXT


def test_nsp_metrics_average_over_pairs_and_perplexity_over_tokens():
    from types import SimpleNamespace

    from llmkit.tasks.mlm_nsp import metrics

    rows = np.array([[2.0, 2, 0.1, 1], [6.0, 2, 0.9, 0], [4.0, 4, 0.2, 1]])
    result = metrics(None, None, "validation")(SimpleNamespace(predictions=rows, label_ids=None))
    assert result["nsp_accuracy"] == pytest.approx(2 / 3)
    assert result["nsp_loss"] == pytest.approx(0.4)
    assert result["perplexity"] == pytest.approx(np.exp(12 / 8))
