"""LoRA through the real CLI: what is trained and saved, reloading by eval/generate/export, exact resume."""

import json
from pathlib import Path

import pytest
import torch
from paths import fixture_recipe
from safetensors.torch import load_file

FIXTURE = fixture_recipe("textcls")
LORA = ["peft.r=4", "training.learning_rate=5e-3"]
# 10 steps, a checkpoint every 2 steps, no evaluation: the shape of the reliability tests.
STEPS = [
    "training.save_strategy=steps",
    "training.save_steps=2",
    "training.logging_steps=1",
    "training.eval_strategy=no",
    "training.save_total_limit=3",
    "data.test_file=null",
]


@pytest.fixture(scope="module")
def lora_run(cli, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("peft") / "lora"
    result = cli("finetune", FIXTURE, *LORA, "--output-dir", run_dir)
    assert result.exit_code == 0, result.stderr
    assert "LoRA:" in result.stdout and "adapter" in result.stdout
    return run_dir


def _fresh_base():
    """The tiny-bert classifier exactly as the run started from it (built-in aliases are seeded)."""
    from llmkit.config import ModelSection
    from llmkit.models import load_config, load_model, load_tokenizer

    section = ModelSection(name_or_path="tiny-bert")
    config = load_config(section, load_tokenizer(section), num_labels=5)
    return load_model(section, "AutoModelForSequenceClassification", config)


def test_run_directory_holds_a_small_adapter_and_what_reloads_it(lora_run):
    for name in ("adapter_config.json", "adapter_model.safetensors", "config.json", "tokenizer.json", "recipe.yaml"):
        assert (lora_run / name).is_file(), name
    assert not (lora_run / "model.safetensors").exists()
    adapter = json.loads((lora_run / "metrics.json").read_text())["data"]["adapter"]
    assert adapter["adapter_bytes"] == (lora_run / "adapter_model.safetensors").stat().st_size
    assert adapter["adapter_bytes"] < adapter["full_model_bytes"] / 20
    assert 0 < adapter["trainable_params"] < adapter["total_params"] / 20
    config = json.loads((lora_run / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "tiny-bert"
    assert sorted(config["target_modules"]) == ["query", "value"] and "classifier" in config["modules_to_save"]


def test_only_adapter_and_head_weights_change(lora_run):
    saved = load_file(lora_run / "adapter_model.safetensors")
    assert saved and all("lora_" in k or "classifier" in k for k in saved)
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in saved.items())  # B starts at zero
    base = _fresh_base()
    from llmkit.config import ModelSection
    from llmkit.models import load_config, load_model

    section = ModelSection(name_or_path=str(lora_run))
    reloaded = load_model(section, "AutoModelForSequenceClassification", load_config(section))
    base_state = base.state_dict()
    merged_state = reloaded.get_base_model().state_dict()
    head_changed = False
    for key, value in merged_state.items():
        if "lora_" in key:
            continue
        plain = key.replace(".base_layer", "").replace(".original_module", "")
        if ".modules_to_save." in key:
            plain = key.replace(".modules_to_save.default", "")
            head_changed |= not torch.equal(value, base_state[plain])
            continue
        assert torch.equal(value, base_state[plain]), f"{key} changed"
    assert head_changed


def test_eval_and_generate_accept_the_lora_run(cli, lora_run):
    result = cli("eval", lora_run, "--json")
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)
    trained = json.loads((lora_run / "metrics.json").read_text())["test"]
    assert metrics["accuracy"] == pytest.approx(trained["accuracy"]) and metrics["loss"] == pytest.approx(
        trained["loss"], rel=1e-5
    )
    shown = cli("generate", "--model", lora_run, "--prompt", "a small furry animal", "--json")
    assert shown.exit_code == 0, shown.stderr
    row = json.loads(shown.stdout.splitlines()[0])
    assert row["label"] in row["scores"] and sum(row["scores"].values()) == pytest.approx(1.0, abs=1e-4)


def test_export_merge_loads_with_plain_transformers_and_gives_the_same_outputs(cli, lora_run, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    merged_dir, adapter_dir = tmp_path / "merged", tmp_path / "adapter"
    assert cli("export", lora_run, merged_dir, "--merge").exit_code == 0
    assert cli("export", lora_run, adapter_dir).exit_code == 0
    assert (merged_dir / "model.safetensors").is_file() and not (merged_dir / "adapter_config.json").exists()
    assert (adapter_dir / "adapter_model.safetensors").is_file() and not (adapter_dir / "model.safetensors").exists()
    again = cli("export", lora_run, merged_dir, "--merge")
    assert again.exit_code == 2 and "not an empty directory" in again.stderr

    plain = AutoModelForSequenceClassification.from_pretrained(merged_dir).eval()
    assert plain.config.id2label[0] == "animal"
    from llmkit.train import load_for_inference

    with_adapter = load_for_inference(str(lora_run)).model
    tokenizer = AutoTokenizer.from_pretrained(merged_dir)
    batch = tokenizer(["a small furry animal", "a sweet baked dessert"], return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = with_adapter(**batch).logits
        got = plain(**batch).logits
    assert torch.allclose(got, expected, atol=1e-5)
    assert (expected - _fresh_base().eval()(**batch).logits).abs().max() > 1e-3  # the adapter did something


def test_merge_of_a_run_without_adapter_is_refused(cli, textcls_run, tmp_path):
    result = cli("export", textcls_run, tmp_path / "out", "--merge")
    assert result.exit_code == 2 and "no LoRA adapter" in result.stderr


def test_lora_run_resumes_exactly(cli, tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    assert cli("finetune", FIXTURE, *LORA, *STEPS, "--output-dir", reference).exit_code == 0
    stopped_dir = tmp_path / "stopped"
    monkeypatch.setenv("LLMKIT_TEST_FAULTS", "1")
    monkeypatch.setenv("LLMKIT_FAULTS", "signal=TERM@5")
    stopped = cli("finetune", FIXTURE, *LORA, *STEPS, "--output-dir", stopped_dir)
    assert stopped.exit_code == 143, stopped.stderr
    assert (stopped_dir / "checkpoint-5" / "adapter_model.safetensors").is_file()
    monkeypatch.setenv("LLMKIT_FAULTS", "")
    resumed = cli("finetune", FIXTURE, *LORA, *STEPS, "--output-dir", stopped_dir, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming from checkpoint-5" in resumed.stderr

    def history(run_dir: Path) -> list:
        log = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
        return [(e["step"], e["loss"]) for e in log if "loss" in e]

    assert history(stopped_dir) == history(reference) and len(history(reference)) == 10
    a, b = load_file(stopped_dir / "adapter_model.safetensors"), load_file(reference / "adapter_model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_lora_on_gpt2_classification_uses_c_attn_and_saves_the_score_head(cli, tmp_path):
    run_dir = tmp_path / "gpt2"
    result = cli(
        "finetune", FIXTURE, *LORA, "model.name_or_path=tiny-gpt2", "training.num_train_epochs=1", "-o", run_dir
    )
    assert result.exit_code == 0, result.stderr
    config = json.loads((run_dir / "adapter_config.json").read_text())
    assert config["target_modules"] == ["c_attn"] and "score" in config["modules_to_save"]
    saved = load_file(run_dir / "adapter_model.safetensors")
    assert any("score" in k for k in saved) and all("lora_" in k or "score" in k for k in saved)
    assert cli("eval", run_dir, "--json").exit_code == 0


def test_lora_on_causal_lm_pretraining_changes_only_c_attn_and_merges(cli, tmp_path):
    clm = fixture_recipe("clm")
    run_dir = tmp_path / "clm-lora"
    args = ["model.config=null", "model.name_or_path=tiny-gpt2", "tokenizer.train=null", "peft.r=4"]
    args += ["training.max_steps=4", "training.eval_strategy=no", "training.learning_rate=5e-2"]
    result = cli("pretrain", clm, *args, "-o", run_dir)
    assert result.exit_code == 0, result.stderr
    config = json.loads((run_dir / "adapter_config.json").read_text())
    assert config["target_modules"] == ["c_attn"] and not config.get("modules_to_save")  # no LM head copy
    merged = tmp_path / "merged"
    assert cli("export", run_dir, merged, "--merge").exit_code == 0
    from llmkit.config import ModelSection
    from llmkit.models import load_config, load_model, load_tokenizer

    section = ModelSection(name_or_path="tiny-gpt2")
    base = load_model(section, "AutoModelForCausalLM", load_config(section, load_tokenizer(section))).state_dict()
    weights = load_file(merged / "model.safetensors")
    changed = {k for k in weights if k in base and not torch.equal(weights[k], base[k])}
    assert changed and all(".attn.c_attn." in k for k in changed)
    prompt = ("--prompt", "a small animal", "--greedy", "--max-new-tokens", "8", "--json")
    adapter_out = cli("generate", "--model", run_dir, *prompt)
    merged_out = cli("generate", "--model", merged, "--task", "clm", *prompt)
    assert adapter_out.exit_code == 0 and merged_out.exit_code == 0, adapter_out.stderr + merged_out.stderr
    assert json.loads(adapter_out.stdout)["prediction"] == json.loads(merged_out.stdout)["prediction"]
