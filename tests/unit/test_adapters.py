"""LoRA settings: the recipe's peft section, default targets per architecture, which head stays trainable."""

from pathlib import Path

import pytest

from llmkit.errors import ConfigError
from llmkit.models.adapters import default_target_modules, head_modules
from llmkit.recipe import load_recipe

BASE = """\
task: textcls
model:
  name_or_path: tiny-bert
data:
  train_file: train.csv
peft:
  r: 4
"""


def load(tmp_path: Path, text: str, overrides=()):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return load_recipe(path, list(overrides)).recipe


def test_peft_section_has_defaults_and_is_off_without_it(tmp_path):
    recipe = load(tmp_path, BASE)
    assert (recipe.peft.method, recipe.peft.r, recipe.peft.alpha, recipe.peft.bias) == ("lora", 4, 16, "none")
    assert recipe.peft.target_modules is None and recipe.peft.modules_to_save is None
    assert load(tmp_path, BASE.replace("peft:\n  r: 4\n", "")).peft is None
    assert load(tmp_path, BASE, ["peft.target_modules=[query,key]"]).peft.target_modules == ["query", "key"]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("peft.rank=4", "r.yaml:8: peft.rank: unknown key (allowed: method, r, alpha"),
        ("peft.method=ia3", "peft.method: Input should be 'lora'"),
        ("peft.alpha=0", "peft.alpha: Input should be greater than 0"),
        ("peft.dropout=1.5", "peft.dropout: Input should be less than 1"),
        ("peft.bias=some", "peft.bias: Input should be 'none', 'all' or 'lora_only'"),
    ],
)
def test_bad_peft_values_name_the_key(tmp_path, override, expected):
    key, _, value = override.partition("=")
    text = BASE + f"  {key.split('.')[1]}: {value}\n"
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert expected in str(info.value)


def test_default_targets_per_architecture():
    assert default_target_modules("bert") == ["query", "value"]
    assert default_target_modules("gpt2") == ["c_attn"]
    assert default_target_modules("t5") == ["q", "v"]
    assert default_target_modules("llama") == ["q_proj", "v_proj"]  # PEFT's own table
    assert default_target_modules("no-such-architecture") is None


def _build(auto_class: str, model_type: str, **sizes):
    import transformers

    config = transformers.AutoConfig.for_model(model_type, **sizes)
    return getattr(transformers, auto_class).from_config(config)


BERT = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32, "vocab_size": 50}
GPT2 = {"n_embd": 16, "n_layer": 1, "n_head": 2, "vocab_size": 50}


@pytest.mark.parametrize(
    ("auto_class", "model_type", "sizes", "expected"),
    [
        ("AutoModelForSequenceClassification", "bert", BERT, ["classifier"]),
        ("AutoModelForQuestionAnswering", "bert", BERT, ["qa_outputs"]),
        ("AutoModelForTokenClassification", "bert", BERT, ["classifier"]),
        ("AutoModelForSequenceClassification", "gpt2", GPT2, ["score"]),
        ("AutoModelForMaskedLM", "bert", BERT, []),  # the LM head is the (tied) output embedding
        ("AutoModelForCausalLM", "gpt2", GPT2, []),
        (
            "AutoModelForSeq2SeqLM",
            "t5",
            {"d_model": 16, "d_ff": 32, "num_layers": 1, "num_heads": 2, "d_kv": 8, "vocab_size": 50},
            [],
        ),
    ],
)
def test_head_modules_are_the_task_head_and_never_the_lm_head(auto_class, model_type, sizes, expected):
    assert head_modules(_build(auto_class, model_type, **sizes)) == expected
