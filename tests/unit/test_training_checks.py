"""Training values checked at load time the way TrainingArguments, Trainer and torch would check them later."""

from pathlib import Path

import pytest

from llmkit.config.training_checks import training_problems
from llmkit.config.training_needs import installed
from llmkit.errors import ConfigError
from llmkit.recipe import load_recipe

BASE = """\
task: textcls
model:
  name_or_path: tiny-bert
data:
  train_file: train.csv
  validation_file: validation.csv
training:
  learning_rate: 1e-3
"""


def problems(**training) -> list[str]:
    return [message for _, message in training_problems(training, has_validation=True, early_stopping=False)]


def one(**training) -> str:
    found = problems(**training)
    assert len(found) == 1, found
    return found[0]


def recipe_errors(tmp_path: Path, text: str, overrides=()) -> list[str]:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_recipe(path, list(overrides))
    return info.value.problems


def test_llmkit_defaults_and_transformers_defaults_pass():
    assert problems() == []
    assert problems(eval_strategy="epoch", save_strategy="epoch", logging_steps=10, report_to="none") == []


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("learning_rate", -1e-3, "must be >= 0, got -0.001"),
        ("per_device_train_batch_size", 0, "must be >= 1, got 0"),
        ("per_device_eval_batch_size", -2, "must be >= 1, got -2"),
        ("gradient_accumulation_steps", 0, "must be >= 1, got 0"),
        ("num_train_epochs", -1, "must be >= 0, got -1"),
        ("warmup_steps", -5, "must be >= 0"),
        ("weight_decay", -0.01, "must be >= 0"),
        ("adam_beta1", 1.0, "must be in [0, 1), got 1.0"),
        ("adam_beta2", -0.1, "must be in [0, 1)"),
        ("adam_epsilon", 0, "must be > 0, got 0"),
        ("max_grad_norm", -1.0, "0 turns gradient clipping off"),
        ("label_smoothing_factor", 1.0, "must be in [0, 1)"),
        ("save_total_limit", -1, "null or 0 keeps every checkpoint"),
        ("seed", -1, "must be in [0, 4294967295]"),
        ("dataloader_num_workers", -1, "must be >= 0"),
        ("torch_empty_cache_steps", 0, "must be >= 1"),
    ],
)
def test_out_of_range_values_name_the_bound_and_the_value(field, value, expected):
    message = one(**{field: value})
    assert message.startswith(f"training.{field}: ") and expected in message


def test_bounds_themselves_are_accepted():
    assert problems(learning_rate=0, adam_beta1=0, warmup_steps=0, max_grad_norm=0, save_total_limit=0, seed=0) == []


def test_runs_that_would_train_nothing_are_refused():
    assert "0 trains nothing" in one(max_steps=0)
    assert "got -5" in one(max_steps=-5)
    assert "0 epochs without training.max_steps" in one(num_train_epochs=0)
    assert problems(num_train_epochs=0, max_steps=10) == []


def test_null_for_a_field_that_needs_a_value():
    message = one(max_grad_norm=None)
    assert message.startswith("training.max_grad_norm: null is not a value here") and "default 1.0" in message
    assert problems(save_total_limit=None, optim=None, eval_steps=None) == []  # these take null


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("lr_scheduler_type", "cosin", "did you mean 'cosine'?"),
        ("optim", "adamw", "did you mean 'adamw_torch'?"),
        ("eval_strategy", "epochs", "did you mean 'epoch'?"),
        ("save_strategy", "bestt", "did you mean 'best'?"),
        ("hub_strategy", "every", "did you mean 'every_save'?"),
        ("debug", "underflow", "did you mean 'underflow_overflow'?"),
        ("fsdp", "full_shrad", "did you mean 'full_shard'?"),
        ("log_level", "verbose", "one of: detail, debug, info, warning, error, critical, passive"),
        ("report_to", "wandbb", "did you mean 'wandb'?"),
    ],
)
def test_unknown_names_come_with_the_real_choices(field, value, hint):
    message = one(**{field: value})
    assert message.startswith(f"training.{field}: unknown value '{value}'") and hint in message


def test_step_intervals_of_steps_strategies():
    assert "needs logging_steps > 0" in one(logging_steps=0)
    assert "whole number of steps" in one(eval_strategy="steps", eval_steps=2.5)
    assert "needs save_steps > 0" in one(save_strategy="steps", save_steps=-1)
    assert "needs eval_steps (or logging_steps) > 0" in one(
        eval_strategy="steps", logging_strategy="no", logging_steps=0
    )
    assert problems(eval_strategy="steps", eval_steps=0.25) == []  # a fraction of the run
    assert problems(save_strategy="epoch", save_steps=0) == []  # unused without "steps"


def test_load_best_model_needs_matching_strategies_and_multiple_steps():
    mismatch = one(load_best_model_at_end=True, eval_strategy="epoch", save_strategy="steps")
    assert "eval_strategy 'epoch' and save_strategy 'steps'" in mismatch
    steps = {"load_best_model_at_end": True, "eval_strategy": "steps", "save_strategy": "steps", "eval_steps": 3}
    assert "5 must be a multiple of the evaluation steps (3)" in one(**steps, save_steps=5)
    assert problems(**steps, save_steps=6) == []
    assert problems(load_best_model_at_end=True, eval_strategy="epoch", save_strategy="best") == []


