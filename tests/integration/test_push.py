"""`llmkit push` up to the upload call: the Hub is unreachable here, so ``HfApi`` is replaced by a recorder.

What is checked is what would be sent: the repository and branch created, the files of the one commit, the
card pointed at the repository, and the token going to ``HfApi`` and nowhere else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import huggingface_hub
import pytest

TOKEN = "hf_llmkitTestTokenThatMustNotLeak"


class RecordingApi:
    """Stands in for ``huggingface_hub.HfApi``: records each call instead of sending it."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def __init__(self, token: str | None = None, **kwargs: Any) -> None:
        RecordingApi.calls.append(("init", {"token": token}))

    def create_repo(self, repo_id: str, **kwargs: Any) -> str:
        RecordingApi.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/{repo_id}"

    def create_branch(self, repo_id: str, **kwargs: Any) -> None:
        RecordingApi.calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

    def create_commit(self, repo_id: str, operations: list[Any], **kwargs: Any) -> Any:
        RecordingApi.calls.append(("create_commit", {"repo_id": repo_id, "operations": operations, **kwargs}))
        return type("Info", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/abc123"})()


@pytest.fixture
def hub(monkeypatch) -> type[RecordingApi]:
    RecordingApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return RecordingApi


def _content(operation: Any) -> bytes:
    source = operation.path_or_fileobj
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def test_push_sends_the_model_files_and_the_card_in_one_commit_and_the_token_only_to_hfapi(cli, textcls_run, hub):
    result = cli("push", textcls_run, "someone/textcls-tiny", "--private", "--revision", "v1")
    assert result.exit_code == 0, result.output
    names = [name for name, _ in hub.calls]
    assert names == ["init", "create_repo", "create_branch", "create_commit"]
    assert hub.calls[0][1]["token"] == TOKEN
    assert hub.calls[1][1]["private"] is True and hub.calls[2][1]["branch"] == "v1"
    commit = hub.calls[3][1]
    assert commit["revision"] == "v1" and commit["repo_id"] == "someone/textcls-tiny"
    sent = {op.path_in_repo: _content(op) for op in commit["operations"]}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= set(sent)
    for local_only in ("run.json", "metrics.json", "training_args.bin", "recipe.yaml", "report.html"):
        assert local_only not in sent
    assert not any(name.startswith("checkpoint-") for name in sent)
    card = sent["README.md"].decode()
    assert 'model_id = "someone/textcls-tiny"' in card and 'model_id = "."' not in card
    assert str(textcls_run) not in card
    assert all(TOKEN.encode() not in content for content in sent.values())
    assert TOKEN not in result.output and "commit/abc123" in result.output
    assert all(TOKEN.encode() not in path.read_bytes() for path in textcls_run.rglob("*") if path.is_file())


def test_push_offline_without_token_or_to_a_bad_repo_id_is_a_one_line_error(cli, textcls_run, hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = cli("push", textcls_run, "someone/model")
    assert offline.exit_code == 2 and "HF_HUB_OFFLINE" in offline.stderr and "Traceback" not in offline.output
    monkeypatch.delenv("HF_HUB_OFFLINE")
    bad = cli("push", textcls_run, "no owner here")
    assert bad.exit_code == 2 and "REPO_ID" in bad.stderr
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    missing = cli("push", textcls_run, "someone/model")
    assert missing.exit_code == 2 and "HF_TOKEN" in missing.stderr
    assert not [name for name, _ in hub.calls if name != "init"]  # nothing was sent


def test_hub_refusal_is_one_line_without_the_token(cli, textcls_run, hub, monkeypatch):
    def refuse(self, repo_id, **kwargs):
        raise OSError(f"401 Unauthorized for token {TOKEN}\nmore detail")

    monkeypatch.setattr(RecordingApi, "create_repo", refuse)
    result = cli("push", textcls_run, "someone/model")
    assert result.exit_code == 2 and "refused" in result.stderr and "401 Unauthorized" in result.stderr
    assert TOKEN not in result.output and "more detail" not in result.output


def test_a_head_pruned_model_goes_up_with_the_code_that_loads_it(cli, textcls_run, hub, tmp_path):
    pruned = tmp_path / "pruned"
    assert cli("prune", textcls_run, pruned, "--method", "heads", "--amount", "0.25").exit_code == 0
    result = cli("push", pruned, "someone/textcls-pruned")
    assert result.exit_code == 0, result.output
    sent = {op.path_in_repo for op in hub.calls[-1][1]["operations"]}
    assert {"config.json", "model.safetensors", "llmkit_pruned_heads.py"} <= sent
    assert "prune.json" not in sent and "llmkit-export.json" not in sent
