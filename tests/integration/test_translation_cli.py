"""finetune -> eval -> generate for the three kinds of translation model, offline, on tiny models."""

import json

import pytest
from paths import FIXTURES

RECIPE = FIXTURES / "translation-tiny.yaml"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models train several times faster on one thread when the cores are shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def finetune(cli, run_dir, *overrides):
    result = cli("finetune", RECIPE, "--output-dir", run_dir, *overrides)
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads((run_dir / "metrics.json").read_text())


@pytest.fixture(scope="module")
def t5_run(cli, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "t5"
    finetune(cli, run_dir)
    return run_dir


def check_translation_metrics(metrics):
    for split in ("validation", "test"):
        scores = metrics[split]
        assert {"bleu", "chrf", "gen_len", "loss", "gen_tokens_per_second"} <= set(scores)
        assert 0.0 <= scores["bleu"] <= 100.0 and 0.0 <= scores["chrf"] <= 100.0
        assert 0.0 <= scores["gen_len"] <= 16  # data.max_target_length bounds generation
        signatures = {row["metric"]: row["signature"] for row in metrics["tables"][split]["sacrebleu"]}
        assert "tok:13a" in signatures["bleu"] and "nc:6" in signatures["chrf"]
    assert metrics["data"]["rows"] == {"train": 400, "validation": 24, "test": 24}


def test_t5_run_has_model_metrics_and_bleu_selected_checkpoints(t5_run):
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "recipe.yaml"):
        assert (t5_run / name).is_file(), name
    metrics = json.loads((t5_run / "metrics.json").read_text())
    check_translation_metrics(metrics)
    assert metrics["data"]["kind"] == "seq2seq"
    state = json.loads((t5_run / "trainer_state.json").read_text())
    evals = [entry for entry in state["log_history"] if "eval_bleu" in entry]
    assert len(evals) == 2  # eval_steps 3 of max_steps 6, each generating
    assert state["best_metric"] == max(entry["eval_bleu"] for entry in evals)
    assert state["best_model_checkpoint"].endswith(("checkpoint-3", "checkpoint-6"))
    generation = json.loads((t5_run / "generation_config.json").read_text())
    assert generation["max_new_tokens"] == 16 and generation["use_cache"] is True


