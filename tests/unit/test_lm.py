"""Pretraining building blocks: packing, sliding windows, masking rates, perplexity, tokenizer training."""

from __future__ import annotations

import math
import random

import pytest

from llmkit.errors import ConfigError, DataError
from llmkit.metrics import perplexity_from_sums
from llmkit.models import ASSETS, train_tokenizer
from llmkit.tasks.lm_common import IGNORE_INDEX, nll_sums, pack_blocks, sliding_windows


@pytest.mark.parametrize("block", [1, 7, 32])
def test_packing_keeps_every_token_once_and_counts_the_dropped_tail(block):
    rng = random.Random(block)
    rows = [[rng.randrange(1000) for _ in range(rng.randrange(0, 40))] for _ in range(50)]
    blocks, dropped = pack_blocks({"input_ids": rows, "mask": [[1] * len(r) for r in rows]}, block)
    stream = [t for r in rows for t in r]
    assert all(len(b) == block for b in blocks["input_ids"])
    assert dropped == len(stream) % block
    assert [t for b in blocks["input_ids"] for t in b] + stream[len(stream) - dropped :] == stream
    assert len(blocks["mask"]) == len(blocks["input_ids"])


def test_sliding_windows_score_each_token_once_with_bounded_context():
    ids = list(range(100, 203))  # 103 tokens
    windows = sliding_windows(ids, window=32, stride=10)
    scored = []
    for chunk, labels in windows:
        assert len(chunk) <= 32 and len(chunk) == len(labels)
        # labels are the chunk's own tokens where scored; the model shifts, so position 0 is never predicted
        scored += [tok for pos, tok in enumerate(labels) if tok != IGNORE_INDEX and pos > 0]
        if windows.index((chunk, labels)) > 0:
            assert labels[0] == IGNORE_INDEX  # later windows start with context only
    assert scored == ids[1:]  # every token but the very first, exactly once, in order
    # the second window scores tokens 32..41 with 22..31 tokens of left context
    chunk, labels = windows[1]
    assert chunk[0] == ids[10] and labels[: 32 - 10] == [IGNORE_INDEX] * 22
    with pytest.raises(ConfigError, match=r"eval\.stride"):
        sliding_windows(ids, window=8, stride=9)


