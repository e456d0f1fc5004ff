"""Mixed precision refusals, DeepSpeed/FSDP pass-through, gradient accumulation and checkpointing."""

import json
from pathlib import Path

from paths import fixture_recipe
from safetensors.torch import load_file

from llmkit.train import hardware

FIXTURE = fixture_recipe("textcls")
# Dropout off and no evaluation: two ways of computing the same 5 optimizer steps must agree.
SAME = [
    "model.config_overrides.hidden_dropout_prob=0.0",
    "model.config_overrides.attention_probs_dropout_prob=0.0",
    "training.num_train_epochs=1",
    "training.logging_steps=1",
    "training.eval_strategy=no",
    "training.save_strategy=no",
    "data.validation_file=null",
    "data.test_file=null",
]


def losses(run_dir: Path) -> list[float]:
    history = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
    return [e["loss"] for e in history if "loss" in e]


def max_weight_diff(a: Path, b: Path) -> float:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    return max(float((wa[k] - wb[k]).abs().max()) for k in wa)


def test_accumulation_and_checkpointing_compute_the_same_steps(cli, tmp_path):
    plain, accumulated, checkpointed = tmp_path / "plain", tmp_path / "accumulated", tmp_path / "checkpointed"
    assert cli("finetune", FIXTURE, *SAME, "training.per_device_train_batch_size=16", "-o", plain).exit_code == 0
    result = cli(
        "finetune",
        FIXTURE,
        *SAME,
        "training.per_device_train_batch_size=8",
        "training.gradient_accumulation_steps=2",
        "-o",
        accumulated,
    )
    assert result.exit_code == 0, result.stderr
    result = cli(
        "finetune",
        FIXTURE,
        *SAME,
        "training.per_device_train_batch_size=16",
        "training.gradient_checkpointing=true",
        "-o",
        checkpointed,
    )
    assert result.exit_code == 0, result.stderr
    assert len(losses(plain)) == 5
    for other in (accumulated, checkpointed):
        for a, b in zip(losses(other), losses(plain), strict=True):
            assert abs(a - b) <= 1e-5 * abs(b)  # a doubled loss (Trainer's item-count scaling) fails here
        assert max_weight_diff(other, plain) < 1e-5


def test_lora_with_gradient_checkpointing_trains_the_adapter(cli, tmp_path):
    run_dir = tmp_path / "lora-gc"
    result = cli("finetune", FIXTURE, *SAME, "peft.r=4", "training.gradient_checkpointing=true", "-o", run_dir)
    assert result.exit_code == 0, result.stderr
    saved = load_file(run_dir / "adapter_model.safetensors")
    assert any("lora_B" in k and float(v.abs().sum()) > 0 for k, v in saved.items())


def test_mixed_precision_this_cpu_cannot_run_is_refused_with_exit_2(cli, tmp_path, monkeypatch):
    no_bf16 = hardware.Machine(accelerator=None, cpu_capability="AVX2", cpu_bf16=False)
    monkeypatch.setattr(hardware, "detect", lambda: no_bf16)
    result = cli("finetune", FIXTURE, "training.bf16=true", "-o", tmp_path / "bf16")
    assert result.exit_code == 2 and "training.bf16: this CPU (AVX2) has no native bfloat16" in result.stderr
    result = cli("finetune", FIXTURE, "training.fp16=true", "-o", tmp_path / "fp16")
    assert result.exit_code == 2 and "training.fp16: float16 mixed precision needs a GPU" in result.stderr


def test_deepspeed_and_fsdp_settings_reach_the_recipe(cli, tmp_path):
    config = tmp_path / "zero2.json"
    config.write_text('{"zero_optimization": {"stage": 2}}')
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        FIXTURE.read_text().replace("textcls/", f"{FIXTURE.parent}/textcls/")
        + "  deepspeed: zero2.json\n"
        + "  fsdp: true\n  fsdp_config: {version: 2, reshard_after_forward: true}\n"
    )
    shown = cli("finetune", recipe, "--dry-run")
    assert shown.exit_code == 0, shown.stderr
    assert f"deepspeed: {config}" in shown.stdout and "fsdp: true" in shown.stdout and "version: 2" in shown.stdout
    inline = cli("finetune", FIXTURE, "training.deepspeed={zero_optimization: {stage: 2}}", "--dry-run")
    assert inline.exit_code == 0 and "stage: 2" in inline.stdout
    if __import__("importlib").util.find_spec("deepspeed") is None:
        run = cli("finetune", FIXTURE, "training.deepspeed=" + str(config), "-o", tmp_path / "ds")
        assert run.exit_code == 2 and "training.deepspeed: needs the deepspeed package" in run.stderr
