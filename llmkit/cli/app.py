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
from llmkit.cli.commands import evaluate, explain, generate, prune, push, runs, train
from llmkit.cli.commands.recipes import recipes_app
from llmkit.cli.examples import examples_epilog
from llmkit.cli.help import LlmkitTyper

# add_completion stays on: `llmkit --install-completion` installs TAB completion of commands, options,
# their fixed values and shipped recipe names for bash, zsh, fish or PowerShell.
app = LlmkitTyper(
    name="llmkit",
    help="Fine-tune, pretrain, evaluate and sample Hugging Face models from one YAML recipe.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=examples_epilog(
        "llmkit finetune textcls",
        "llmkit eval runs/textcls --json",
        'llmkit generate -m runs/textcls -p "a small furry animal that purrs"',
    ),
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


# In the order `llmkit --help` lists them; each help ends with real examples on shipped recipes.
EXAMPLES = {
    "finetune": (
        "llmkit finetune textcls",
        "llmkit finetune textcls training.num_train_epochs=1 -o runs/textcls-1ep",
        "llmkit finetune qa --dry-run",
    ),
    "pretrain": (
        "llmkit pretrain clm",
        "llmkit pretrain mlm training.report_to=[tensorboard]",
        "llmkit pretrain clm --output-dir runs/clm --resume",
    ),
}
for _name in ("finetune", "pretrain"):
    app.command(_name, help=train.HELP[_name], epilog=examples_epilog(*EXAMPLES[_name]))(train.train_command(_name))
app.command(
    "eval",
    epilog=examples_epilog(
        "llmkit eval runs/textcls",
        "llmkit eval runs/textcls --split validation --json",
        "llmkit eval runs/textcls --predictions predictions.jsonl",
    ),
)(evaluate.eval_)
app.command(
    epilog=examples_epilog(
        'llmkit generate -m runs/clm -p "The package provides" --max-new-tokens 40',
        'llmkit generate -m runs/textcls -p "a furry animal that purrs" --json',
        'llmkit generate -m runs/translation -p "Save the file" --output out.jsonl',
    )
)(generate.generate)
app.command(
    epilog=examples_epilog(
        'llmkit explain --model runs/demo --prompt "a small animal that purrs"',
        'llmkit explain --model runs/demo --prompt "cake" --output explain.html',
        'llmkit explain --model runs/demo --prompt "a cake" --method rollout',
    )
)(explain.explain)
app.command(epilog=examples_epilog("llmkit validate textcls", "llmkit validate qa data.max_seq_length=128"))(
    evaluate.validate
)
app.command(
    "export",
    epilog=examples_epilog(
        "llmkit export runs/textcls exports/textcls",
        "llmkit export runs/textcls onnx-out --format onnx --quantize dynamic-int8",
    ),
)(runs.export_)
app.command(
    epilog=examples_epilog(
        "llmkit prune runs/demo runs/demo-heads --method heads --amount 0.25",
        "llmkit prune runs/demo out --method heads --amount 0.5 --finetune-steps 50",
        "llmkit prune runs/demo runs/demo-sparse --method magnitude --sparsity 0.5",
    )
)(prune.prune)
app.command(
    epilog=examples_epilog(
        "llmkit push runs/textcls user/textcls-minilm",
        "llmkit push exports/textcls user/textcls-minilm --private",
        "llmkit push runs/textcls-lora user/textcls-lora --revision lora-r8",
    )
)(push.push)
app.command(epilog=examples_epilog("llmkit report runs/textcls", "llmkit report runs/clm"))(runs.report)
app.command(epilog=examples_epilog("llmkit runs", "llmkit runs runs --json"))(runs.runs)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