def test_perplexity_of_a_hand_made_case():
    torch = pytest.importorskip("torch")
    # vocab of 3; row 0 predicts two tokens, row 1 one token (its other labels are ignored)
    logits = torch.tensor(
        [
            [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            [[1.0, 1.0, 0.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]],
        ]
    )
    labels = torch.tensor([[0, 0, 1], [IGNORE_INDEX, 2, IGNORE_INDEX]])
    sums = nll_sums(logits, labels, shift=False).numpy()

    def nll(row, target):
        return -(row[target] - math.log(sum(math.exp(v) for v in row)))

    row0 = nll([0, 0, 0], 0) + nll([2, 0, 0], 0) + nll([0, 1, 0], 1)
    row1 = nll([0, 0, 3], 2)
    assert sums[:, 0] == pytest.approx([row0, row1], rel=1e-6)
    assert sums[:, 1].tolist() == [3.0, 1.0]
    scores = perplexity_from_sums(sums[:, 0], sums[:, 1])
    assert scores["tokens"] == 4.0
    assert scores["loss"] == pytest.approx((row0 + row1) / 4, rel=1e-6)
    assert scores["perplexity"] == pytest.approx(math.exp((row0 + row1) / 4), rel=1e-6)
    # not the mean of per-row means, which would weigh row 1's single token like row 0's three
    assert scores["loss"] != pytest.approx((row0 / 3 + row1) / 2, rel=1e-3)


def test_causal_shift_scores_next_tokens():
    torch = pytest.importorskip("torch")
    logits = torch.zeros(1, 3, 4)
    logits[0, 0, 2] = 5.0  # position 0 predicts token 2 strongly
    labels = torch.tensor([[1, 2, 3]])
    sums = nll_sums(logits, labels, shift=True).numpy()
    expected = -(5.0 - math.log(math.exp(5.0) + 3)) + math.log(4)
    assert sums[0, 1] == 2.0 and sums[0, 0] == pytest.approx(expected, rel=1e-6)


def test_masking_rates_follow_15_percent_and_80_10_10():
    torch = pytest.importorskip("torch")
    from transformers import AutoTokenizer

    from llmkit.tasks.mlm import MLMOptions, masking_collator

    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-bert")
    rng = random.Random(0)
    specials = set(tokenizer.all_special_ids)
    ordinary = [i for i in range(len(tokenizer)) if i not in specials]
    rows = [
        {"input_ids": [tokenizer.cls_token_id] + [rng.choice(ordinary) for _ in range(126)] + [tokenizer.sep_token_id]}
        for _ in range(400)
    ]
    batch = masking_collator(tokenizer, MLMOptions(), seed=3)(rows)
    original = torch.tensor([r["input_ids"] for r in rows])
    selected = batch["labels"] != IGNORE_INDEX
    n = int(selected.sum())
    assert not selected[:, 0].any() and not selected[:, -1].any()  # [CLS]/[SEP] never selected
    assert n / (400 * 126) == pytest.approx(0.15, abs=0.01)
    assert torch.equal(batch["labels"][selected], original[selected])
    masked = (batch["input_ids"] == tokenizer.mask_token_id) & selected
    kept = (batch["input_ids"] == original) & selected
    assert masked.sum() / n == pytest.approx(0.8, abs=0.02)
    assert kept.sum() / n == pytest.approx(0.1, abs=0.02)  # random replacements may hit the same token rarely
    assert (selected & ~masked & ~kept).sum() / n == pytest.approx(0.1, abs=0.02)


def test_whole_word_masking_masks_all_pieces_of_a_word():
    pytest.importorskip("torch")
    from transformers import AutoTokenizer

    from llmkit.tasks.mlm import MLMOptions, masking_collator

    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-bert")
    text = " ".join(["unbelievably xylophonist"] * 40)
    enc = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    batch = masking_collator(tokenizer, MLMOptions(whole_word_mask=True, mlm_probability=0.3), seed=1)([dict(enc)])
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    selected = (batch["labels"][0] != IGNORE_INDEX).tolist()
    for i in range(1, len(tokens)):
        if tokens[i].startswith("##"):
            assert selected[i] == selected[i - 1], tokens[i - 1 : i + 1]
    assert any(selected)


def test_trained_tokenizers_have_each_family_specials():
    texts = ["a small furry animal that purrs", "a tool for driving nails", "a sweet baked dessert"] * 50
    bert = train_tokenizer(texts, "bert", vocab_size=200, min_frequency=1)
    ids = bert("a small tool")["input_ids"]
    assert ids[0] == bert.cls_token_id and ids[-1] == bert.sep_token_id
    assert bert.mask_token == "[MASK]" and bert.pad_token == "[PAD]"
    assert bert.decode(ids, skip_special_tokens=True) == "a small tool"
    gpt = train_tokenizer(texts, "gpt2", vocab_size=300, min_frequency=1)
    assert gpt.eos_token == "<|endoftext|>" and gpt.mask_token == "<mask>" and gpt.pad_token == "<pad>"
    assert gpt.decode(gpt("A Tool, unseen: é")["input_ids"]) == "A Tool, unseen: é"  # byte-level: no unknowns
    again = train_tokenizer(texts, "gpt2", vocab_size=300, min_frequency=1)
    assert again.get_vocab() == gpt.get_vocab()  # deterministic: a resumed run rebuilds the same vocabulary


def test_recipe_schema_for_pretraining():
    from llmkit.recipe import load_recipe, parse_recipe_text

    base = "task: clm\ndata: {train_file: x.txt}\n"
    with pytest.raises(ConfigError, match="model_type"):
        parse_recipe_text(base + "model: {config: {n_layer: 2}}\n")
    with pytest.raises(ConfigError, match=r"model.name_or_path.*model.config"):
        parse_recipe_text(base + "model: {}\n")
    with pytest.raises(ConfigError, match=r"tokenizer.train.vocab_sise: unknown key.*vocab_size"):
        parse_recipe_text(base + "model: {name_or_path: tiny-gpt2}\ntokenizer: {train: {vocab_sise: 10}}\n")
    recipe = parse_recipe_text(base + "model: {config: {model_type: gpt2}}\neval: {stride: 16}\n").recipe
    assert recipe.model.label == "new gpt2 (model.config)" and recipe.eval.stride == 16
    assert recipe.data.block() == recipe.data.max_seq_length
    for name in ("clm", "mlm"):
        shipped = load_recipe(name, command="pretrain").recipe
        assert shipped.tokenizer.train is not None and shipped.model.config is not None
    with pytest.raises(Exception, match="pretrain"):
        load_recipe("clm", command="finetune")


def test_builtin_alias_and_config_models_follow_a_trained_tokenizer():
    from llmkit.models import load_config, train_tokenizer_for
    from llmkit.recipe import parse_recipe_text

    texts = ["a small furry animal that purrs", "a tool for driving nails"] * 30
    for model in ("{name_or_path: tiny-gpt2}", "{config: {model_type: bert, hidden_size: 32, num_attention_heads: 2}}"):
        text = f"task: clm\nmodel: {model}\ntokenizer: {{train: {{vocab_size: 300, min_frequency: 1}}}}\n"
        recipe = parse_recipe_text(text).recipe
        tokenizer = train_tokenizer_for(recipe, iter(texts))
        config = load_config(recipe.model, tokenizer)
        assert config.vocab_size == len(tokenizer) <= 300
        assert tokenizer.model_max_length == 512  # the model's context, not a huge placeholder
        assert (tokenizer.cls_token is not None) == (config.model_type == "bert")  # WordPiece for BERT
    plain = parse_recipe_text("task: clm\nmodel: {name_or_path: tiny-gpt2}\n").recipe
    assert train_tokenizer_for(plain, iter(texts)) is None


def test_perplexity_past_a_float_is_inf_not_an_overflow():
    import numpy as np

    from llmkit.metrics import perplexity
    from llmkit.tasks.lm_common import details

    assert perplexity(709.0) == pytest.approx(math.exp(709.0))
    assert perplexity(1e9) == math.inf
    scores = perplexity_from_sums(np.array([5.7e10, 5.3e10]), np.array([31.0, 31.0]))
    assert scores["perplexity"] == math.inf and math.isfinite(scores["loss"])

    class Output:
        predictions = np.array([[5.7e10, 31.0], [3.1, 31.0], [0.0, 0.0]])

    rows = details(None, None, "validation", Output()).rows
    assert rows[0]["prediction"] == math.inf
    assert rows[1]["prediction"] == pytest.approx(math.exp(0.1))
    assert rows[2]["prediction"] is None


def test_a_corpus_of_empty_rows_is_a_data_error_naming_the_column():
    import datasets

    from llmkit.models import load_tokenizer
    from llmkit.recipe import load_recipe_data
    from llmkit.tasks.clm import prepare
    from llmkit.tasks.spec import PrepareContext

    recipe = load_recipe_data({"task": "clm", "model": {"name_or_path": "tiny-gpt2"}}).recipe
    raw = {"train": datasets.Dataset.from_dict({"text": ["", "  ", None]})}
    ctx = PrepareContext(
        recipe=recipe,
        raw=raw,
        tokenizer=load_tokenizer(recipe.model),
        model_config=None,
        training=True,
        sources={"train": "data.train_file (corpus.jsonl)"},
    )
    with pytest.raises(DataError, match=r"data.train_file \(corpus.jsonl\): no text: all 3 row\(s\) of 'text'"):
        prepare(ctx)


def test_clean_texts_keeps_text_and_numbers_and_leaves_out_blanks_lists_and_objects():
    from llmkit.tasks.lm_common import clean_texts

    assert clean_texts(["a dog", " ", None, {"x": "y"}, ["a", "b"], 7]) == ["a dog", "7"]
