"""Files and folders the user names: written whole or not at all, replaced only when asked (issue #18)."""

import json

import pytest

from llmkit.errors import ModelError

GPT2 = ("--model", "tiny-gpt2", "--task", "clm", "--greedy", "--max-new-tokens", "3")


def test_generate_output_is_created_refused_then_replaced(cli, tmp_path):
    out = tmp_path / "new" / "folder" / "out.jsonl"
    first = cli("generate", *GPT2, "--prompt", "a cat", "--output", out)
    assert first.exit_code == 0, first.stderr
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == ["a cat"]
    again = cli("generate", *GPT2, "--prompt", "an owl", "--output", out)
    assert again.exit_code == 2 and "exists; pass --overwrite" in again.stderr
    assert json.loads(out.read_text())["text"] == "a cat"
    replaced = cli("generate", *GPT2, "--prompt", "an owl", "--output", out, "--overwrite")
    assert replaced.exit_code == 0, replaced.stderr
    assert json.loads(out.read_text())["text"] == "an owl"
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.jsonl"]  # no temp file left beside it


def test_eval_predictions_overwrite(cli, textcls_run, tmp_path):
    out = tmp_path / "preds.jsonl"
    out.write_text("mine\n")
    refused = cli("eval", textcls_run, "--predictions", out, "--json")
    assert refused.exit_code == 2 and "--predictions" in refused.stderr and out.read_text() == "mine\n"
    written = cli("eval", textcls_run, "--predictions", out, "--overwrite", "--json")
    assert written.exit_code == 0, written.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {"id", "prediction", "reference"} <= set(rows[0])
    inside = cli("eval", textcls_run, "--predictions", textcls_run / "metrics.json", "--overwrite")
    assert inside.exit_code == 2 and "would replace 'metrics.json'" in inside.stderr


def test_export_overwrite_replaces_only_an_earlier_export(cli, textcls_run, tmp_path, monkeypatch):
    out = tmp_path / "export"
    assert cli("export", textcls_run, out).exit_code == 0
    manifest = json.loads((out / "llmkit-export.json").read_text())
    assert "model.safetensors" in manifest["files"] and manifest["format"] == "hf"
    (out / "README.md").write_text("edited card")
    refused = cli("export", textcls_run, out)
    assert refused.exit_code == 2 and "earlier llmkit export; pass --overwrite" in refused.stderr
    assert cli("export", textcls_run, out, "--overwrite").exit_code == 0
    assert (out / "README.md").read_text() != "edited card"

    def fails_halfway(model, loaded, out_dir, adapter):
        (out_dir / "model.safetensors").write_bytes(b"half")
        raise ModelError("simulated failure while writing the weights")

    monkeypatch.setattr("llmkit.export.write._export_hf", fails_halfway)  # where export() looks it up
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    failed = cli("export", textcls_run, out, "--overwrite")
    assert failed.exit_code == 4 and "simulated failure" in failed.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the earlier export is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # and no staging folder is left


@pytest.mark.parametrize("flag", ["--overwrite", "--force"])
def test_recipes_copy_overwrite_and_force(cli, tmp_path, flag):
    target = tmp_path / "my.yaml"
    target.write_text("mine")
    assert cli("recipes", "copy", "textcls", target).exit_code == 2 and target.read_text() == "mine"
    assert cli("recipes", "copy", "textcls", target, flag).exit_code == 0
    assert target.read_text().startswith("#") and "task: textcls" in target.read_text()
