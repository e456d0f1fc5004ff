"""Shared test set-up: offline always, a private datasets cache, an in-process CLI runner."""

from __future__ import annotations

import os
import tempfile

# Before anything imports huggingface_hub/datasets: no network, and a cache private to this session.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="llmkit-test-datasets-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from paths import FIXTURES, fixture_recipe


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """The tests/fixtures folder (``paths.FIXTURES``; import that where a path is needed at collection time)."""
    return FIXTURES


@pytest.fixture(scope="session")
def cli() -> Callable[..., Any]:
    """Invoke the real Typer app in-process; returns click's Result (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from llmkit.cli import app

    runner = CliRunner()

    def invoke(*args: Any) -> Any:
        return runner.invoke(app, [str(a) for a in args])

    return invoke


@pytest.fixture(scope="session")
def textcls_result(cli: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """One fine-tuned tiny-bert classification run and what the command printed (CliRunner: not a TTY)."""
    run_dir = tmp_path_factory.mktemp("runs") / "textcls"
    result = cli("finetune", fixture_recipe("textcls"), "training.report_to=[tensorboard]", "--output-dir", run_dir)
    assert result.exit_code == 0, result.stdout + result.stderr
    return run_dir, result


@pytest.fixture(scope="session")
def textcls_run(textcls_result: tuple[Path, Any]) -> Path:
    """The run directory of ``textcls_result``, shared by the tests that read it."""
    return textcls_result[0]
