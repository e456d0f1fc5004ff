"""Commands on finished runs: `llmkit export`, `llmkit report` and `llmkit runs`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmkit.cli.guard import guarded
from llmkit.cli.options import FORMATS, QUANTIZATIONS, RUNS_ROOT, DebugOpt, choices
from llmkit.errors import UsageError


def export_(
    run: Annotated[str, typer.Argument(help="A finished run directory.")],
    out: Annotated[Path, typer.Argument(help="New (or empty) directory to write the model to.")],
    merge: Annotated[
        bool, typer.Option("--merge", help="LoRA runs: fold the adapter into the base weights (a full model).")
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="hf: save_pretrained directory; onnx: ONNX graphs checked by ONNX Runtime.",
            **choices(FORMATS),
        ),
    ] = "hf",
    quantize: Annotated[
        str | None,
        typer.Option(
            "--quantize",
            help="dynamic-int8: int8 linear layers; reports size, CPU latency, metric.",
            **choices(QUANTIZATIONS),
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier llmkit export in OUT (nothing else).")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Write a run's model for other tools (safetensors or ONNX, tokenizer, model card), optionally int8."""

    def action() -> None:
        from llmkit.cli.show import show_export
        from llmkit.export import export

        show_export(export(run, out, merge, fmt=fmt, quantize=quantize, overwrite=overwrite))

    guarded(debug, action)


def report(
    run: Annotated[Path, typer.Argument(help="A run directory.")],
    debug: DebugOpt = False,
) -> None:
    """Rebuild a run's report.html (curves, metrics, recipe, data summary, sample predictions)."""

    def action() -> None:
        from llmkit.cli import console
        from llmkit.train.report import build_report

        console.info(f"wrote {build_report(run)}")

    guarded(debug, action)


def runs(
    folder: Annotated[Path, typer.Argument(help="Folder holding run directories.")] = RUNS_ROOT,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per run.")] = False,
) -> None:
    """List the runs under a folder: task, model, key metric, status and date."""

    def action() -> None:
        from llmkit.cli.show import show_runs
        from llmkit.train.rundir import list_runs

        if not folder.is_dir():
            raise UsageError(f"{folder}: no such folder")
        show_runs(list_runs(folder), as_json, folder)

    guarded(False, action)
