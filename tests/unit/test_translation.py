"""translation preprocessing, collation and prompt handling on a few hand-written pairs."""

import pytest

from llmkit.config import ModelSection
from llmkit.errors import ConfigError, DataError
from llmkit.models import load_config, load_tokenizer
from llmkit.recipe import load_recipe_data
from llmkit.tasks.spec import PrepareContext
from llmkit.tasks.translation import (
    DECODER_ONLY,
    SEQ2SEQ,
    WARM_START,
    collator,
    model_kind,
    prepare,
)
from llmkit.train.trainer_api import left_padded_prompts

PAIRS = [
    {"translation": {"english": "Print the file", "deutsch": "Datei ausgeben"}},
    {"translation": {"english": "Remove the key from the server now", "deutsch": "Schlüssel jetzt entfernen"}},
    {"translation": {"english": "Stop", "deutsch": "Anhalten"}},
]


def recipe(model="tiny-t5", **sections):
    data = {"source_lang": "english", "target_lang": "deutsch", **sections.pop("data", {})}
    raw = {"task": "translation", "model": {"name_or_path": model}, "data": data, **sections}
    return load_recipe_data(raw).recipe


def context(recipe_, splits, model="tiny-t5"):
    import datasets

    tokenizer = load_tokenizer(ModelSection(name_or_path=model))
    config = load_config(ModelSection(name_or_path=model), tokenizer)
    raw = {name: datasets.Dataset.from_list(rows) for name, rows in splits.items()}
    return PrepareContext(recipe=recipe_, raw=raw, tokenizer=tokenizer, model_config=config, training=True)


def test_wmt_pairs_with_any_language_keys_become_source_and_target_ids():
    ctx = context(recipe(), {"train": PAIRS})
    prepared = prepare(ctx)
    tok = ctx.tokenizer
    features = prepared.features["train"]
    assert prepared.state["kind"] == SEQ2SEQ
    assert tok.decode(features[0]["input_ids"], skip_special_tokens=True) == "Print the file"
    assert tok.decode(features[0]["labels"], skip_special_tokens=True) == "Datei ausgeben"
    assert features[0]["labels"][-1] == tok.eos_token_id


def test_source_prefix_is_prepended():
    ctx = context(recipe(translation={"source_prefix": "translate English to German: "}), {"train": PAIRS[:1]})
    ids = prepare(ctx).features["train"][0]["input_ids"]
    assert ctx.tokenizer.decode(ids, skip_special_tokens=True) == "translate English to German: Print the file"


def test_overlong_pairs_are_truncated_counted_and_keep_eos():
    ctx = context(recipe(data={"max_source_length": 4, "max_target_length": 3}), {"train": PAIRS})
    prepared = prepare(ctx)
    features = prepared.features["train"]
    assert all(len(row["input_ids"]) <= 4 and len(row["labels"]) <= 3 for row in features)
    assert all(row["input_ids"][-1] == ctx.tokenizer.eos_token_id for row in features)
    assert prepared.summary.extra["overlong"]["train"]["source"] >= 1  # "Remove the key ..." is longer than 4 tokens
    assert prepared.summary.truncated["train"] >= prepared.summary.extra["overlong"]["train"]["source"]


def test_two_column_files_use_the_configured_columns():
    rows = [{"src": "Print the file", "tgt": "Datei ausgeben"}]
    ctx = context(recipe(data={"source_column": "src", "target_column": "tgt"}), {"train": rows})
    labels = prepare(ctx).features["train"][0]["labels"]
    assert ctx.tokenizer.decode(labels, skip_special_tokens=True) == "Datei ausgeben"


def test_missing_language_key_names_the_recipe_keys():
    ctx = context(recipe(data={"target_lang": "fr"}), {"train": PAIRS})
    with pytest.raises(DataError, match=r"'fr' \(data.target_lang\).*found: deutsch, english"):
        prepare(ctx)


def test_one_of_two_columns_is_a_config_error():
    with pytest.raises(ConfigError, match="source_column"):
        recipe(data={"source_column": "src"})


def test_eval_splits_are_sorted_by_source_length_and_map_back():
    ctx = context(recipe(), {"validation": PAIRS})
    prepared = prepare(ctx)
    lengths = [len(ids) for ids in prepared.features["validation"]["input_ids"]]
    assert lengths == sorted(lengths, reverse=True)
    order = prepared.state["order"]["validation"]
    assert next(prepared.state["sources"]["validation"][i] for i in order).startswith("Remove")
    assert prepared.state["references"]["validation"] == [PAIRS[i]["translation"]["deutsch"] for i in order]


