"""summarization: preparation on hand-written rows, the offline sentence rule, ROUGE equal to rouge-score."""

import pytest

from llmkit.config import ModelSection
from llmkit.errors import ConfigError, DataError
from llmkit.models import load_config, load_tokenizer
from llmkit.recipe import load_recipe_data
from llmkit.tasks.seq2seq_common import DECODER_ONLY, SEQ2SEQ, collator
from llmkit.tasks.spec import PrepareContext
from llmkit.tasks.summarization import metrics, predict, prepare, rouge_scores, split_sentences

ROWS = [
    {"doc": "The tool prints the file to the screen.", "sum": "print a file", "key": "a"},
    {"doc": "The server removes old keys from the user list every night.", "sum": "key remover", "key": "b"},
    {"doc": "Stop it.", "sum": "stop", "key": "c"},
]


def recipe(model="tiny-t5", **sections):
    data = {"text_column": "doc", "summary_column": "sum", "id_column": "key", **sections.pop("data", {})}
    raw = {"task": "summarization", "model": {"name_or_path": model}, "data": data, **sections}
    return load_recipe_data(raw).recipe


def context(recipe_, splits, model="tiny-t5", strict=False):
    import datasets

    tokenizer = load_tokenizer(ModelSection(name_or_path=model))
    config = load_config(ModelSection(name_or_path=model), tokenizer)
    raw = {name: datasets.Dataset.from_list(rows) for name, rows in splits.items()}
    return PrepareContext(
        recipe=recipe_, raw=raw, tokenizer=tokenizer, model_config=config, training=True, strict=strict
    )


def test_seq2seq_features_carry_the_prefix_and_the_summary_as_labels():
    ctx = context(recipe(summarization={"source_prefix": "summarize: "}), {"train": ROWS})
    prepared = prepare(ctx)
    tok = ctx.tokenizer
    row = prepared.features["train"][0]
    assert prepared.state["kind"] == SEQ2SEQ
    assert tok.decode(row["input_ids"], skip_special_tokens=True) == "summarize: " + ROWS[0]["doc"]
    assert row["labels"] == tok(text_target="print a file")["input_ids"] and row["labels"][-1] == tok.eos_token_id
    assert prepared.summary.rows == {"train": 3} and prepared.summary.dropped == {"train": 0}


def test_evaluation_splits_are_sorted_by_document_length_and_keep_ids_and_references():
    ctx = context(recipe(), {"validation": ROWS})
    prepared = prepare(ctx)
    order = prepared.state["order"]["validation"]
    assert order == [1, 0, 2]  # longest document first
    assert prepared.state["references"]["validation"] == [ROWS[i]["sum"] for i in order]
    assert prepared.state["ids"]["validation"] == ["a", "b", "c"]  # input order
    lengths = [len(ids) for ids in prepared.features["validation"]["input_ids"]]
    assert lengths == sorted(lengths, reverse=True)


def test_long_documents_are_truncated_and_counted():
    ctx = context(recipe(data={"max_source_length": 6, "max_target_length": 3}), {"train": ROWS})
    prepared = prepare(ctx)
    assert all(len(ids) <= 6 for ids in prepared.features["train"]["input_ids"])
    assert all(ids[-1] == ctx.tokenizer.eos_token_id for ids in prepared.features["train"]["input_ids"])
    tok = ctx.tokenizer
    long_docs = sum(len(tok(r["doc"])["input_ids"]) > 6 for r in ROWS)
    long_sums = sum(len(tok(text_target=r["sum"])["input_ids"]) > 3 for r in ROWS)
    assert 0 < long_docs < 3 and long_sums > 0
    assert prepared.summary.extra["overlong"]["train"] == {"source": long_docs, "target": long_sums}
    assert all(len(ids) <= 3 for ids in prepared.features["train"]["labels"])


def test_rows_without_document_or_summary_are_dropped_or_refused_with_strict():
    rows = [*ROWS, {"doc": "  ", "sum": "empty", "key": "d"}, {"doc": "No summary here.", "sum": None, "key": "e"}]
    prepared = prepare(context(recipe(), {"train": rows}))
    assert prepared.summary.rows == {"train": 3} and prepared.summary.dropped == {"train": 2}
    with pytest.raises(DataError, match="no document \\('doc'\\)"):
        prepare(context(recipe(), {"train": rows}, strict=True))


def test_a_missing_column_names_the_recipe_key():
    with pytest.raises(DataError, match=r"data\.summary_column"):
        prepare(context(recipe(data={"summary_column": "abstract"}), {"train": ROWS}))


def test_the_default_columns_are_document_and_summary():
    raw = {"task": "summarization", "model": {"name_or_path": "tiny-t5"}, "data": {}}
    data = load_recipe_data(raw).recipe.data
    assert (data.text_column, data.summary_column) == ("document", "summary")


def test_prompt_template_must_hold_the_source():
    with pytest.raises(ConfigError, match="prompt_template must contain"):
        recipe(summarization={"prompt_template": "Summary:"})


def test_decoder_only_loss_covers_the_summary_tokens_only():
    ctx = context(recipe("tiny-gpt2"), {"train": ROWS[:1]}, model="tiny-gpt2")
    prepared = prepare(ctx)
    tok = ctx.tokenizer
    row = prepared.features["train"][0]
    assert prepared.state["kind"] == DECODER_ONLY
    prompt_len = sum(1 for v in row["labels"] if v == -100)
    assert tok.decode(row["input_ids"][:prompt_len]) == ROWS[0]["doc"] + "\nSummary:"
    assert tok.decode(row["input_ids"][prompt_len:]) == " print a file" + tok.eos_token
    assert row["labels"][prompt_len:] == row["input_ids"][prompt_len:]
    batch = collator(tok, ctx.recipe, prepared)([row])
    assert (batch["labels"][0, :prompt_len] == -100).all()