def test_eval_json_reproduces_test_metrics_and_writes_pairs_in_input_order(cli, t5_run, tmp_path):
    out = tmp_path / "preds.jsonl"
    test_file = FIXTURES / "translation" / "test.jsonl"
    result = cli("eval", t5_run, "--data", test_file, "--predictions", out, "--json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    saved = json.loads((t5_run / "metrics.json").read_text())["test"]
    for key in ("bleu", "chrf", "gen_len", "loss"):
        assert printed[key] == pytest.approx(saved[key], rel=1e-5), key
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = [json.loads(line) for line in test_file.read_text().splitlines()]
    assert [r["id"] for r in rows] == [e["id"] for e in expected]
    assert [r["reference"] for r in rows] == [e["translation"]["rev"] for e in expected]
    assert all(isinstance(r["prediction"], str) for r in rows)

    from llmkit.metrics import translation_scores

    rescored = translation_scores([r["prediction"] for r in rows], [r["reference"] for r in rows])
    assert rescored["bleu"] == pytest.approx(printed["bleu"]) and rescored["chrf"] == pytest.approx(printed["chrf"])


def test_eval_reads_two_column_tsv(cli, t5_run):
    result = cli(
        "eval",
        t5_run,
        "data.source_column=src",
        "data.target_column=tgt",
        "data.id_column=null",
        "--data",
        FIXTURES / "translation" / "pairs.tsv",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    assert {"bleu", "chrf", "gen_len"} <= set(json.loads(result.stdout))


def test_generate_translates_prompts_and_files(cli, t5_run, tmp_path):
    result = cli("generate", "--model", t5_run, "--prompt", "file user key", "--json")
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["text"] == "file user key" and isinstance(row["prediction"], str)
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("file user key\nerror server\nsystem\n", encoding="utf-8")
    result = cli("generate", "--model", t5_run, "--input", inputs, "--num-beams", "2", "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["file user key", "error server", "system"]


def test_warm_started_bert2gpt2_trains_and_evaluates(cli, tmp_path):
    run_dir = tmp_path / "bert2gpt2"
    metrics = finetune(
        cli,
        run_dir,
        "model.name_or_path=tiny-bert",
        "translation.decoder_name_or_path=tiny-gpt2",
        "training.max_steps=4",
        "training.eval_strategy=no",
        "training.save_strategy=no",
        "eval.early_stopping_patience=null",
    )
    check_translation_metrics(metrics)
    assert metrics["data"]["kind"] == "warm-start"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model_type"] == "encoder-decoder"
    assert config["encoder"]["model_type"] == "bert" and config["decoder"]["model_type"] == "gpt2"
    from llmkit.config import ModelSection
    from llmkit.models import load_tokenizer

    gpt2 = load_tokenizer(ModelSection(name_or_path="tiny-gpt2"))
    assert config["decoder_start_token_id"] == gpt2.bos_token_id
    assert config["eos_token_id"] == gpt2.eos_token_id and config["pad_token_id"] == gpt2.pad_token_id
    assert config["decoder"]["add_cross_attention"] is True and config["decoder"]["is_decoder"] is True
    result = cli("generate", "--model", run_dir, "--prompt", "file user key", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["text"] == "file user key"


def test_decoder_only_gpt2_trains_and_generates_the_target_only(cli, tmp_path):
    run_dir = tmp_path / "gpt2"
    metrics = finetune(
        cli,
        run_dir,
        "model.name_or_path=tiny-gpt2",
        "training.max_steps=4",
        "training.eval_strategy=no",
        "training.save_strategy=no",
        "eval.early_stopping_patience=null",
    )
    check_translation_metrics(metrics)
    assert metrics["data"]["kind"] == "decoder-only"
    out = tmp_path / "preds.jsonl"
    result = cli("eval", run_dir, "--predictions", out, "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 24
    # generation starts after the prompt: no prediction repeats the "en: ..." prompt it was given
    assert not any(r["prediction"].startswith(("en:", r["source"])) and r["prediction"] for r in rows)
    result = cli("generate", "--model", run_dir, "--prompt", "file user key", "--max-new-tokens", "5", "--json")
    assert result.exit_code == 0, result.stderr
    assert "en:" not in json.loads(result.stdout)["prediction"]


@pytest.fixture(scope="module")
def tiny_bart(tmp_path_factory):
    """A random 2+2-layer BART saved as a local checkpoint, with tiny-t5's tokenizer: any seq2seq dir works."""
    import torch
    from transformers import AutoTokenizer, BartConfig, BartForConditionalGeneration

    from llmkit.models import ASSETS

    folder = tmp_path_factory.mktemp("models") / "tiny-bart"
    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-t5")
    config = BartConfig(
        vocab_size=len(tokenizer),
        d_model=64,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        max_position_embeddings=64,
        dropout=0.0,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    BartForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_small_model_learns_to_copy_sentences_to_a_high_bleu(cli, tmp_path, tiny_bart):
    """Tokenize, train, generate, detokenize and score are right only if a small model reaches a high BLEU.

    About 30 s on 2 cores (500 steps on one thread); not marked slow because it is the end-to-end proof.
    """
    metrics = finetune(
        cli,
        tmp_path / "copy",
        f"model.name_or_path={tiny_bart}",
        "data.target_lang=en",  # the target is the source: a copy task
        "training.max_steps=500",
        "training.learning_rate=1.5e-3",
        "training.lr_scheduler_type=constant_with_warmup",
        "training.warmup_steps=30",
        "training.per_device_train_batch_size=32",
        "training.eval_strategy=no",
        "training.save_strategy=no",
        "eval.early_stopping_patience=null",
    )
    assert metrics["test"]["bleu"] > 80, metrics["test"]
    assert metrics["test"]["chrf"] > 90, metrics["test"]


def test_generate_with_a_plain_seq2seq_checkpoint_directory(cli, tiny_bart):
    """A local BART directory without an llmkit recipe is recognised as a translation model by its architecture."""
    result = cli("generate", "--model", tiny_bart, "--prompt", "file user key", "--max-new-tokens", "4", "--json")
    assert result.exit_code == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["text"] == "file user key" and isinstance(row["prediction"], str)