def test_label_padding_uses_minus_100():
    ctx = context(recipe(), {"train": PAIRS})
    prepared = prepare(ctx)
    batch = collator(ctx.tokenizer, ctx.recipe, prepared)([prepared.features["train"][i] for i in range(3)])
    labels, lengths = batch["labels"], [len(r) for r in prepared.features["train"]["labels"]]
    for row, length in enumerate(lengths):
        assert (labels[row, length:] == -100).all() and (labels[row, :length] != -100).all()
    assert (batch["input_ids"] == ctx.tokenizer.pad_token_id).any()  # inputs pad with the pad token


def test_kind_detection():
    t5 = load_config(ModelSection(name_or_path="tiny-t5"))
    gpt2 = load_config(ModelSection(name_or_path="tiny-gpt2"))
    assert model_kind(t5, None) == SEQ2SEQ
    assert model_kind(gpt2, None) == DECODER_ONLY
    options = recipe("tiny-bert", translation={"decoder_name_or_path": "tiny-gpt2"}).options
    assert model_kind(load_config(ModelSection(name_or_path="tiny-bert")), options) == WARM_START


def test_decoder_only_labels_mask_the_prompt_and_loss_covers_target_only():
    import torch
    from transformers import AutoModelForCausalLM

    ctx = context(recipe("tiny-gpt2"), {"train": PAIRS}, model="tiny-gpt2")
    prepared = prepare(ctx)
    tok = ctx.tokenizer
    row = prepared.features["train"][0]
    prompt_len = row["labels"].index(next(v for v in row["labels"] if v != -100))
    assert tok.decode(row["input_ids"][:prompt_len]) == "english: Print the file\ndeutsch:"
    assert tok.decode(row["input_ids"][prompt_len:]) == " Datei ausgeben" + tok.eos_token
    assert row["labels"][prompt_len:] == row["input_ids"][prompt_len:]

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(ctx.model_config).eval()  # no dropout
    ids, labels = torch.tensor([row["input_ids"]]), torch.tensor([row["labels"]])
    loss = model(input_ids=ids, labels=labels).loss
    logits = model(input_ids=ids).logits[0, :-1]
    targets = ids[0, 1:]
    on_target = torch.arange(1, ids.shape[1]) >= prompt_len
    expected = torch.nn.functional.cross_entropy(logits[on_target], targets[on_target])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    everything = torch.nn.functional.cross_entropy(logits, targets)
    assert loss.item() != pytest.approx(everything.item(), rel=1e-3)


def test_left_padded_prompts_hold_the_source_only():
    import torch

    ctx = context(recipe("tiny-gpt2"), {"train": PAIRS[:2]}, model="tiny-gpt2")
    prepared = prepare(ctx)
    tok = ctx.tokenizer
    batch = collator(tok, ctx.recipe, prepared)([prepared.features["train"][i] for i in range(2)])
    prompt, mask = left_padded_prompts(batch, tok.pad_token_id)
    for row in range(2):
        kept = prompt[row][mask[row].bool()]
        text = tok.decode(kept)
        assert text.startswith("english: ") and text.endswith("deutsch:")
    assert mask[:, -1].all() and not mask.all()  # right-aligned, the shorter prompt padded on the left
    assert isinstance(prompt, torch.Tensor)


