"""The `llmkit` command line: argv -> (command, recipe, overrides, invocation options).

Only Typer, the option and guard modules and the light command modules are imported at start-up;
rich, the config layer, torch and transformers load inside the commands that need them, so
`llmkit --help` stays fast. Every ``LlmkitError`` becomes one line per problem on stderr and its
exit code (``llmkit.cli.guard``); tracebacks only with ``--debug``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from llmkit import __version__
from llmkit.cli.commands import evaluate, generate, prune, runs, train
from llmkit.cli.commands.recipes import recipes_app
from llmkit.cli.examples import examples_epilog

app = typer.Typer(
    name="llmkit",
    help="Fine-tune, pretrain, evaluate and sample Hugging Face models from one YAML recipe.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(recipes_app, name="recipes")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Fine-tune, pretrain, evaluate and sample Hugging Face models from one YAML recipe."""


# In the order `llmkit --help` lists them.
for _name in ("finetune", "pretrain"):
    app.command(_name, help=train.HELP[_name])(train.train_command(_name))
app.command("eval")(evaluate.eval_)
app.command()(generate.generate)
app.command()(evaluate.validate)
app.command("export")(runs.export_)
app.command(
    epilog=examples_epilog(
        "llmkit prune runs/demo runs/demo-heads --method heads --amount 0.25 --finetune-steps 200",
        "llmkit prune runs/demo runs/demo-sparse --method magnitude --sparsity 0.5 --scope layer",
        "llmkit prune runs/demo runs/demo-small --method heads --amount 0.5 --ffn-amount 0.25 --overwrite",
    )
)(prune.prune)
app.command()(runs.report)
app.command()(runs.runs)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
