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

    with pytest.raises(UsageError, match=r"no chat template"):
        generation.chat_prompt(tokenizer, [{"role": "user", "content": "hi"}])
    tokenizer.chat_template = "{% for m in messages %}<{{ m.role }}> {{ m.content }}\n{% endfor %}<assistant>"
    try:
        text = generation.chat_prompt(tokenizer, [{"role": "user", "content": "hi"}])
    finally:
        tokenizer.chat_template = None
    assert text == "<user> hi\n<assistant>"


# ---------------------------------------------------------------------------------------------
# Option ranges and the model's context (issue #18)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"max_new_tokens": 0}, "--max-new-tokens: 0 is out of range; it must be at least 1"),
        ({"top_p": 0.0}, "--top-p: 0.0 is out of range; it must be in (0, 1]"),
        ({"top_p": 1.01}, "--top-p"),
        ({"top_p": float("nan")}, "--top-p"),
        ({"top_k": -1}, "--top-k: -1"),
        ({"num_beams": 0}, "--num-beams: 0"),
        ({"num_return_sequences": 0}, "--num-return-sequences: 0"),
        ({"repetition_penalty": 0.0}, "--repetition-penalty"),
        ({"batch_size": 0}, "--batch-size"),
        ({"top_k_fill": 0}, "--top-k-fill"),
        ({"temperature": 0.0}, "greater than 0 when sampling"),
        ({"temperature": -1.0, "do_sample": True}, "--temperature"),
        ({"num_beams": 2, "num_return_sequences": 3}, "3 is more than --num-beams 2"),
    ],
)
def test_out_of_range_options_name_the_option_and_the_range(options, fragment):
    problems = generation.option_problems(options)
    assert len(problems) == 1 and fragment in problems[0], problems


def test_valid_options_and_greedy_temperature_pass():
    ok = {"max_new_tokens": 1, "top_p": 1.0, "top_k": 0, "num_beams": 3, "num_return_sequences": 3}
    assert generation.option_problems(ok) == []
    assert generation.option_problems({"temperature": 0.0, "do_sample": False}) == []  # greedy ignores it
    assert generation.option_problems({"num_return_sequences": 4}) == []  # greedy: beams are raised to match


def test_every_problem_is_reported_at_once():
    from llmkit.errors import UsageError

    with pytest.raises(UsageError) as caught:
        generation.check_options({"max_new_tokens": 0, "top_p": 2.0})
    assert str(caught.value).count("\n") == 1


def test_dtype_and_device_names():
    from llmkit.errors import UsageError

    generation.check_dtype("bfloat16")
    with pytest.raises(UsageError, match=r"did you mean 'float16'"):
        generation.check_dtype("float61")
    generation.check_device("cpu")
    for bad in ("tpu", "cuda:x", "cpu:0", "gpu"):
        with pytest.raises(UsageError, match=r"--device"):
            generation.check_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match=r"--device cuda: "):
            generation.check_device("cuda")


class _Config:
    def __init__(self, **values):
        self.__dict__.update(values)


class _Model:
    def __init__(self, **values):
        self.config = _Config(**values)


def test_prompt_budget_leaves_room_for_the_new_tokens():
    from llmkit.errors import UsageError

    assert generation.prompt_budget(_Model(n_positions=64), {"max_new_tokens": 50}) == 14
    assert generation.prompt_budget(_Model(max_position_embeddings=512), {"max_new_tokens": 50}) == 462
    assert generation.prompt_budget(_Model(), {"max_new_tokens": 5000}) is None  # no position limit (T5)
    with pytest.raises(UsageError, match=r"use at most 63"):
        generation.prompt_budget(_Model(n_positions=64), {"max_new_tokens": 64})


def test_fit_prompts_keeps_the_most_recent_tokens_and_warns_once(caplog):
    rows = [list(range(10)), [1, 2], list(range(20))]
    with caplog.at_level("WARNING", logger="llmkit.generation"):
        fitted = generation.fit_prompts(rows, 4, 60)
    assert fitted == [[6, 7, 8, 9], [1, 2], [16, 17, 18, 19]]
    assert len(caplog.records) == 1 and "prompts 1, 3 (2 of 3)" in caplog.records[0].getMessage()
    assert generation.fit_prompts(rows, None, 60) == rows


def test_a_prompt_longer_than_the_context_is_left_truncated(gpt2):
    model, tokenizer = gpt2
    context = model.config.n_positions  # 512 for the alias
    long_prompt = " ".join(["word"] * (context + 40))
    options = {"max_new_tokens": 6, "do_sample": False}
    got = generation.generate_batch(model, tokenizer, [long_prompt], options)[0]
    ids = tokenizer(long_prompt)["input_ids"][-(context - 6) :]
    with torch.inference_mode():
        out = model.generate(
            torch.tensor([ids]), do_sample=False, max_new_tokens=6, pad_token_id=tokenizer.eos_token_id
        )
    assert got.texts[0] == tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)
    assert "".join(generation.stream_text(model, tokenizer, long_prompt, options)) == got.texts[0]


def test_generate_flags_become_llmkits_option_names_in_a_fixed_order():
    from llmkit.cli.invocations import Decoding

    assert Decoding().chosen() == {}
    chosen = Decoding(max_new_tokens=5, greedy=True, stop=("\n",), top_k_fill=3, seed=1).chosen()
    assert list(chosen.items()) == [
        ("max_new_tokens", 5), ("seed", 1), ("top_k_fill", 3), ("do_sample", False), ("stop", ["\n"]),
    ]  # fmt: skip


def test_options_a_task_does_not_read_are_named_from_its_spec():
    from llmkit.cli.commands.generate import ignored_options, spelled
    from llmkit.tasks import get_task

    options = {"max_new_tokens": 5, "top_k_fill": 3, "stop": ["x"]}
    assert ignored_options(get_task("mlm"), options) == ["max_new_tokens", "stop"]
    assert ignored_options(get_task("translation"), options) == ["top_k_fill", "stop"]
    assert ignored_options(get_task("clm"), options) == ["top_k_fill"]
    assert ignored_options(get_task("textcls"), options) == list(options)
    assert [spelled(k) for k in ("do_sample", "top_k_fill")] == ["--greedy/--sample", "--top-k-fill"]