def test_decoder_only_evaluation_generates_from_the_prompt_alone(tmp_path):
    """The trainer mixin's batched, left-padded generation equals generating from each bare prompt."""
    import torch
    import transformers

    from llmkit.tasks.translation import load_model, prompt_ids
    from llmkit.tasks.translation_eval import metrics
    from llmkit.train.trainer_api import generation_eval

    rec = recipe("tiny-gpt2", data={"max_target_length": 6})
    ctx = context(rec, {"validation": PAIRS}, model="tiny-gpt2")
    prepared = prepare(ctx)
    tok = ctx.tokenizer
    model = load_model(rec.model, ctx.model_config, recipe=rec, tokenizer=tok).eval()
    model.generation_config.eos_token_id = None  # random weights: make every row generate 6 tokens
    base = transformers.Seq2SeqTrainer
    cls = type("T", (generation_eval(model), base), {})
    args = transformers.Seq2SeqTrainingArguments(
        output_dir=str(tmp_path), predict_with_generate=True, per_device_eval_batch_size=3, report_to="none"
    )
    trainer = cls(
        model=model,
        args=args,
        data_collator=collator(tok, rec, prepared),
        processing_class=tok,
        compute_metrics=metrics(rec, prepared, "validation"),
    )
    output = trainer.predict(prepared.features["validation"], metric_key_prefix="validation")
    assert output.predictions.shape[1] == 6
    assert output.metrics["validation_gen_tokens_per_second"] > 0
    order = prepared.state["order"]["validation"]
    for position, index in enumerate(order):
        source = PAIRS[index]["translation"]["english"]
        ids, _ = prompt_ids(tok, source, rec.options, rec.data)
        with torch.no_grad():
            alone = model.generate(input_ids=torch.tensor([ids]), max_new_tokens=6)[0, len(ids) :]
        assert output.predictions[position].tolist() == alone.tolist()


def test_tiny_t5_is_deterministic_and_its_tokenizer_covers_english_and_german():
    import torch

    from llmkit.models import load_model

    section = ModelSection(name_or_path="tiny-t5")
    tok = load_tokenizer(section)
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    for text in ("Remove the file from the index", "Schlüssel für Verknüpfungen können nicht gesetzt werden"):
        ids = tok(text)["input_ids"]
        assert tok.unk_token_id not in ids and ids[-1] == tok.eos_token_id
        assert tok.decode(ids, skip_special_tokens=True) == text
    first, second = (load_model(section, "AutoModelForSeq2SeqLM", load_config(section, tok)) for _ in range(2))
    assert first.config.is_encoder_decoder and first.config.decoder_start_token_id == tok.pad_token_id
    assert all(
        torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    )


def test_bert2bert_targets_end_with_sep_and_decoding_starts_from_cls():
    from llmkit.tasks.translation import _special_ids

    rec = recipe("tiny-bert", translation={"decoder_name_or_path": "tiny-bert"})
    ctx = context(rec, {"train": PAIRS[:1]}, model="tiny-bert")
    prepared = prepare(ctx)
    tok = ctx.tokenizer
    assert prepared.state["kind"] == WARM_START
    labels = prepared.features["train"][0]["labels"]
    assert labels[-1] == tok.sep_token_id and labels[0] != tok.cls_token_id  # the start token is not a label
    assert tok.decode(labels, skip_special_tokens=True) == "datei ausgeben"  # tiny-bert is uncased
    ids = _special_ids(tok)
    assert ids == {"decoder_start_token_id": tok.cls_token_id, "eos_token_id": tok.sep_token_id, "pad_token_id": 0}


def test_pairs_without_source_or_target_text_are_left_out_and_counted(caplog):
    rows = [
        *PAIRS,
        {"translation": {"english": "Open", "deutsch": None}},
        {"translation": {"english": "  ", "deutsch": "Leer"}},
        {"translation": None},
    ]
    prepared = prepare(context(recipe(), {"validation": rows}))
    assert prepared.summary.dropped == {"validation": 3}
    assert prepared.summary.rows == {"validation": 3}
    assert sorted(prepared.state["ids"]["validation"]) == [0, 1, 2]
    assert "Open" not in prepared.state["sources"]["validation"]
    assert "no target text ('deutsch') (rows 4, 6)" in caplog.text


def test_strict_stops_on_a_pair_without_target():
    import dataclasses

    rows = [{"src": "Print", "tgt": ""}, {"src": "Stop", "tgt": "Anhalten"}]
    ctx = context(recipe(data={"source_column": "src", "target_column": "tgt"}), {"train": rows})
    with pytest.raises(DataError, match=r"1 row\(s\) with no target text \('tgt'\) \(row 1\) \(--strict"):
        prepare(dataclasses.replace(ctx, strict=True))


def test_a_translation_column_of_strings_names_the_rows():
    with pytest.raises(
        DataError, match=r"must hold \{'english': ..., 'deutsch': ...\} objects, not strings \(rows 1, 2"
    ):
        prepare(context(recipe(), {"train": [{"translation": "Print the file"}, {"translation": "Stop"}]}))
