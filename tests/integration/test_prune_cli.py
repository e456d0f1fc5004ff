"""`llmkit prune` on the tiny-bert classifier: exact sparsity, heads really removed, a run-like OUT that
`llmkit eval` and `export` take, recovery through the runner, and refusals (exit 2)."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from llmkit.models.pruning import pruned_heads_of
from llmkit.prune.magnitude import prunable_linears


@pytest.fixture(scope="module")
def heads_out(cli, textcls_run, tmp_path_factory):
    """Half the heads and a quarter of the FFN neurons removed, then 2 recovery steps."""
    out = tmp_path_factory.mktemp("prune") / "heads"
    result = cli(
        "prune", textcls_run, out, "--method", "heads", "--amount", "0.5", "--ffn-amount", "0.25",
        "--finetune-steps", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    return out


def test_magnitude_sparsity_survives_recovery_and_loads_with_plain_from_pretrained(cli, textcls_run, tmp_path):
    out = tmp_path / "sparse"
    # With recovery steps: the training run must not regrow the zeroed weights.
    result = cli(
        "prune", textcls_run, out, "--method", "magnitude", "--sparsity", "0.5", "--scope", "layer",
        "--finetune-steps", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert "Zeros in the pruned linear weights: 50.0%" in result.stdout
    model = AutoModelForSequenceClassification.from_pretrained(out)
    for module in prunable_linears(model):
        assert int((module.weight == 0).sum()) == round(0.5 * module.weight.numel())
    report = json.loads((out / "prune.json").read_text())
    assert report["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert report["after"]["parameters"] == report["before"]["parameters"]  # dense: nothing removed
    assert report["after"]["nonzero_parameters"] < report["before"]["nonzero_parameters"]
    assert {"parameters", "file_bytes", "latency_ms", "metric"} <= set(report["after"])


def test_head_pruning_removes_parameters_and_the_output_is_a_run_llmkit_evaluates(cli, heads_out, textcls_run):
    report = json.loads((heads_out / "prune.json").read_text())
    assert report["before"]["attention_heads"] == 4 and report["after"]["attention_heads"] == 2
    assert report["after"]["parameters"] < report["before"]["parameters"]
    assert report["after"]["file_bytes"] < report["before"]["file_bytes"]
    assert report["after"]["intermediate_size"] == 96 and report["finetune_steps"] == 2
    config = json.loads((heads_out / "config.json").read_text())
    assert sum(len(v) for v in config["pruned_heads"].values()) == 2
    # The recovery was an ordinary llmkit run: its records are there, and the weights it saved are the pruned ones.
    assert json.loads((heads_out / "run.json").read_text())["status"] == "finished"
    assert "validation" in json.loads((heads_out / "metrics.json").read_text())
    result = cli("eval", heads_out, "--split", "validation", "--json")
    assert result.exit_code == 0, result.stdout + result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["accuracy"] == pytest.approx(report["after"]["metrics"]["accuracy"])
    # transformers 5 builds every BERT layer alike: without the code that travels with the model, plain
    # from_pretrained refuses the sliced weights loudly; with it, it loads the model llmkit evaluates.
    with pytest.raises(RuntimeError, match="mismatch"):
        AutoModelForSequenceClassification.from_pretrained(heads_out, trust_remote_code=False)
    assert_plain_load_matches_llmkit(heads_out)


def assert_plain_load_matches_llmkit(folder):
    """transformers alone (trust_remote_code, the copied loading code) gives llmkit's logits."""
    from llmkit.train import load_for_inference

    config = json.loads((folder / "config.json").read_text())
    assert config["auto_map"] == {
        "AutoModelForSequenceClassification": "llmkit_pruned_heads.PrunedBertForSequenceClassification"
    }
    assert "llmkit" not in (folder / "llmkit_pruned_heads.py").read_text().split('"""', 2)[2].split("class Pruned")[0]
    plain = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
    ours = load_for_inference(str(folder), device="cpu")
    ids = ours.tokenizer(["a small cat", "the dog barked twice"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(plain(**ids).logits, ours.model(**ids).logits)
    heads = [block.attention.self.num_attention_heads for block in plain.bert.encoder.layer]
    removed = sum(len(v) for v in config["pruned_heads"].values())
    assert removed > 0 and sum(heads) == config["num_attention_heads"] * len(heads) - removed


def test_a_head_pruned_model_without_recovery_and_its_hf_export_load_with_transformers_alone(
    cli, textcls_run, tmp_path
):
    out = tmp_path / "heads"
    assert cli("prune", textcls_run, out, "--method", "heads", "--amount", "0.25").exit_code == 0
    assert_plain_load_matches_llmkit(out)
    # layers now differ in their head count (2 and 1): explain's page draws each layer's own heads
    page = tmp_path / "page.html"
    explained = cli("explain", "--model", out, "--prompt", "a small cat", "--method", "attention", "--output", page)
    assert explained.exit_code == 0, explained.output
    assert page.read_text().count("<figcaption>") == 3
    exported = tmp_path / "hf"
    result = cli("export", out, exported, "--format", "hf")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert_plain_load_matches_llmkit(exported)


def test_a_head_pruned_run_exports_to_onnx_and_int8(cli, heads_out, tmp_path):
    from llmkit.train import load_for_inference

    result = cli("export", heads_out, tmp_path / "onnx", "--format", "onnx", "--quantize", "dynamic-int8")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (tmp_path / "onnx" / "model.int8.onnx").is_file()
    loaded = load_for_inference(str(heads_out), device="cpu")
    assert pruned_heads_of(loaded.model.config) == {int(k): v for k, v in json.loads(
        (heads_out / "config.json").read_text())["pruned_heads"].items()}  # fmt: skip
    assert loaded.model.bert.encoder.layer[0].attention.self.query.weight.shape[0] == 32  # one head of 32 left
    ids = loaded.tokenizer(["a small cat"], return_tensors="pt")
    with torch.no_grad():
        assert loaded.model(**ids).logits.shape[-1] == loaded.model.config.num_labels


def test_prune_refuses_to_replace_what_it_did_not_write_and_needs_overwrite(cli, textcls_run, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = cli("prune", textcls_run, mine, "--sparsity", "0.5")
    assert result.exit_code == 2 and "llmkit did not write" in result.stderr
    assert (mine / "notes.txt").read_text() == "keep me"
    out = tmp_path / "out"
    assert cli("prune", textcls_run, out, "--sparsity", "0.3").exit_code == 0
    again = cli("prune", textcls_run, out, "--sparsity", "0.6")
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert json.loads((out / "prune.json").read_text())["settings"]["sparsity"] == 0.3
    assert cli("prune", textcls_run, out, "--sparsity", "0.6", "--overwrite").exit_code == 0
    assert json.loads((out / "prune.json").read_text())["settings"]["sparsity"] == 0.6


@pytest.mark.parametrize(
    "args",
    [
        ["--sparsity", "1.5"],
        ["--method", "heads", "--amount", "-0.2"],
        ["--method", "heads"],
        ["--method", "heads", "--amount", "0.25", "--sparsity", "0.5"],
        ["--method", "structured", "--amount", "0.25"],
        ["--sparsity", "0.5", "--finetune-steps", "-1"],
    ],
)
def test_bad_amounts_exit_2_before_anything_loads(cli, textcls_run, tmp_path, args):
    result = cli("prune", textcls_run, tmp_path / "out", *args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


def test_the_card_of_a_recovered_head_pruned_run_loads_it_with_transformers_alone(heads_out, monkeypatch):
    import re
    import sys

    card = (heads_out / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", card, re.S).group(1)
    assert "trust_remote_code=True" in code
    monkeypatch.chdir(heads_out)
    monkeypatch.setitem(sys.modules, "llmkit", None)  # only transformers may load it
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    heads = [block.attention.self.num_attention_heads for block in namespace["model"].bert.encoder.layer]
    assert sum(heads) == 2  # half of tiny-bert's 4 heads
