"""`llmkit push`: a run directory or an export -> a Hub model repository, through huggingface_hub's upload API.

What goes up is what loads the model (weights, configs, tokenizer, adapter, ONNX graphs) and the model card,
whose usage snippet is pointed at the repository. What only this machine needs stays here: checkpoints,
``training_args.bin`` (a pickle), ``run.json`` and ``metrics.json`` (local paths, host name, argv),
``recipe.yaml`` (the card carries it with paths cut), the report and export manifests.

The token comes from ``HF_TOKEN`` or the ``hf auth login`` store through ``huggingface_hub.get_token``; it
goes to ``HfApi`` and nowhere else (not logged, not written, not in the returned result).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmkit.errors import ModelError, UsageError
from llmkit.models.pruning import CODE_MODULE

# What a model repository needs to load; everything else in a run directory stays local.
UPLOAD = (
    "*.safetensors",
    "*.safetensors.index.json",
    "*.onnx",
    "*.onnx.data",
    "*.onnx_data",
    "config.json",
    "generation_config.json",
    "adapter_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "*.model",  # sentencepiece
    f"{CODE_MODULE}.py",  # a head-pruned model's loading code, named in its config's auto_map
)
MODEL_FILES = ("config.json", "adapter_config.json")
OFFLINE_VALUES = ("1", "true", "yes", "on")


@dataclass
class PushPlan:
    """What ``push`` sends: the repository, the files (name in the repo -> local path) and the card's text."""

    repo_id: str
    files: dict[str, Path]
    card: str | None
    private: bool = False
    revision: str | None = None


@dataclass
class PushResult:
    """What the Hub answered: where the commit is."""

    repo_id: str
    revision: str
    url: str
    files: list[str]


def plan_push(run: str | Path, repo_id: str, private: bool = False, revision: str | None = None) -> PushPlan:
    """Check the folder and the repository id and list what would be uploaded (nothing is sent)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from llmkit.train.card import CARD_FILE, for_repo

    folder = Path(run)
    if not folder.is_dir():
        raise UsageError(f"RUN: {run} is not a directory; give a run directory or an `llmkit export` folder")
    if not any((folder / name).is_file() for name in MODEL_FILES) and not any(folder.glob("*.onnx")):
        raise ModelError(f"RUN: {run} holds no model (no config.json, adapter_config.json or *.onnx)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UsageError(f"REPO_ID: '{repo_id}' is not a Hub repository id (user/name): {exc}") from None
    if "/" not in repo_id:
        raise UsageError(f"REPO_ID: '{repo_id}' needs its owner, as in user/{repo_id} or org/{repo_id}")
    files = {
        path.name: path
        for path in sorted(folder.iterdir())
        if path.is_file() and any(fnmatch.fnmatch(path.name, pattern) for pattern in UPLOAD)
    }
    card_file = folder / CARD_FILE
    card = for_repo(card_file.read_text(encoding="utf-8"), repo_id) if card_file.is_file() else None
    return PushPlan(repo_id, files, card, private, revision)


def operations(plan: PushPlan) -> list[Any]:
    """The commit's ``CommitOperationAdd`` list: each file, and the card pointed at the repository."""
    from huggingface_hub import CommitOperationAdd

    ops = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in plan.files.items()]
    if plan.card is not None:
        ops.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=plan.card.encode("utf-8")))
    return ops


def push(run: str | Path, repo_id: str, private: bool = False, revision: str | None = None) -> PushResult:
    """Upload a run or export to ``repo_id`` in one commit (creating the repository and branch if needed).

    Raises UsageError when offline (``HF_HUB_OFFLINE``), without a token, or when the Hub refuses;
    ModelError when the folder holds no model.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in OFFLINE_VALUES:
        raise UsageError("push: HF_HUB_OFFLINE is set, which forbids uploading; unset it to push to the Hub")
    plan = plan_push(run, repo_id, private, revision)
    from huggingface_hub import HfApi, get_token

    token = get_token()
    if token is None:
        raise UsageError("push: no Hugging Face token; set HF_TOKEN or log in with `hf auth login`")
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
        info = api.create_commit(
            repo_id,
            operations=operations(plan),
            commit_message=f"Upload {Path(run).resolve().name} with llmkit",
            revision=revision,
            repo_type="model",
        )
    except Exception as exc:  # HTTP refusals, no network: one line, never the token
        raise UsageError(f"push: the Hub refused the upload to {repo_id}: {_first_line(exc, token)}") from None
    url = str(getattr(info, "commit_url", "") or f"https://huggingface.co/{repo_id}")
    names = [*plan.files, *(["README.md"] if plan.card is not None else [])]
    return PushResult(repo_id, revision or "main", url, names)


def _first_line(exc: Exception, token: str) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace(token, "***")
