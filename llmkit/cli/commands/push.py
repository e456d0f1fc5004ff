"""`llmkit push`: upload a run or an export to a Hugging Face Hub model repository."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmkit.cli.guard import guarded
from llmkit.cli.options import DebugOpt


def push(
    run: Annotated[Path, typer.Argument(help="A run directory or an `llmkit export` folder.")],
    repo_id: Annotated[str, typer.Argument(help="The Hub model repository, user/name or org/name.")],
    private: Annotated[bool, typer.Option("--private", help="Create the repository private.")] = False,
    revision: Annotated[
        str | None, typer.Option("--revision", help="Branch to commit to (created if missing; default: main).")
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Upload a model, its tokenizer and its card to the Hub (token from HF_TOKEN or `hf auth login`)."""

    def action() -> None:
        from llmkit.cli import console
        from llmkit.export.push import push as push_run

        result = push_run(run, repo_id, private=private, revision=revision)
        console.info(f"pushed {len(result.files)} files to {result.repo_id} ({result.revision}): {result.url}")

    guarded(debug, action)