def test_evaluation_rules_for_schedulers_best_saves_and_early_stopping():
    assert "steps on evaluation results" in one(lr_scheduler_type="reduce_lr_on_plateau", eval_strategy="no")
    assert any("eval_strategy is 'no'" in m for m in problems(save_strategy="best", eval_strategy="no"))
    found = training_problems({"eval_strategy": "steps"}, has_validation=False, early_stopping=False)
    assert found and "needs validation data" in found[0][1]
    stop = training_problems({"eval_strategy": "epoch"}, has_validation=True, early_stopping=True)
    assert stop[0][0] == ("eval", "early_stopping_patience") and "metric_for_best_model" in stop[0][1]
    fine = {"eval_strategy": "epoch", "metric_for_best_model": "loss"}
    assert training_problems(fine, has_validation=True, early_stopping=True) == []


def test_scheduler_arguments_that_get_scheduler_requires():
    assert "exactly one of min_lr and min_lr_rate" in one(lr_scheduler_type="cosine_with_min_lr")
    assert problems(lr_scheduler_type="cosine_with_min_lr", lr_scheduler_kwargs={"min_lr_rate": 0.1}) == []
    assert "num_decay_steps" in one(lr_scheduler_type="warmup_stable_decay")
    assert "must be below training.learning_rate" in one(lr_scheduler_type="polynomial", learning_rate=1e-8)


def test_settings_that_exclude_each_other():
    assert "choose one precision" in one(bf16=True, fp16=True)
    assert "dataloader_num_workers > 0" in one(dataloader_prefetch_factor=2)
    assert "dataloader_num_workers > 0" in one(dataloader_persistent_workers=True)
    assert problems(dataloader_num_workers=2, dataloader_prefetch_factor=2) == []


def test_report_to_names_and_packages():
    assert problems(report_to="none") == [] and problems(report_to="all") == []
    assert "stands alone" in one(report_to=["none", "tensorboard"])
    missing = next(name for name in ("swanlab", "dvclive", "clearml", "trackio") if not installed(name))
    message = one(report_to=[missing])
    assert f"'{missing}' needs the package {missing}" in message and f"pip install {missing}" in message


def test_wandb_and_mlflow_point_to_the_llmkit_extras():
    absent = [name for name in ("wandb", "mlflow") if not installed(name)]
    for name in absent:
        assert f"pip install 'llmkit[{name}]'" in one(report_to=[name])


def test_optimizers_that_need_a_package():
    if installed("bitsandbytes"):
        pytest.skip("bitsandbytes is installed")
    assert "needs the package bitsandbytes" in one(optim="adamw_bnb_8bit")
    assert problems(optim="adamw_torch") == []


def test_json_config_files(tmp_path):
    good, bad = tmp_path / "ds.json", tmp_path / "bad.json"
    good.write_text('{"zero_optimization": {"stage": 2}}')
    bad.write_text("{stage: 2")
    assert problems(fsdp_config=str(good)) == []
    assert "file not found" in one(accelerator_config=str(tmp_path / "missing.json"))
    assert "not a JSON file" in one(fsdp_config=str(bad))
    assert "inline JSON does not parse" in one(fsdp_config="{stage: 2")


def test_keys_the_schema_already_reported_are_skipped():
    found = training_problems({"max_steps": 0}, has_validation=True, early_stopping=False, skip={"max_steps"})
    assert found == []


def test_recipe_load_reports_every_problem_with_file_line_and_key(tmp_path):
    text = BASE + "  max_steps: 0\n  adam_beta2: 1.5\n  lr_scheduler_type: cosin\n  learning_rate_x: 1\n"
    found = recipe_errors(tmp_path, text, ["training.per_device_train_batch_size=0"])
    assert len(found) == 5, found
    assert any(line.startswith(f"{tmp_path / 'r.yaml'}:9: training.max_steps: 0 trains nothing") for line in found)
    assert any(line.startswith(f"{tmp_path / 'r.yaml'}:11: training.lr_scheduler_type: unknown") for line in found)
    assert any(line.startswith("command line: training.per_device_train_batch_size") for line in found)


def test_a_wrong_type_is_reported_once(tmp_path):
    found = recipe_errors(tmp_path, BASE + "  max_steps: many\n")
    assert len(found) == 1 and "training.max_steps" in found[0] and "'many'" in found[0]


def test_a_value_llmkit_derives_from_a_wrong_one_is_not_reported_again(tmp_path):
    found = recipe_errors(tmp_path, BASE + "  eval_strategy: epochs\n")
    assert len(found) == 1 and "training.eval_strategy" in found[0]  # save_strategy copies it: one line only


def test_removed_transformers_4_keys_say_what_replaced_them(tmp_path):
    found = recipe_errors(tmp_path, BASE + "  warmup_ratio: 0.1\n  evaluation_strategy: steps\n")
    assert any(
        "training.warmup_ratio: unknown key: transformers 5 takes the ratio as training.warmup_steps" in m
        for m in found
    )
    assert any("training.evaluation_strategy: unknown key: renamed training.eval_strategy" in m for m in found)


def test_a_finished_runs_recipe_is_read_without_the_training_machines_packages(tmp_path):
    missing = next(name for name in ("wandb", "mlflow", "swanlab", "dvclive") if not installed(name))
    saved = tmp_path / "recipe.yaml"
    saved.write_text(BASE + f"  report_to: [{missing}]\n")
    with pytest.raises(ConfigError, match="needs the package"):
        load_recipe(saved)  # a recipe file: training would need it
    (tmp_path / "run.json").write_text("{}")
    assert load_recipe(saved).recipe.training.report_to == [missing]  # eval / generate of the run
    with pytest.raises(ConfigError, match="needs the package"):
        load_recipe(saved, command="finetune")  # --from-run trains again
