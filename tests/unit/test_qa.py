"""The qa task's pieces on hand-written rows: answer parsing, the bad-row rule, windows and labels, post-processing."""

import itertools
import json

import numpy as np
import pytest

from llmkit.errors import ConfigError
from llmkit.models import ASSETS
from llmkit.recipe import load_recipe_data
from llmkit.tasks.qa import QAOptions, best_answers, make_windows
from llmkit.tasks.qa_rows import clean_examples, locate, parse_answers, raw_rows


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ASSETS / "tiny-bert")


def recipe(**qa):
    return load_recipe_data({"task": "qa", "model": {"name_or_path": "tiny-bert"}, "qa": qa}).recipe


@pytest.mark.parametrize(
    "value",
    [
        {"text": ["the cat"], "answer_start": [4]},  # hub `squad` layout
        [{"text": "the cat", "answer_start": 4}],  # SQuAD JSON layout
        json.dumps({"text": ["the cat"], "answer_start": [4]}),  # CSV cell
        json.dumps([{"text": "the cat", "answer_start": 4}]),
    ],
)
def test_parse_answers_accepts_every_layout(value):
    assert parse_answers(value) == (["the cat"], [4])


def test_parse_answers_empty_and_broken():
    assert parse_answers({"text": [], "answer_start": []}) == ([], [])
    assert parse_answers("") == ([], [])
    assert parse_answers(None) == ([], [])
    with pytest.raises(ValueError, match="2 answer texts but 1"):
        parse_answers({"text": ["a", "b"], "answer_start": [0]})
    with pytest.raises(ValueError, match="not JSON"):
        parse_answers("cat")


def test_locate_keeps_a_correct_start_and_moves_a_wrong_one_to_the_nearest_occurrence():
    context = "a cat, a dog, a cat again"
    assert locate(context, "cat", 2) == 2
    assert locate(context, "cat", 15) == 16  # nearest of 2 and 16
    assert locate(context, "cat", 0) == 2
    assert locate(context, "horse", 0) is None


def _dataset(rows):
    import datasets

    return datasets.Dataset.from_list(rows)


BAD_ROWS = [
    {"id": "ok", "question": "Q?", "context": "The cat sat.", "answers": {"text": ["cat"], "answer_start": [4]}},
    {"id": "moved", "question": "Q?", "context": "The cat sat.", "answers": {"text": ["sat"], "answer_start": [0]}},
    {"id": "absent", "question": "Q?", "context": "The cat sat.", "answers": {"text": ["dog"], "answer_start": [4]}},
    {"id": "empty", "question": "Q?", "context": "  ", "answers": {"text": ["cat"], "answer_start": [0]}},
    {"id": "none", "question": "Q?", "context": "The cat sat.", "answers": {"text": [], "answer_start": []}},
]


def test_bad_rows_in_training_are_relocated_or_dropped_and_counted():
    examples, problems = clean_examples(_dataset(BAD_ROWS), recipe(), training=True, source="train.json")
    assert [e["id"] for e in examples] == ["ok", "moved"]
    assert examples[1]["label_start"] == 8 and examples[1]["label_text"] == "sat"
    assert problems.counts == {"relocated": 1, "not_in_context": 1, "dropped": 1, "no_context": 1, "no_answer": 1}
    assert {p["id"] for p in problems.examples} == {"moved", "absent", "empty", "none"}


def test_evaluation_keeps_unlocatable_answers_for_scoring_and_v2_keeps_unanswerable():
    examples, problems = clean_examples(
        _dataset(BAD_ROWS), recipe(version_2_with_negative=True), training=False, source="dev.json"
    )
    assert [e["id"] for e in examples] == ["ok", "moved", "absent", "none"]
    absent = examples[2]
    assert absent["answers"] == ["dog"] and absent["label_text"] == ""  # scored on its text, no span label
    assert examples[3]["answers"] == []
    assert "dropped" not in problems.counts and problems.counts["no_context"] == 1


def test_nested_squad_json_becomes_one_row_per_question():
    nested = {
        "version": ["v2.0"],
        "data": [
            [
                {
                    "title": "t",
                    "paragraphs": [
                        {
                            "context": "The cat sat.",
                            "qas": [
                                {"id": "a", "question": "Who?", "answers": [{"text": "cat", "answer_start": 4}]},
                                {
                                    "id": "b",
                                    "question": "Why?",
                                    "answers": [],
                                    "plausible_answers": [{"text": "sat", "answer_start": 8}],
                                    "is_impossible": True,
                                },
                            ],
                        }
                    ],
                }
            ]
        ],
    }
    import datasets

    rows = raw_rows(datasets.Dataset.from_dict(nested), recipe(), "dev.json")
    assert rows["id"] == ["a", "b"]
    assert rows["answers"] == [{"text": ["cat"], "answer_start": [4]}, {"text": [], "answer_start": []}]
    assert rows["context"] == ["The cat sat.", "The cat sat."]


