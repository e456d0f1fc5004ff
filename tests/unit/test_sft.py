"""sft: row formats, chat templates, which tokens carry labels, reply scores, and the SFTConfig-shaped recipe."""

from __future__ import annotations

import pytest
from paths import FIXTURES
from transformers import AutoTokenizer

from llmkit.errors import ConfigError, DataError
from llmkit.models import ASSETS
from llmkit.recipe import load_recipe_data
from llmkit.tasks.sft_eval import reply_scores
from llmkit.tasks.sft_format import (
    IGNORE_INDEX,
    Example,
    detect_format,
    encode,
    prompt_and_reference,
    to_example,
    use_template,
)

TWO_TURNS = [
    {"role": "system", "content": "You define words."},
    {"role": "user", "content": "What does jug mean?"},
    {"role": "assistant", "content": "a vessel"},
    {"role": "user", "content": "And cup?"},
    {"role": "assistant", "content": "a small bowl"},
]


@pytest.fixture
def chatml():
    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-gpt2")
    added = use_template(tokenizer, "chatml")
    assert added == ["<|im_start|>", "<|im_end|>"]
    return tokenizer


def _trained_text(tokenizer, ids, labels):
    return tokenizer.decode([t for t, label in zip(ids, labels, strict=True) if label != IGNORE_INDEX])


