"""sft through the real CLI on tiny-gpt2: TRL's SFTTrainer in llmkit's run directory, the chat template saved
with the run and used by `generate --chat`, generated replies from `eval --predictions`, packing, LoRA."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from paths import FIXTURES, fixture_recipe

FIXTURE = fixture_recipe("sft")


@pytest.fixture(scope="module")
def sft_run(cli, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("sft") / "run"
    result = cli("finetune", FIXTURE, "--output-dir", run_dir)
    assert result.exit_code == 0, result.stderr
    return run_dir


def test_run_learns_and_reports_perplexity_and_reply_scores(sft_run):
    metrics = json.loads((sft_run / "metrics.json").read_text())
    for split in ("validation", "test"):
        scores = metrics[split]
        assert {"loss", "perplexity", "tokens", "mean_token_accuracy", "exact_match", "rougeL"} <= set(scores)
        assert scores["perplexity"] == pytest.approx(2.718281828 ** (scores["loss"]), rel=1e-3)
    assert metrics["data"]["format"]["train"] == "conversations" and metrics["data"]["rows"]["train"] == 48
    losses = [
        row["loss"]
        for row in map(json.loads, (sft_run / "metrics.jsonl").read_text().splitlines())
        if "loss" in row and "step" in row and "eval_loss" not in row
    ]
    assert losses[-1] < losses[0]
    # TRL's trainer writes its own Hub model card at each checkpoint; the run's README.md is llmkit's card
    card = (sft_run / "README.md").read_text()
    assert "## Use" in card and "huggingface/trl" not in card


def test_chat_template_is_saved_with_the_run_and_used_by_generate_chat(cli, sft_run):
    from llmkit.config import ModelSection
    from llmkit.generation import chat_prompt
    from llmkit.models import load_tokenizer
    from llmkit.tasks.sft_format import CHATML

    assert (sft_run / "chat_template.jinja").read_text() == CHATML
    tokenizer = load_tokenizer(ModelSection(name_or_path=str(sft_run)))
    assert tokenizer.eos_token == "<|im_end|>"
    messages = [{"role": "user", "content": "What does jug mean?"}]
    assert (
        chat_prompt(tokenizer, messages) == "<|im_start|>user\nWhat does jug mean?<|im_end|>\n<|im_start|>assistant\n"
    )
    config = json.loads((sft_run / "generation_config.json").read_text())
    assert tokenizer.convert_ids_to_tokens(config["eos_token_id"]) == "<|im_end|>"  # generation stops at the turn end
    result = cli(
        "generate",
        "--model",
        sft_run,
        "--chat",
        "--prompt",
        "What does jug mean?",
        "--greedy",
        "--max-new-tokens",
        "4",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["role"] == "assistant"


def test_eval_predictions_hold_a_generated_reply_per_held_out_prompt(cli, sft_run, tmp_path):
    out = tmp_path / "p.jsonl"
    test_file = FIXTURES / "sft" / "test.jsonl"
    result = cli("eval", sft_run, "--data", test_file, "--predictions", out, "--json")
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    conversations = [json.loads(line)["messages"] for line in test_file.read_text().splitlines()]
    assert [row["reference"] for row in rows] == [messages[-1]["content"] for messages in conversations]
    assert all(set(row) == {"id", "prompt", "prediction", "reference"} for row in rows)
    assert rows[0]["prompt"].endswith("<|im_start|>assistant\n")
    assert rows[0]["prompt"].count("<|im_start|>assistant") == len(
        [m for m in conversations[0] if m["role"] == "assistant"]
    )  # earlier replies are context, the last one is asked for
    exact = 100 * sum(r["prediction"].strip() == r["reference"].strip() for r in rows) / len(rows)
    assert scores["exact_match"] == exact and 0 <= scores["rougeL"] <= 100


def test_packed_examples_do_not_attend_to_each_other(cli, sft_run, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from llmkit.tasks.sft_format import Example, encode

    tokenizer = AutoTokenizer.from_pretrained(sft_run)
    model = AutoModelForCausalLM.from_pretrained(sft_run).eval()
    pairs = [("jug", "a vessel"), ("cup", "a small open bowl")]
    examples = []
    for word, gloss in pairs:
        messages = [{"role": "user", "content": f"What does {word} mean?"}, {"role": "assistant", "content": gloss}]
        ids, labels = encode(tokenizer, Example(messages=messages), "assistant")
        examples.append({"input_ids": ids, "labels": labels})
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(examples)
    first = len(examples[0]["input_ids"])
    assert "attention_mask" not in batch and batch["position_ids"][0, first] == 0
    assert batch["labels"][0, first] == -100  # no loss across the boundary
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
        alone = [model(input_ids=torch.tensor([e["input_ids"]])).logits for e in examples]
    assert torch.allclose(packed[:, :first], alone[0], atol=1e-5)
    assert torch.allclose(packed[:, first:], alone[1], atol=1e-5)  # SDPA on CPU: a block-diagonal mask
    run_dir = tmp_path / "packed"
    result = cli(
        "finetune", FIXTURE, "sft.packing=true", "training.max_steps=2", "data.test_file=null", "--output-dir", run_dir
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["summary"]["steps"] == 2
    # padding-free batches without packing: the examples are already cut to data.max_seq_length by llmkit
    free = cli(
        "finetune", FIXTURE, "training.padding_free=true", "training.max_steps=2", "data.test_file=null",
        "data.validation_file=null", "training.eval_strategy=no", "--output-dir", tmp_path / "free",
    )  # fmt: skip
    assert free.exit_code == 0, free.output


def test_lora_run_saves_an_adapter_and_is_evaluated(cli, tmp_path):
    run_dir = tmp_path / "lora"
    result = cli("finetune", FIXTURE, "peft.r=4", "training.max_steps=3", "data.test_file=null", "-o", run_dir)
    assert result.exit_code == 0, result.stderr
    assert (run_dir / "adapter_model.safetensors").is_file() and not (run_dir / "model.safetensors").exists()
    assert json.loads((run_dir / "adapter_config.json").read_text())["target_modules"] == ["c_attn"]
    assert cli("eval", run_dir, "--json").exit_code == 0


def test_dry_run_imports_no_trl():
    check = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from llmkit.cli import app\n"
        f"result = CliRunner().invoke(app, ['finetune', {str(FIXTURE)!r}, '--dry-run'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = [m for m in ('trl', 'torch', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_explain_attributes_the_first_reply_token_to_the_prompt_inside_the_chat_template(cli, sft_run):
    result = cli("explain", "--model", sft_run, "--prompt", "What does jug mean?", "--steps", "8", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["task"] == "sft" and len(found["attributions"]) == len(found["tokens"])
    text = "".join(found["tokens"])
    # the user turn as the run's template wraps it, ending where the assistant's reply starts
    assert text.startswith("<|im_start|>user") and text.rstrip("Ċ\n").endswith("assistant")
    assert "jug" in text


@pytest.mark.parametrize("fmt", ["onnx", "hf"])
def test_int8_export_says_why_the_metric_is_not_measured_instead_of_failing(cli, sft_run, tmp_path, fmt):
    result = cli("export", sft_run, tmp_path / fmt, "--format", fmt, "--quantize", "dynamic-int8")
    assert result.exit_code == 0, result.output
    assert "validation metric: not measured (task sft is scored through TRL's SFTTrainer" in result.stdout
    assert (tmp_path / fmt / ("model.int8.onnx" if fmt == "onnx" else "model.safetensors")).is_file()