LONG_CONTEXT = (
    "the domestic dog is a member of the genus canis that has been domesticated by man since prehistoric "
    "times and occurs in many breeds; the wolf is any of various predatory carnivorous canine mammals of "
    "north america and eurasia that usually hunt in packs; the fox is an alert carnivorous mammal with "
    "pointed muzzle and ears and a bushy tail that is most closely related to the wolf"
)


def test_windows_overlap_by_doc_stride_and_cover_the_context(tokenizer):
    windows = make_windows(tokenizer, ["what is a wolf?"], [LONG_CONTEXT], max_seq_length=32, doc_stride=8)
    assert len(windows.example_index) >= 3 and set(windows.example_index) == {0}
    spans = [[o for o in offsets if o is not None] for offsets in windows.offsets]
    for before, after in itertools.pairwise(spans):
        assert before[-8:] == after[:8]  # the last 8 context tokens start the next window
    assert spans[0][0][0] == 0 and spans[-1][-1][1] == len(LONG_CONTEXT)
    assert all(len(ids) <= 32 for ids in windows.inputs["input_ids"])
    # question tokens carry no offsets: only context tokens can become answers
    first = windows.inputs["input_ids"][0]
    assert windows.offsets[0][0] is None and first[0] == tokenizer.cls_token_id


def test_labels_point_at_the_answer_tokens_or_at_cls(tokenizer):
    question = "what is a wolf?"
    probe = make_windows(tokenizer, [question], [LONG_CONTEXT], max_seq_length=32, doc_stride=8)
    # An answer that straddles the end of the first window: it starts 2 tokens before that window's end.
    first_spans = [o for o in probe.offsets[0] if o is not None]
    start_char = first_spans[-2][0]
    end_char = LONG_CONTEXT.index(" ", first_spans[-1][1] + 1 + 4)  # a few characters into the next window
    answer = LONG_CONTEXT[start_char:end_char]
    windows = make_windows(
        tokenizer, [question], [LONG_CONTEXT], max_seq_length=32, doc_stride=8, answers=[(start_char, end_char)]
    )
    starts, ends = windows.inputs["start_positions"], windows.inputs["end_positions"]
    assert (starts[0], ends[0]) == (0, 0)  # the answer does not fit in window 0: CLS
    labelled = [w for w in range(len(starts)) if starts[w] != 0]
    assert labelled, "the next window holds the whole answer"
    for w in labelled:
        offsets = windows.offsets[w]
        assert LONG_CONTEXT[offsets[starts[w]][0] : offsets[ends[w]][1]] == answer
    for w in range(len(starts)):
        context_spans = [o for o in windows.offsets[w] if o is not None]
        holds = context_spans[0][0] <= start_char and context_spans[-1][1] >= end_char
        assert holds == (w in labelled)


def test_a_question_without_answer_is_labelled_cls_everywhere(tokenizer):
    windows = make_windows(tokenizer, ["q?"], [LONG_CONTEXT], max_seq_length=32, doc_stride=8, answers=[None])
    assert set(windows.inputs["start_positions"]) == {0} and set(windows.inputs["end_positions"]) == {0}


def test_a_stride_that_leaves_no_room_is_a_config_error(tokenizer):
    with pytest.raises(ConfigError, match=r"qa\.doc_stride"):
        make_windows(tokenizer, ["a very long question " * 8], [LONG_CONTEXT], max_seq_length=32, doc_stride=20)


# Post-processing on crafted logits. One example, two windows of 6 tokens over the context below:
# token 0 CLS, 1 a question token, 2-4 context tokens, 5 SEP.
CONTEXT = "red green blue cyan"
OFFSETS = [
    [None, None, (0, 3), (4, 9), (10, 14), None],  # red green blue
    [None, None, (4, 9), (10, 14), (15, 19), None],  # green blue cyan
]


def logits(*pairs, size=6, base=-5.0):
    row = np.full(size, base)
    for index, value in pairs:
        row[index] = value
    return row


