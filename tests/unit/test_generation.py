"""llmkit.generation on the built-in tiny-gpt2: greedy equals raw model.generate, streaming equals batch,
seeds repeat, stop strings cut, batches keep input order."""

import pytest
import torch

from llmkit import generation
from llmkit.config import ModelSection
from llmkit.models import load_config, load_model, load_tokenizer

PROMPTS = ["the cat", "a small domesticated animal that", "an", "a person who repairs water pipes and"]


@pytest.fixture(scope="module")
def gpt2():
    section = ModelSection(name_or_path="tiny-gpt2")
    tokenizer = load_tokenizer(section)
    model = load_model(section, "AutoModelForCausalLM", load_config(section, tokenizer))
    model.eval()
    return model, tokenizer


def _raw_greedy(model, tokenizer, prompt, max_new_tokens):
    ids = tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**ids, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.eos_token_id)
    return out[0, ids["input_ids"].shape[1] :].tolist()


def test_greedy_is_token_for_token_model_generate(gpt2):
    model, tokenizer = gpt2
    results = generation.generate_batch(model, tokenizer, PROMPTS, {"max_new_tokens": 12}, batch_size=1)
    for prompt, result in zip(PROMPTS, results, strict=True):
        expected = _raw_greedy(model, tokenizer, prompt, 12)
        assert result.texts == [tokenizer.decode(expected, skip_special_tokens=True)]
        assert result.new_tokens[0] == len(expected)


def test_batched_left_padding_matches_the_same_raw_batch_and_keeps_input_order(gpt2):
    model, tokenizer = gpt2
    results = generation.generate_batch(model, tokenizer, PROMPTS, {"max_new_tokens": 8}, batch_size=4)
    assert [r.prompt for r in results] == PROMPTS
    order = sorted(range(len(PROMPTS)), key=lambda i: len(tokenizer(PROMPTS[i])["input_ids"]))
    tokenizer.padding_side = "left"
    batch = tokenizer([PROMPTS[i] for i in order], return_tensors="pt", padding=True)
    with torch.inference_mode():
        out = model.generate(**batch, do_sample=False, max_new_tokens=8, pad_token_id=tokenizer.eos_token_id)
    texts = tokenizer.batch_decode(out[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    for row, index in enumerate(order):
        assert results[index].texts == [texts[row]]


def test_streaming_joins_to_the_batch_output(gpt2):
    model, tokenizer = gpt2
    for options in ({"max_new_tokens": 15}, {"max_new_tokens": 15, "do_sample": True, "seed": 3, "top_k": 20}):
        pieces = list(generation.stream_text(model, tokenizer, PROMPTS[1], options))
        batch = generation.generate_batch(model, tokenizer, [PROMPTS[1]], options)[0].texts[0]
        assert len(pieces) > 1 and "".join(pieces) == batch


def test_same_seed_same_sample_other_seed_differs(gpt2):
    model, tokenizer = gpt2
    options = {"max_new_tokens": 20, "do_sample": True, "temperature": 1.5}
    a = generation.generate_batch(model, tokenizer, PROMPTS[:2], {**options, "seed": 11})
    b = generation.generate_batch(model, tokenizer, PROMPTS[:2], {**options, "seed": 11})
    c = generation.generate_batch(model, tokenizer, PROMPTS[:2], {**options, "seed": 12})
    assert [r.texts for r in a] == [r.texts for r in b]
    assert [r.texts for r in a] != [r.texts for r in c]


def test_stop_string_cuts_batch_and_stream_alike(gpt2):
    model, tokenizer = gpt2
    full = generation.generate_batch(model, tokenizer, [PROMPTS[0]], {"max_new_tokens": 20})[0].texts[0]
    stop = full.strip()[3:6]  # a piece that occurs in the greedy continuation
    assert stop and stop in full
    options = {"max_new_tokens": 20, "stop": [stop]}
    cut = generation.generate_batch(model, tokenizer, [PROMPTS[0]], options)[0].texts[0]
    assert cut == full[: full.index(stop)]
    assert "".join(generation.stream_text(model, tokenizer, PROMPTS[0], options)) == cut


def test_num_return_sequences_greedy_switches_to_beams(gpt2):
    model, tokenizer = gpt2
    result = generation.generate_batch(model, tokenizer, [PROMPTS[0]], {"max_new_tokens": 6, "num_return_sequences": 3})
    assert len(result[0].texts) == 3
    assert not generation.can_stream({"num_return_sequences": 3})


def test_decoding_options_precedence_recipe_below_command_line():
    class Gen:
        def model_dump(self, exclude_none=True):
            return {"max_new_tokens": 30, "temperature": 0.7}

    class Recipe:
        generate = Gen()

    merged = generation.decoding_options(Recipe(), {"max_new_tokens": 5, "top_k": None})
    assert merged == {"max_new_tokens": 5, "temperature": 0.7}
    kwargs = generation.generate_kwargs(merged)
    assert kwargs["do_sample"] is True  # a sampling knob asks for sampling


def test_stop_prefix_is_held_back():
    assert generation._longest_stop_prefix("hello wor", ["world"]) == 3
    assert generation._longest_stop_prefix("hello", ["xyz"]) == 0


def test_chat_prompt_needs_a_template(gpt2):
    _, tokenizer = gpt2
    from llmkit.errors import UsageError

    with pytest.raises(UsageError, match="no chat template"):
        generation.chat_prompt(tokenizer, [{"role": "user", "content": "hi"}])
    tokenizer.chat_template = "{% for m in messages %}<{{ m.role }}> {{ m.content }}\n{% endfor %}<assistant>"
    try:
        text = generation.chat_prompt(tokenizer, [{"role": "user", "content": "hi"}])
    finally:
        tokenizer.chat_template = None
    assert text == "<user> hi\n<assistant>"
