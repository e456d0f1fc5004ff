"""`llmkit eval` (metrics of a run or a recipe's model) and `llmkit validate` (a recipe, without training)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmkit.cli.guard import guarded, verbose_libraries
from llmkit.cli.options import SPLITS, DebugOpt, OverridesArg, RecipeArg, VerboseOpt, choices
from llmkit.errors import UsageError

if TYPE_CHECKING:
    from llmkit.cli.invocations import EvalInvocation


def eval_(
    target: Annotated[str, typer.Argument(help="A finished run directory, or a recipe.")],
    overrides: OverridesArg = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Evaluate this file (same format as the recipe's data).")
    ] = None,
    split: Annotated[
        str | None,
        typer.Option("--split", help="Split to evaluate (default: test if the recipe has one).", **choices(SPLITS)),
    ] = None,
    predictions: Annotated[
        Path | None, typer.Option("--predictions", help="Write one JSON object per example here.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --predictions file.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print exactly one JSON object of metrics on stdout.")
    ] = False,
    debug: DebugOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Evaluate a run (or a recipe's model) and print its metrics."""
    from llmkit.cli.invocations import EvalInvocation

    invocation = EvalInvocation(
        target=target,
        overrides=tuple(overrides or ()),
        data=data,
        split=split,
        predictions=predictions,
        overwrite=overwrite,
        as_json=as_json,
        verbose=verbose,
    )
    guarded(debug, lambda: run_eval(invocation))


def run_eval(invocation: EvalInvocation) -> None:
    """Check the outputs and the target before loading anything, then evaluate and print."""
    from llmkit.cli import console
    from llmkit.cli.show import show_eval
    from llmkit.errors import did_you_mean
    from llmkit.models.targets import check_eval_target
    from llmkit.outputs import check_output_file, write_jsonl

    split, data, predictions = invocation.split, invocation.data, invocation.predictions
    if split is not None and split not in SPLITS:
        raise UsageError(f"--split: '{split}' is not one of {', '.join(SPLITS)}{did_you_mean(split, SPLITS)}")
    if predictions is not None:
        check_output_file(predictions, "--predictions", invocation.overwrite, inputs=[data] if data else [])
    check_eval_target(invocation.target)
    verbose_libraries(invocation.verbose)
    from llmkit.train import evaluate

    result = evaluate(invocation.target, list(invocation.overrides), str(data) if data else None, split)
    if predictions is not None:
        write_jsonl(predictions, result.result.rows, "--predictions")
        console.info(f"wrote {len(result.result.rows)} predictions to {predictions}")
    show_eval(result, invocation.as_json)


def validate(
    recipe: RecipeArg,
    overrides: OverridesArg = None,
    debug: DebugOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Check a recipe without training: data, labels, lengths, tokenizer, model size and memory."""

    def action() -> None:
        from llmkit.cli.show import show_validation
        from llmkit.recipe import load_recipe

        loaded = load_recipe(recipe, overrides or [])
        verbose_libraries(verbose)
        from llmkit.train import validate

        show_validation(validate(loaded))

    guarded(debug, action)
