"""wandb / MLflow runs carry llmkit's run name and the redacted recipe (fake modules: neither is installed)."""

from __future__ import annotations

import sys
import types
from types import SimpleNamespace

import pytest
from paths import fixture_recipe

from llmkit.config import REDACTED, recipe_to_dict
from llmkit.recipe import load_recipe
from llmkit.train.arguments import build_training_args
from llmkit.train.tracking import RecipeConfig, flatten

MAIN = SimpleNamespace(is_world_process_zero=True)


@pytest.fixture(scope="module")
def recipe():
    return load_recipe(fixture_recipe("textcls"), ["training.hub_token=hf_secret", "peft.r=4"]).recipe


def test_the_run_name_defaults_to_the_run_directory_name(recipe, tmp_path):
    assert build_training_args(recipe, tmp_path / "textcls-lr3e-5").run_name == "textcls-lr3e-5"
    named = load_recipe(fixture_recipe("textcls"), ["training.run_name=baseline"]).recipe
    assert build_training_args(named, tmp_path / "textcls-lr3e-5").run_name == "baseline"


def fake_wandb(monkeypatch, run):
    module = types.ModuleType("wandb")
    module.run = run
    module.updates = []
    module.config = SimpleNamespace(update=lambda values, allow_val_change=False: module.updates.append(values))
    monkeypatch.setitem(sys.modules, "wandb", module)
    return module


def test_wandb_config_gets_the_redacted_recipe(recipe, monkeypatch):
    wandb = fake_wandb(monkeypatch, run=object())
    RecipeConfig(recipe_to_dict(recipe)).on_train_begin(SimpleNamespace(report_to=["wandb"]), MAIN, None)
    [update] = wandb.updates
    sent = update["llmkit"]
    assert sent["task"] == "textcls" and sent["data"]["max_seq_length"] == 32 and sent["peft"]["r"] == 4
    assert sent["training"]["hub_token"] == REDACTED and "hf_secret" not in repr(update)


def test_nothing_is_sent_without_a_run_on_other_ranks_or_when_not_reported(recipe, monkeypatch):
    wandb = fake_wandb(monkeypatch, run=None)
    callback = RecipeConfig(recipe_to_dict(recipe))
    callback.on_train_begin(SimpleNamespace(report_to=["wandb"]), MAIN, None)  # no wandb run started
    wandb.run = object()
    callback.on_train_begin(SimpleNamespace(report_to=["wandb"]), SimpleNamespace(is_world_process_zero=False), None)
    callback.on_train_begin(SimpleNamespace(report_to=["tensorboard"]), MAIN, None)
    assert wandb.updates == []


def test_mlflow_gets_the_recipe_as_flat_params_in_batches(recipe, monkeypatch):
    module = types.ModuleType("mlflow")
    module.batches = []
    module.active_run = lambda: object()
    module.log_params = module.batches.append
    monkeypatch.setitem(sys.modules, "mlflow", module)
    RecipeConfig(recipe_to_dict(recipe)).on_train_begin(SimpleNamespace(report_to=["mlflow", "wandb"]), MAIN, None)
    assert module.batches and all(len(batch) <= 100 for batch in module.batches)
    params = {k: v for batch in module.batches for k, v in batch.items()}
    assert params["llmkit.task"] == "textcls" and params["llmkit.data.max_seq_length"] == "32"
    assert params["llmkit.training.hub_token"] == REDACTED
    assert all(isinstance(v, str) for v in params.values())


def test_flatten_keeps_lists_as_one_value():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": None}) == {
        "llmkit.a.b": 1,
        "llmkit.a.c": "[1, 2]",
        "llmkit.d": None,
    }