# ---------------------------------------------------------------------------------------------
# Sentences and ROUGE


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("A tool. It works well! Really? Yes.", ["A tool.", "It works well!", "Really?", "Yes."]),
        ("Use it, e.g. Foo does. See Dr. Who.", ["Use it, e.g. Foo does.", "See Dr. Who."]),
        ('J. Smith wrote it. (Then more.) "Quoted." Done', ["J. Smith wrote it.", "(Then more.)", '"Quoted."', "Done"]),
        ("version 1.2 is out. 3 bugs fixed.", ["version 1.2 is out.", "3 bugs fixed."]),
        ("first line\nsecond. lower case goes on", ["first line", "second. lower case goes on"]),
        ("", []),
    ],
)
def test_split_sentences(text, sentences):
    assert split_sentences(text) == sentences


PAIRS = [  # (prediction, reference): word order, stemming, repeated words, several sentences, empty texts
    ("the cats are running quickly", "a cat runs quickly"),
    ("Library for parsing JSON files.", "library to parse json"),
    ("It prints files. It removes keys.", "It removes keys. It prints files."),
    ("Fast fonts. Nice fonts for screens. Printing too.", "Fonts for the screen. Fast printing."),
    ("", "something"),
    ("game of ancient warfare", "Real-time strategy game of ancient warfare"),
]


def test_rouge_equals_rouge_score_with_stemming_and_newline_sentences():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    expected = dict.fromkeys(("rouge1", "rouge2", "rougeL", "rougeLsum"), 0.0)
    for prediction, reference in PAIRS:
        joined = "\n".join(split_sentences(reference)), "\n".join(split_sentences(prediction))
        for name, score in scorer.score(*joined).items():
            expected[name] += 100 * score.fmeasure / len(PAIRS)
    got = rouge_scores([p for p, _ in PAIRS], [r for _, r in PAIRS])
    assert got == pytest.approx(expected, abs=1e-9)


def test_rouge_by_hand_and_what_sentence_splitting_changes():
    # "a cat runs quickly" vs "the cats are running quickly": stems cat, run, quickli shared -> P 3/5, R 3/4
    scores = rouge_scores(["the cats are running quickly"], ["a cat runs quickly"])
    assert scores["rouge1"] == pytest.approx(100 * 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4))
    swapped = rouge_scores(["It prints files. It removes keys."], ["It removes keys. It prints files."])
    assert swapped["rougeLsum"] == pytest.approx(100.0)  # sentence-level LCS: order of sentences does not matter
    assert swapped["rougeL"] < 100.0  # one LCS over the whole text does
    assert rouge_scores([], []) == dict.fromkeys(("rouge1", "rouge2", "rougeL", "rougeLsum"), 0.0)


def test_metrics_closure_decodes_generated_ids_and_reports_gen_len():
    import numpy as np
    from transformers import EvalPrediction

    ctx = context(recipe(), {"validation": ROWS})
    prepared = prepare(ctx)
    tok = ctx.tokenizer
    references = prepared.state["references"]["validation"]
    hypotheses = ["key remover", "print the file now", "stop"]
    ids = [tok(text_target=h)["input_ids"] for h in hypotheses]
    width = max(map(len, ids))
    padded = np.array([[0, *row, *([-100] * (width - len(row)))] for row in ids])  # decoder start, then -100
    got = metrics(ctx.recipe, prepared, "validation")(EvalPrediction(predictions=padded, label_ids=None))
    assert set(got) == {"rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len"}
    assert {k: got[k] for k in ("rouge1", "rougeL")} == pytest.approx(
        {k: v for k, v in rouge_scores(hypotheses, references).items() if k in ("rouge1", "rougeL")}
    )
    assert got["gen_len"] == pytest.approx(np.mean([len(row) - 1 for row in ids]))  # eos not counted


def test_eval_metrics_outside_the_builtins_are_refused():
    ctx = context(recipe(eval={"metrics": ["bleu"]}), {"validation": ROWS})
    with pytest.raises(ConfigError, match="summarization has built-in metrics only"):
        metrics(ctx.recipe, prepare(ctx), "validation")


def test_predict_without_a_recipe_summarizes_with_the_default_sections():
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

    from llmkit.models import ALIASES, ASSETS

    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-t5")
    torch.manual_seed(0)
    config = AutoConfig.for_model(**{**ALIASES["tiny-t5"].config, "vocab_size": len(tokenizer)})
    model = AutoModelForSeq2SeqLM.from_config(config)
    rows = predict(model, tokenizer, [{"text": "A long text."}, {"text": "Short"}], options={"max_new_tokens": 2})
    assert [row["text"] for row in rows] == ["A long text.", "Short"]
    assert all(isinstance(row["prediction"], str) for row in rows)


def test_a_list_of_sentences_is_one_summary_per_line_and_an_object_is_not_text():
    from llmkit.data.rows import NOT_TEXT, as_text

    assert as_text(["First one. ", "Second.", " "], sentences=True) == "First one.\nSecond."
    assert as_text({"a": 1}, sentences=True) is NOT_TEXT and as_text([1, "x"], sentences=True) is NOT_TEXT
    assert as_text(["a", "b"]) is NOT_TEXT  # a translation target that is a list is no text
    assert as_text("  ") is None and as_text(None) is None and as_text(3) == "3"
