"""dpo: preference rows checked and kept for TRL, the reference model, and the DPOConfig-shaped recipe."""

from __future__ import annotations

import datasets
import pytest

from llmkit.config import ModelSection
from llmkit.errors import ConfigError, DataError
from llmkit.models import load_config, load_model, load_tokenizer
from llmkit.recipe import load_recipe_data
from llmkit.tasks.dpo import prepare, trainer_arguments, trainer_kwargs
from llmkit.tasks.spec import PrepareContext

PAIR = {"prompt": "jug:", "chosen": " a vessel", "rejected": " a dance", "id": 3}


def _recipe(dpo=None, **training):
    raw = {"task": "dpo", "model": {"name_or_path": "tiny-gpt2"}, "data": {"train_file": "x.jsonl"}}
    return load_recipe_data({**raw, "dpo": dpo or {}, "training": training}).recipe


def _prepare(rows, recipe=None, strict=False):
    recipe = recipe or _recipe()
    tokenizer = load_tokenizer(recipe.model)
    raw = {"train": datasets.Dataset.from_list(rows)}
    ctx = PrepareContext(recipe=recipe, raw=raw, tokenizer=tokenizer, model_config=None, training=True, strict=strict)
    return prepare(ctx), tokenizer


def test_rows_keep_the_three_columns_for_trl():
    prepared, _ = _prepare([PAIR, {**PAIR, "chosen": " a jar"}])
    assert prepared.features["train"].column_names == ["prompt", "chosen", "rejected"]
    assert prepared.summary.rows == {"train": 2}


def test_missing_columns_empty_replies_and_untemplated_conversations_are_named():
    with pytest.raises(DataError, match="missing rejected"):
        _prepare([{"prompt": "a", "chosen": "b"}])
    prepared, _ = _prepare([PAIR, {**PAIR, "rejected": ""}, {**PAIR, "chosen": None}, PAIR])
    assert prepared.summary.rows == {"train": 2} and prepared.summary.dropped == {"train": 2}  # left out, counted
    with pytest.raises(DataError, match=r"1 row\(s\) with no 'rejected' reply \(row 2\).*--strict"):
        _prepare([PAIR, {**PAIR, "rejected": ""}], strict=True)
    conversation = {
        "prompt": [{"role": "user", "content": "jug?"}],
        "chosen": [{"role": "assistant", "content": "a vessel"}],
        "rejected": [{"role": "assistant", "content": "a dance"}],
    }
    with pytest.raises(ConfigError, match=r"dpo\.chat_template"):
        _prepare([conversation])
    prepared, tokenizer = _prepare([conversation], _recipe({"chat_template": "chatml"}))
    assert tokenizer.eos_token == "<|im_end|>" and prepared.model_kwargs["eos_token_id"] == tokenizer.eos_token_id


def test_dpo_section_and_dpo_config_fields_reach_trl():
    recipe = _recipe({"beta": 0.3, "loss_type": "ipo"}, label_smoothing=0.1)
    assert trainer_arguments(recipe) == {"beta": 0.3, "loss_type": "ipo", "max_length": 512}
    assert recipe.training.label_smoothing == 0.1
    with pytest.raises(ConfigError, match=r"training.beta: set by llmkit.*use dpo.beta"):
        _recipe(beta=0.2)
    with pytest.raises(ConfigError, match=r"training\.packing"):
        _recipe(packing=True)  # an SFTConfig field, not DPOConfig's


def test_reference_is_a_frozen_copy_of_the_start_or_the_named_model():
    section = ModelSection(name_or_path="tiny-gpt2")
    tokenizer = load_tokenizer(section)
    model = load_model(section, "AutoModelForCausalLM", load_config(section, tokenizer))
    copy = trainer_kwargs(_recipe(), model, tokenizer)["ref_model"]
    assert copy is not model and not any(p.requires_grad for p in copy.parameters()) and not copy.training
    assert all((a == b).all() for a, b in zip(copy.parameters(), model.parameters(), strict=True))
    named = trainer_kwargs(_recipe({"ref_model": "tiny-gpt2"}), model, tokenizer)["ref_model"]
    assert named is not model and not any(p.requires_grad for p in named.parameters())