def test_best_span_over_windows_skips_question_tokens_reversed_and_long_spans():
    options = QAOptions(max_answer_length=2, n_best_size=6)
    starts = np.stack(
        [
            logits((1, 9.0), (4, 3.0), (2, 2.0)),  # best start is a question token: not an answer
            logits((3, 4.0), (4, 1.0)),
        ]
    )
    ends = np.stack(
        [
            logits((2, 8.0), (4, 1.0)),  # end 2 before start 4: invalid; (2, 2) "red" scores 2 + 8 = 10
            logits((4, 7.0), (3, 6.5)),  # (3, 4) "blue cyan" scores 4 + 7 = 11, the best valid span
        ]
    )
    [answer] = best_answers([CONTEXT], [0, 0], OFFSETS, starts, ends, options)
    assert answer.text == "blue cyan" and (answer.start, answer.end) == (10, 19)
    # span (2, 4) in window 1 = "green blue cyan" would be 3 tokens: too long at max_answer_length=2
    assert 0 < answer.score < 1


def test_v2_null_answer_wins_when_it_beats_the_best_span_by_more_than_the_threshold():
    starts = np.stack([logits((0, 6.0), (2, 2.0)), logits((0, 7.0), (3, 1.0))])
    ends = np.stack([logits((0, 6.0), (2, 2.0)), logits((0, 7.0), (3, 1.0))])
    # no-answer score = min CLS score over windows = 12; best span "red" = 4; difference 8
    [null] = best_answers([CONTEXT], [0, 0], OFFSETS, starts, ends, QAOptions(version_2_with_negative=True))
    assert null.text == "" and null.best_span == "red" and null.null_score_diff == pytest.approx(8.0)
    lenient = QAOptions(version_2_with_negative=True, null_score_diff_threshold=8.5)
    [answered] = best_answers([CONTEXT], [0, 0], OFFSETS, starts, ends, lenient)
    assert answered.text == "red"
    [v1] = best_answers([CONTEXT], [0, 0], OFFSETS, starts, ends, QAOptions())
    assert v1.text == "red"  # v1.1 always answers


def test_logits_padded_past_a_window_are_ignored():
    # Trainer pads logits of shorter windows with -100; positions past the window's offsets never count.
    starts = np.concatenate([logits((2, 1.0)), [50.0, 50.0]])[None, :]
    ends = np.concatenate([logits((3, 1.0)), [50.0, 50.0]])[None, :]
    [answer] = best_answers([CONTEXT], [0], OFFSETS[:1], starts, ends, QAOptions())
    assert answer.text == "red green"


def test_evaluation_keeps_only_start_and_end_logits():
    from llmkit.tasks.qa import preprocess_logits

    start, end, hidden = np.zeros((2, 5)), np.ones((2, 5)), (np.zeros((2, 5, 64)),) * 3
    kept = preprocess_logits(recipe())((start, end, hidden), None)
    assert len(kept) == 2 and kept[0] is start and kept[1] is end


def test_an_empty_question_is_dropped_and_counted_like_an_empty_context():
    rows = [*BAD_ROWS[:1], {"id": "blank", "question": " ", "context": "The cat.", "answers": BAD_ROWS[0]["answers"]}]
    examples, problems = clean_examples(_dataset(rows), recipe(), training=False, source="dev.jsonl")
    assert [e["id"] for e in examples] == ["ok"]
    assert problems.left_out == {"no_question": [1]}


def test_a_question_or_context_that_is_not_text_is_dropped_not_searched_as_its_repr():
    answer = BAD_ROWS[0]["answers"]
    rows = [{"id": "obj", "question": ["What?"], "context": "The cat.", "answers": answer}]
    _, problems = clean_examples(_dataset(rows), recipe(), training=False, source="dev.jsonl")
    assert problems.left_out == {"not_text": [0]}
    assert problems.as_dropped().reasons == {"a question or context that is not text": [0]}


def test_strict_names_the_dropped_rows():
    from llmkit.data.rows import report_dropped
    from llmkit.errors import DataError

    _, problems = clean_examples(_dataset(BAD_ROWS), recipe(), training=True, source="train.jsonl")
    assert problems.left_out == {"dropped": [2], "no_context": [3], "no_answer": [4]}
    with pytest.raises(DataError, match=r"1 row\(s\) with an empty context \(row 4\)"):
        report_dropped(len(BAD_ROWS), problems.as_dropped(), {}, "train", strict=True)


def test_a_bad_answers_value_names_its_line(tmp_path):
    from llmkit.data import load_raw
    from llmkit.errors import DataError

    path = tmp_path / "dev.csv"
    path.write_text(
        'id,question,context,answers\na,Q?,The cat.,"{""text"": [""cat""], ""answer_start"": [4]}"\n'
        "b,Q?,The cat.,not json\n"
    )
    r = recipe()
    raw = load_raw(r.data.model_copy(update={"validation_file": str(path)}), splits=("validation",))
    with pytest.raises(DataError, match=f"{path} line 3 \\(id b\\): column 'answers': not JSON"):
        clean_examples(raw.splits["validation"], r, False, "data.validation_file", raw.sources, "validation")