def test_two_turn_conversation_trains_on_both_replies_and_their_end_of_turn_only(chatml):
    ids, labels = encode(chatml, Example(messages=TWO_TURNS), "assistant")
    # Exactly these tokens carry labels: each reply, its <|im_end|> (so the model learns to stop) and the newline.
    assert _trained_text(chatml, ids, labels) == "a vessel<|im_end|>\na small bowl<|im_end|>\n"
    untrained = chatml.decode([t for t, label in zip(ids, labels, strict=True) if label == IGNORE_INDEX])
    assert untrained == (
        "<|im_start|>system\nYou define words.<|im_end|>\n<|im_start|>user\nWhat does jug mean?<|im_end|>\n"
        "<|im_start|>assistant\n<|im_start|>user\nAnd cup?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(ids, labels, strict=True))
    im_end = chatml.convert_tokens_to_ids("<|im_end|>")
    assert [i for i, t in enumerate(ids) if t == im_end and labels[i] == t] == [
        i for i, t in enumerate(ids) if t == im_end
    ][2::2]  # the system's and users' <|im_end|> are context, the assistants' are trained


def test_loss_on_completion_trains_on_the_last_reply_and_all_on_everything(chatml):
    ids, labels = encode(chatml, Example(messages=TWO_TURNS), "completion")
    assert _trained_text(chatml, ids, labels) == "a small bowl<|im_end|>\n"
    ids, labels = encode(chatml, Example(messages=TWO_TURNS), "all")
    assert labels == ids


def test_prompt_completion_rows_train_on_the_completion_and_eos():
    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-gpt2")
    example = to_example({"prompt": "jug:", "completion": " a vessel"}, "prompt_completion", "messages", "row 1")
    ids, labels = encode(tokenizer, example, "assistant")
    assert tokenizer.decode(ids) == "jug: a vessel<|endoftext|>"
    assert _trained_text(tokenizer, ids, labels) == " a vessel<|endoftext|>"
    assert prompt_and_reference(tokenizer, example) == ("jug:", " a vessel")


def test_alpaca_rows_become_a_user_turn_and_a_reply(chatml):
    row = {"instruction": "Define the word.", "input": "jug", "output": "a vessel"}
    example = to_example(row, "alpaca", "messages", "row 1")
    assert example.messages == [
        {"role": "user", "content": "Define the word.\n\njug"},
        {"role": "assistant", "content": "a vessel"},
    ]
    prompt, reference = prompt_and_reference(chatml, example)
    assert prompt == "<|im_start|>user\nDefine the word.\n\njug<|im_end|>\n<|im_start|>assistant\n"
    assert reference == "a vessel"
    no_input = to_example({**row, "input": ""}, "alpaca", "messages", "row 1")
    assert no_input.messages[0]["content"] == "Define the word."


def test_formats_are_detected_from_columns():
    assert detect_format(["messages", "id"], "messages") == "conversations"
    assert detect_format(["instruction", "input", "output"], "messages") == "alpaca"
    assert detect_format(["prompt", "completion"], "messages") == "prompt_completion"
    assert detect_format(["text"], "messages") is None


def test_bad_conversations_and_templates_are_named():
    with pytest.raises(DataError, match="row 3: the last message must be the assistant's"):
        to_example({"messages": TWO_TURNS[:2]}, "conversations", "messages", "row 3")
    with pytest.raises(DataError, match="unknown role 'bot'"):
        to_example({"messages": [{"role": "bot", "content": "x"}]}, "conversations", "messages", "row 1")
    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-gpt2")
    with pytest.raises(ConfigError, match=r"sft.chat_template: .chatlm. is neither a built-in"):
        use_template(tokenizer, "chatlm")


def test_a_jinja_template_is_used_as_given():
    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-gpt2")
    template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    template += "{% if add_generation_prompt %}assistant:{% endif %}"
    assert use_template(tokenizer, template) == []
    ids, labels = encode(tokenizer, Example(messages=TWO_TURNS[1:3]), "assistant")
    assert tokenizer.decode(ids) == "user: What does jug mean?\nassistant: a vessel\n"
    assert _trained_text(tokenizer, ids, labels) == " a vessel\n"


def test_reply_scores_exact_match_and_rouge_l():
    scores = reply_scores(["a vessel", "the cat sat"], ["a vessel", "the cat sat down"])
    assert scores["exact_match"] == 50.0
    # ROUGE-L F of "the cat sat" vs "the cat sat down": P 3/3, R 3/4 -> F = 6/7
    assert scores["rougeL"] == pytest.approx(100 * (1 + 6 / 7) / 2)


def _recipe(**training):
    raw = {"task": "sft", "model": {"name_or_path": "tiny-gpt2"}, "data": {"train_file": "x.jsonl"}}
    return load_recipe_data({**raw, "training": training})


def test_training_section_takes_sft_config_fields_and_names_the_sft_keys():
    recipe = _recipe(loss_type="dft", packing_strategy="wrapped", learning_rate=1e-4).recipe
    assert recipe.training.loss_type == "dft" and recipe.training.packing_strategy == "wrapped"
    assert recipe.training.activation_checkpointing is False  # TRL turns it on; llmkit's default is off
    with pytest.raises(ConfigError, match=r"training.packing: set by llmkit.*use sft.packing"):
        _recipe(packing=True)
    with pytest.raises(ConfigError, match=r"training.max_length: set by llmkit.*data.max_seq_length"):
        _recipe(max_length=64)
    with pytest.raises(ConfigError, match=r"training\.beta"):
        _recipe(beta=0.1)  # a DPOConfig field, not SFTConfig's


END, EOS = "<|im_end|>\n", "<|endoftext|>"


@pytest.mark.parametrize(
    ("name", "template", "fmt", "trained"),
    [
        (
            "alpaca.jsonl",
            "chatml",
            "alpaca",
            "a liquid that boils at below -160 C and is used as a refrigerant<|im_end|>\n",
        ),
        (
            "prompt_completion.jsonl",
            None,
            "prompt_completion",
            " causing to move repeatedly from side to side<|endoftext|>",
        ),
    ],
)
def test_prepare_detects_each_file_format(name, template, fmt, trained):
    import datasets

    from llmkit.tasks.sft import prepare
    from llmkit.tasks.spec import PrepareContext

    raw = {"sft": {"chat_template": template}, "model": {"name_or_path": "tiny-gpt2"}}
    recipe = load_recipe_data({**raw, "task": "sft", "data": {"train_file": "x.jsonl"}}).recipe
    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-gpt2")
    rows = datasets.load_dataset("json", data_files=str(FIXTURES / "sft" / name), split="train")
    ctx = PrepareContext(recipe=recipe, raw={"train": rows}, tokenizer=tokenizer, model_config=None, training=True)
    prepared = prepare(ctx)
    assert prepared.summary.extra["format"] == {"train": fmt} and prepared.summary.rows == {"train": 6}
    first = prepared.features["train"][0]
    assert _trained_text(tokenizer, first["input_ids"], first["labels"]) == trained


@pytest.mark.parametrize(
    ("row", "fmt", "reason"),
    [
        ({"instruction": "a", "output": None}, "alpaca", "'output' null or empty"),
        ({"instruction": "a", "output": "  "}, "alpaca", "'output' null or empty"),
        ({"prompt": "a", "completion": ""}, "prompt_completion", "'completion' null or empty"),
        ({"prompt": [{"role": "user", "content": "a"}], "completion": []}, "prompt_completion", "'completion'"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": None}]}, "conversations",
         "last assistant message"),
    ],
)  # fmt: skip
def test_a_row_without_a_reply_is_named_so_it_is_left_out_not_trained_on(row, fmt, reason):
    from llmkit.tasks.sft_format import missing_reply

    assert reason in missing_reply(row, fmt, "messages")
    reply = [{"role": "assistant", "content": "y"}] if isinstance(row.get("prompt"), list) else "y"
    kept = {**row, "output": "x", "completion": reply} if fmt != "conversations" else None
    if kept is not None:
        assert missing_reply(kept, fmt, "messages") is None


def test_objects_and_mixed_kinds_are_not_text_so_the_row_is_left_out():
    from llmkit.tasks.sft_format import missing_reply

    assert "not text" in missing_reply({"instruction": "a", "output": {"x": 1}}, "alpaca", "messages")
    assert "not text" in missing_reply({"instruction": ["a"], "output": "b"}, "alpaca", "messages")
    mixed = {"prompt": [{"role": "user", "content": "a"}], "completion": "b"}
    assert "neither text nor a list of messages" in missing_reply(mixed, "prompt_completion", "messages")
    assert missing_reply({"prompt": "a", "completion": 3}, "prompt_completion", "messages") is None  # reads as "3"


def test_trl_length_limit_is_the_pack_size_when_packing_and_unset_otherwise():
    from llmkit.tasks.sft import trainer_arguments

    raw = {
        "task": "sft",
        "model": {"name_or_path": "tiny-gpt2"},
        "data": {"train_file": "x.jsonl", "max_seq_length": 64},
    }
    assert trainer_arguments(load_recipe_data(raw).recipe)["max_length"] is None  # prepare already cut to 64
    packed = load_recipe_data({**raw, "sft": {"packing": True}}).recipe
    assert trainer_arguments(packed)["max_length"] == 64
