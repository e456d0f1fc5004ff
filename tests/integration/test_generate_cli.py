"""`llmkit generate` on a causal LM through the real CLI: streaming, JSON, batch files, seeds, chat."""

import json

import torch

from llmkit.config import ModelSection
from llmkit.models import load_config, load_model, load_tokenizer

GPT2 = ("--model", "tiny-gpt2", "--task", "clm")


def test_streamed_text_equals_the_json_output(cli):
    prompt = "a small domesticated animal"
    streamed = cli("generate", *GPT2, "--prompt", prompt, "--greedy", "--max-new-tokens", "15")
    assert streamed.exit_code == 0, streamed.stderr
    as_json = cli("generate", *GPT2, "--prompt", prompt, "--greedy", "--max-new-tokens", "15", "--json")
    row = json.loads(as_json.stdout)
    assert row["text"] == prompt and row["new_tokens"] == 15
    assert streamed.stdout == prompt + row["prediction"] + "\n"


def test_cli_greedy_equals_raw_model_generate(cli):
    prompt = "a person who repairs water pipes"
    result = cli("generate", *GPT2, "--prompt", prompt, "--greedy", "--max-new-tokens", "10", "--json")
    section = ModelSection(name_or_path="tiny-gpt2")
    tokenizer = load_tokenizer(section)
    model = load_model(section, "AutoModelForCausalLM", load_config(section, tokenizer)).eval()
    ids = tokenizer(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**ids, do_sample=False, max_new_tokens=10, pad_token_id=tokenizer.eos_token_id)
    expected = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert json.loads(result.stdout)["prediction"] == expected


def test_same_seed_same_sample(cli):
    args = ("generate", *GPT2, "--prompt", "the", "--sample", "--temperature", "1.3", "--max-new-tokens", "12")
    a = cli(*args, "--seed", "5", "--json")
    b = cli(*args, "--seed", "5", "--json")
    c = cli(*args, "--seed", "6", "--json")
    assert a.exit_code == 0, a.stderr
    assert a.stdout == b.stdout and a.stdout != c.stdout


def test_batch_file_in_jsonl_out_one_line_per_prompt_in_order(cli, tmp_path):
    prompts = ["the cat", "a long prompt about a musical instrument with strings", "x", "an animal", "a"] * 2
    source = tmp_path / "prompts.jsonl"
    source.write_text("\n".join(json.dumps({"prompt": p}) for p in prompts) + "\n")
    out = tmp_path / "out.jsonl"
    result = cli("generate", *GPT2, "--input", source, "--output", out, "--greedy", "--max-new-tokens", "6",
                 "--batch-size", "4")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == prompts
    assert rows[0]["prediction"] == rows[5]["prediction"]  # same prompt, same greedy text, whatever its batch
    assert "tokens/s" in result.stderr and result.stdout == ""


def test_chat_needs_a_template(cli):
    result = cli("generate", *GPT2, "--prompt", "hi", "--chat")
    assert result.exit_code == 2 and "no chat template" in result.stderr


def test_chat_with_a_template_answers_each_turn(cli, tmp_path):
    from transformers import AutoTokenizer

    from llmkit.models import ASSETS

    folder = tmp_path / "chat-gpt2"
    section = ModelSection(name_or_path="tiny-gpt2")
    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-gpt2")
    tokenizer.chat_template = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:"
    model = load_model(section, "AutoModelForCausalLM", load_config(section, load_tokenizer(section)))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    result = cli("generate", "--model", folder, "--chat", "--prompt", "hello", "--prompt", "and then?",
                 "--greedy", "--max-new-tokens", "5", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(turns) == 2 and all(t["role"] == "assistant" for t in turns)


def test_bad_dtype_is_a_usage_error(cli):
    result = cli("generate", *GPT2, "--prompt", "x", "--dtype", "float8")
    assert result.exit_code == 2 and "--dtype" in result.stderr


# ---------------------------------------------------------------------------------------------
# Inputs longer than the model's context (issue #18): plain checkpoints with 32 positions


def _small_context_checkpoint(folder, alias, auto_class, **config_overrides):
    """A tiny alias model saved with only 32 positions (tokenizer beside it, which claims 512)."""
    from transformers import AutoTokenizer

    from llmkit.models import ASSETS

    section = ModelSection(name_or_path=alias)
    config = load_config(section, load_tokenizer(section), **config_overrides)
    load_model(section, auto_class, config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(ASSETS / alias).save_pretrained(folder)
    return folder


def test_a_prompt_longer_than_the_context_keeps_its_last_tokens(cli, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = _small_context_checkpoint(tmp_path / "gpt2-32", "tiny-gpt2", "AutoModelForCausalLM", n_positions=32)
    prompt = " ".join(f"word{i}" for i in range(60))
    result = cli("generate", "--model", folder, "--prompt", prompt, "--greedy", "--max-new-tokens", "5", "--json")
    assert result.exit_code == 0, result.stderr
    assert "warning: prompt 1 has" in result.stderr and "kept its last 27" in result.stderr
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = torch.tensor([tokenizer(prompt)["input_ids"][-27:]])
    with torch.inference_mode():
        out = model.generate(ids, do_sample=False, max_new_tokens=5, pad_token_id=tokenizer.eos_token_id)
    assert json.loads(result.stdout)["prediction"] == tokenizer.decode(out[0, 27:], skip_special_tokens=True)
    streamed = cli("generate", "--model", folder, "--prompt", prompt, "--greedy", "--max-new-tokens", "5")
    assert streamed.exit_code == 0 and streamed.stdout.endswith(json.loads(result.stdout)["prediction"] + "\n")
    too_many = cli("generate", "--model", folder, "--prompt", "hi", "--max-new-tokens", "32")
    assert too_many.exit_code == 2 and "use at most 31" in too_many.stderr


def test_classifier_and_masked_lm_truncate_to_their_context(cli, tmp_path):
    text = " ".join(["violin"] * 80)
    classifier = _small_context_checkpoint(
        tmp_path / "cls-32", "tiny-bert", "AutoModelForSequenceClassification", max_position_embeddings=32, num_labels=3
    )
    result = cli("generate", "--model", classifier, "--task", "textcls", "--prompt", text, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["label"] in ("LABEL_0", "LABEL_1", "LABEL_2")
    masked = _small_context_checkpoint(
        tmp_path / "mlm-32", "tiny-bert", "AutoModelForMaskedLM", max_position_embeddings=32
    )
    result = cli("generate", "--model", masked, "--task", "mlm", "--prompt", "a [MASK] " + text, "--json")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["masks"]) == 1


def test_options_a_classifier_does_not_read_are_named_and_ignored(cli, tmp_path):
    classifier = _small_context_checkpoint(
        tmp_path / "cls", "tiny-bert", "AutoModelForSequenceClassification", num_labels=2
    )
    result = cli("generate", "--model", classifier, "--task", "textcls", "--prompt", "a cat",
                 "--max-new-tokens", "5", "--sample", "--top-k-fill", "3", "--json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "warning: --max-new-tokens, --top-k-fill, --greedy/--sample do not apply to a textcls model" in result.stderr
    assert json.loads(result.stdout)["text"] == "a cat"
