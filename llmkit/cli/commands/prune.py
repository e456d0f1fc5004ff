"""`llmkit prune`: a smaller copy of a finished run (zeroed weights or removed heads), measured before -> after."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from llmkit.cli.guard import guarded, verbose_libraries
from llmkit.cli.options import DebugOpt, VerboseOpt


# Enums so that --help lists the values; kept here (not read from llmkit.prune) so that `--help` loads nothing
# below the CLI. A test checks they match llmkit.prune's METHODS and SCOPES.
class Method(str, Enum):
    magnitude = "magnitude"
    heads = "heads"


class Scope(str, Enum):
    global_ = "global"
    layer = "layer"


def prune(
    run: Annotated[str, typer.Argument(help="A finished run directory.")],
    out: Annotated[Path, typer.Argument(help="New (or empty) directory for the pruned run.")],
    method: Annotated[
        Method,
        typer.Option(
            "--method",
            help="magnitude: zero the smallest linear weights; heads: remove the least important attention heads.",
        ),
    ] = Method.magnitude,
    sparsity: Annotated[
        float | None, typer.Option("--sparsity", help="magnitude: share of linear weights set to zero, e.g. 0.5.")
    ] = None,
    scope: Annotated[
        Scope,
        typer.Option("--scope", help="magnitude: rank weights across all layers (global) or within each layer."),
    ] = Scope.global_,
    amount: Annotated[
        float | None, typer.Option("--amount", help="heads: share of all attention heads to remove, e.g. 0.25.")
    ] = None,
    ffn_amount: Annotated[
        float | None,
        typer.Option("--ffn-amount", help="heads: also remove this share of each layer's FFN neurons."),
    ] = None,
    finetune_steps: Annotated[
        int, typer.Option("--finetune-steps", help="Recovery: train this many steps on the run's training split.")
    ] = 0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier llmkit output in OUT (nothing else).")
    ] = False,
    debug: DebugOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Prune a run's model (magnitude sparsity or attention heads) and report size, latency and metric."""

    def action() -> None:
        from llmkit.cli import console
        from llmkit.cli.progress import RichProgress
        from llmkit.prune import check_settings
        from llmkit.prune import prune as run_prune

        check_settings(method.value, sparsity, scope.value, amount, ffn_amount, finetune_steps)
        verbose_libraries(verbose)
        console.setup_logging(verbose)
        result = run_prune(
            run,
            out,
            method.value,
            sparsity=sparsity,
            scope=scope.value,
            amount=amount,
            ffn_amount=ffn_amount,
            finetune_steps=finetune_steps,
            overwrite=overwrite,
            callbacks=[RichProgress()] if finetune_steps else [],
        )
        show_prune(result)

    guarded(debug, action)


def show_prune(result: Any) -> None:
    """Before -> after as a table, then what was removed and where it went."""
    from llmkit.cli.console import out, size

    table = Table(title=f"Pruning ({result.method}, {_settings(result.settings)})")
    for column in ("", "before", "after", "change"):
        table.add_column(column, justify="left" if not column else "right")
    b, a = result.before, result.after
    rows = [
        ("parameters", f"{b.parameters:,}", f"{a.parameters:,}", _ratio(a.parameters, b.parameters)),
        (
            "non-zero parameters",
            f"{b.nonzero_parameters:,}",
            f"{a.nonzero_parameters:,}",
            _ratio(a.nonzero_parameters, b.nonzero_parameters),
        ),
        ("weights file", size(b.file_bytes), size(a.file_bytes), _ratio(a.file_bytes, b.file_bytes)),
        ("CPU latency (ms)", f"{b.latency_ms:.2f}", f"{a.latency_ms:.2f}", _ratio(a.latency_ms, b.latency_ms)),
    ]
    if b.attention_heads is not None:
        rows.append(("attention heads", str(b.attention_heads), str(a.attention_heads), ""))
    if b.intermediate_size != a.intermediate_size:
        rows.append(("FFN neurons per layer", str(b.intermediate_size), str(a.intermediate_size), ""))
    if b.metric is not None and a.metric is not None:
        rows.append(
            (f"validation {result.metric}", f"{b.metric:.4f}", f"{a.metric:.4f}", f"{a.metric - b.metric:+.4f}")
        )
    for row in rows:
        table.add_row(*row)
    out.print(table)
    if result.method == "magnitude":
        out.print(
            f"Zeros in the pruned linear weights: {result.sparsity:.1%}. Stored dense, so the file and the latency "
            "do not shrink; only a sparse format or sparse kernels would gain from them."
        )
    if result.pruned_heads:
        shown = "; ".join(f"layer {k}: {', '.join(map(str, v))}" for k, v in result.pruned_heads.items())
        out.print(f"Removed heads: {shown}")
    if result.load_average:
        out.print(f"Load average while measuring: {', '.join(f'{x:.2f}' for x in result.load_average)}")
    out.print(f"Wrote [bold]{result.out_dir}[/] (report: prune.json)")


def _settings(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k.replace('_', '-')} {v}" for k, v in settings.items() if v is not None)


def _ratio(after: float, before: float) -> str:
    return f"{after / before - 1:+.1%}" if before else ""
