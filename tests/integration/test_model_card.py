"""Model cards and adapters that load anywhere: Hub metadata, no local paths, a usage snippet that runs as written."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import torch
from paths import REPO, fixture_recipe

FIXTURE = fixture_recipe("textcls")


def snippet(card: str) -> str:
    """The card's first Python code block."""
    found = re.search(r"```python\n(.*?)```", card, re.S)
    assert found, card
    return found.group(1)


def run_snippet(card: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Execute the card's snippet in ``folder`` with llmkit unimportable: only transformers/PEFT may load it."""
    monkeypatch.chdir(folder)
    monkeypatch.setitem(sys.modules, "llmkit", None)  # `import llmkit` now fails
    namespace: dict = {}
    exec(compile(snippet(card), "README.md", "exec"), namespace)
    return namespace


def test_run_card_has_hub_metadata_no_local_paths_and_a_snippet_that_runs(textcls_run, monkeypatch, capsys):
    from huggingface_hub import ModelCard

    text = (textcls_run / "README.md").read_text()
    card = ModelCard(text)
    metrics = json.loads((textcls_run / "metrics.json").read_text())
    assert card.data.pipeline_tag == "text-classification" and card.data.library_name == "transformers"
    assert card.data.base_model is None  # tiny-bert is built from a config: no hub model to name
    results = {(r.dataset_split, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert results[("test", "accuracy")] == round(metrics["test"]["accuracy"], 4)
    assert ("validation", "f1") in results and not any(name.endswith("runtime") for _, name in results)
    for private in (str(REPO), str(textcls_run), str(Path.home())):
        assert private not in text
    assert "textcls/train.csv" in text  # the data source, cut to its last two parts
    namespace = run_snippet(text, textcls_run, monkeypatch)
    labels = metrics["data"]["labels"]
    assert namespace["model"].config.id2label[0] == labels[0]
    assert "'label': '" in capsys.readouterr().out  # the pipeline line printed a prediction


def test_card_license_comes_from_the_recipe_and_the_base_model_card(tmp_path):
    from huggingface_hub import ModelCard

    from llmkit.models import base_license
    from llmkit.tasks import get_task
    from llmkit.train.card import card_text, read_facts, usage_lines

    assert base_license("minilm-l6") == "apache-2.0"  # from the packaged checkpoint's own card
    assert base_license("tiny-bert") is None
    (tmp_path / "recipe.yaml").write_text(
        "task: textcls\nmodel: {name_or_path: minilm-l6}\ndata: {dataset_name: ag_news}\n"
        "card: {license: mit, tags: [demo]}\n"
    )
    facts = read_facts(tmp_path, get_task("textcls"))
    data = ModelCard(card_text(facts, "transformers", usage_lines(facts))).data
    assert data.license == "mit" and data.datasets == ["ag_news"] and "demo" in data.tags
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    (tmp_path / "recipe.yaml").write_text("task: textcls\nmodel: {name_or_path: minilm-l6}\n")
    assert ModelCard(card_text(read_facts(tmp_path, get_task("textcls")), "transformers", [])).data.license == (
        "apache-2.0"
    )
    (tmp_path / "recipe.yaml").write_text("task: clm\nmodel: {config: {model_type: gpt2, n_layer: 2}}\n")
    text = card_text(read_facts(tmp_path, get_task("clm")), "transformers", [])
    assert ModelCard(text).data.base_model is None and "model_type: gpt2" in text and "from scratch" in text


def test_lora_adapter_names_the_hub_id_behind_an_alias():
    from llmkit.models import base_reference, resolve_source

    assert base_reference("minilm-l6") == "sentence-transformers/all-MiniLM-L6-v2"
    assert base_reference("tiny-bert") == "tiny-bert"  # weights exist nowhere but in llmkit
    # ... and llmkit reloads such an adapter offline from the package that holds those weights
    source = resolve_source("sentence-transformers/all-MiniLM-L6-v2")
    assert source.kind == "local" and (Path(source.path) / "model.safetensors").is_file()


@pytest.fixture(scope="module")
def local_base(tmp_path_factory) -> Path:
    """A tiny BERT encoder saved as a plain local checkpoint (no classification head, no labels)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from llmkit.models import ASSETS

    folder = tmp_path_factory.mktemp("base") / "tiny-encoder"
    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-bert")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128
    )
    BertModel(config).save_pretrained(folder)
    return folder


def test_lora_run_on_a_local_base_loads_with_plain_peft(cli, local_base, tmp_path, monkeypatch, capsys):
    from llmkit.train import load_for_inference

    run = tmp_path / "lora"
    args = ["peft.r=4", f"model.name_or_path={local_base}", "training.num_train_epochs=1", "data.test_file=null"]
    result = cli("finetune", FIXTURE, *args, "--output-dir", run)
    assert result.exit_code == 0, result.stderr
    adapter = json.loads((run / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(local_base.resolve())
    text = (run / "README.md").read_text()
    assert "library_name: peft" in text and "AutoPeftModelForSequenceClassification" in text
    assert str(local_base) not in text and "local checkpoint `tiny-encoder`" in text
    ours = load_for_inference(str(run), device="cpu")
    batch = ours.tokenizer(["a small furry animal"], return_tensors="pt")
    with torch.no_grad():
        expected = ours.model(**batch).logits
    namespace = run_snippet(text, run, monkeypatch)  # plain PEFT + transformers, llmkit unimportable
    with torch.no_grad():
        got = namespace["model"].eval()(**batch).logits
    torch.testing.assert_close(got, expected)
    assert namespace["model"].config.id2label == ours.model.config.id2label
    assert "'label': '" in capsys.readouterr().out


def test_export_card_is_the_run_card_plus_what_export_measured(cli, textcls_run, tmp_path, monkeypatch, capsys):
    from huggingface_hub import ModelCard

    out = tmp_path / "export"
    result = cli("export", textcls_run, out)
    assert result.exit_code == 0, result.stderr
    text = (out / "README.md").read_text()
    assert ModelCard(text).data.eval_results and "Exported by `llmkit export` (hf) from run `textcls`" in text
    assert str(textcls_run) not in text and str(REPO) not in text
    namespace = run_snippet(text, out, monkeypatch)
    assert namespace["model"].config.num_labels == 5 and "'label': '" in capsys.readouterr().out
