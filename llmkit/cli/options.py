"""Command-line parameters: the ``Annotated`` aliases the command signatures share.

One option reads the same in every command that takes it. This module is imported by ``llmkit --help``,
so it holds only Typer declarations; the typed objects the command bodies receive are in
``llmkit.cli.invocations``, imported when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

# Fixed value sets, repeated here so that --help imports no lower layer; tests/unit/test_cli_choices.py
# checks each against the constant the lower layer validates with (and whose error says "did you mean").
SPLITS = ("train", "validation", "test")  # what `llmkit eval --split` can name
FORMATS = ("hf", "onnx")  # llmkit.export.write.FORMATS
QUANTIZATIONS = ("dynamic-int8",)  # llmkit.export.write.QUANTIZATIONS
DTYPES = ("auto", "float32", "bfloat16", "float16")  # llmkit.generation.DTYPES
DEVICES = ("cpu", "cuda", "cuda:N", "mps")  # llmkit.generation.DEVICES (cuda:N: any GPU index)
# `llmkit runs`'s default folder: train.rundir.RUNS_ROOT, repeated so that --help imports no train module.
RUNS_ROOT = Path("runs")
RECIPE_HELP = "Recipe file, or the bare name of a shipped recipe (see `llmkit recipes`)."
SCALE = "Scale"  # the help panel of the launch options


def choices(values: tuple[str, ...]) -> dict[str, Any]:
    """``typer.Option`` keywords for an option with a fixed set of values: listed in --help, completed by the shell.

    Not a ``Literal``/Enum type: the value is checked where it is used, so a typo gets llmkit's one-line
    error with a "did you mean" (and the Python API checks it the same way), not a generic usage panel.
    """

    def complete(incomplete: str) -> list[str]:
        return [value for value in values if value.startswith(incomplete) and value != "cuda:N"]

    return {"metavar": "<" + "|".join(values) + ">", "autocompletion": complete}


def complete_recipe(incomplete: str) -> list[tuple[str, str]]:
    """Shipped recipe names starting with ``incomplete``, each with its kind (zsh and fish show it).

    Runs on every TAB press: it reads the recipes folder and imports no model library (pydantic comes in
    with ``llmkit.config``). A path the user types matches no name, and the shell then completes files.
    """
    from llmkit.config.shipped import recipe_description, shipped_recipes

    found = shipped_recipes().items()
    # "Text classification: fine-tune MiniLM-L6 to ..." -> "Text classification": one short line in the menu.
    return [(name, recipe_description(path).split(":")[0]) for name, path in found if name.startswith(incomplete)]


def complete_task(incomplete: str) -> list[str]:
    """Task names (``llmkit generate --task``) starting with ``incomplete``; the registry imports no task."""
    from llmkit.tasks import TASKS

    return [name for name in TASKS if name.startswith(incomplete)]


RecipeArg = Annotated[str, typer.Argument(help=RECIPE_HELP, autocompletion=complete_recipe)]
TrainRecipeArg = Annotated[
    str | None, typer.Argument(help=RECIPE_HELP, show_default=False, autocompletion=complete_recipe)
]
RecipeNameArg = Annotated[str, typer.Argument(help="Recipe name, e.g. textcls.", autocompletion=complete_recipe)]
FromRunOpt = Annotated[
    Path | None,
    typer.Option("--from-run", help="Re-run a recorded run with the recipe it saved (overrides still apply)."),
]
OverridesArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[KEY=VALUE]...", help="Recipe overrides, e.g. training.learning_rate=3e-5 data.max_seq_length=64."
    ),
]
OutputDirOpt = Annotated[
    Path | None,
    typer.Option("--output-dir", "-o", help="Run directory (default: training.output_dir, else runs/<recipe name>)."),
]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue from the newest checkpoint in the run directory.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an earlier llmkit run in the run directory.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the resolved recipe and exit (loads no model).")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Show library logs and warnings.")]
AllowChangeOpt = Annotated[
    bool,
    typer.Option(
        "--allow-config-change", help="With --resume: accept a recipe or data that changed since the run started."
    ),
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Treat truncated inputs as a data error.")]
NprocOpt = Annotated[
    int | None,
    typer.Option("--nproc", help="Processes (GPUs) per machine: hands the run to torchrun.", rich_help_panel=SCALE),
]
NnodesOpt = Annotated[int, typer.Option("--nnodes", help="Machines taking part.", rich_help_panel=SCALE)]
NodeRankOpt = Annotated[
    int, typer.Option("--node-rank", help="This machine's index (0..nnodes-1).", rich_help_panel=SCALE)
]
MasterAddrOpt = Annotated[
    str | None, typer.Option("--master-addr", help="Address of the node-rank 0 machine.", rich_help_panel=SCALE)
]
MasterPortOpt = Annotated[
    int | None, typer.Option("--master-port", help="Port on the node-rank 0 machine (29500).", rich_help_panel=SCALE)
]

# `llmkit generate`
ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="Run directory, local checkpoint, hub id or built-in alias.")
]
PromptOpt = Annotated[list[str] | None, typer.Option("--prompt", "-p", help="Input text (repeat for several).")]
InputOpt = Annotated[
    Path | None,
    typer.Option("--input", help="Inputs: .txt (one per line), .jsonl (text/prompt objects) or .json (a list)."),
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", help="Write results as JSONL here (an existing file needs --overwrite).")
]
OverwriteOutputOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing --output file.")]
QuestionOpt = Annotated[
    str | None,
    typer.Option("--question", help="Question for an extractive QA model (with --context) or a multiple-choice one."),
]
ContextOpt = Annotated[str | None, typer.Option("--context", help="Context passage for an extractive QA model.")]
ChoiceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--choice", help="A choice for the --question of a multiple-choice model (repeat: --choice A --choice B)."
    ),
]
TaskOpt = Annotated[
    str | None,
    typer.Option(
        "--task",
        help="Task of a plain checkpoint, e.g. textcls or clm (read from a run's recipe otherwise).",
        autocompletion=complete_task,
    ),
]
MaxNewTokensOpt = Annotated[
    int | None,
    typer.Option("--max-new-tokens", help="Tokens to generate (>= 1; prompts are cut to fit the context)."),
]
GreedyOpt = Annotated[bool | None, typer.Option("--greedy/--sample", help="Greedy decoding, or sampling.")]
TemperatureOpt = Annotated[float | None, typer.Option("--temperature", help="Sampling temperature (> 0).")]
TopKOpt = Annotated[int | None, typer.Option("--top-k", help="Sample from the k most likely tokens (0: off).")]
TopPOpt = Annotated[float | None, typer.Option("--top-p", help="Nucleus sampling probability mass, in (0, 1].")]
RepetitionPenaltyOpt = Annotated[
    float | None, typer.Option("--repetition-penalty", help="Penalty for repeated tokens (> 0; 1 = none).")
]
NumBeamsOpt = Annotated[int | None, typer.Option("--num-beams", help="Beam search width (>= 1).")]
NumReturnOpt = Annotated[
    int | None,
    typer.Option("--num-return-sequences", help="Outputs per input (>= 1; at most --num-beams with beam search)."),
]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Random seed: same seed, same output.")]
StopOpt = Annotated[list[str] | None, typer.Option("--stop", help="Stop generating at this string (repeatable).")]
TopKFillOpt = Annotated[int | None, typer.Option("--top-k-fill", help="Candidates shown per [MASK] (masked LMs).")]
ChatOpt = Annotated[
    bool, typer.Option("--chat", help="Apply the tokenizer's chat template; without --prompt, talk in a loop.")
]
BatchSizeOpt = Annotated[int, typer.Option("--batch-size", help="Inputs generated together (>= 1).")]
DtypeOpt = Annotated[str | None, typer.Option("--dtype", help="Weights dtype (auto: as saved).", **choices(DTYPES))]
DeviceOpt = Annotated[
    str | None, typer.Option("--device", help="Device (default: the best available).", **choices(DEVICES))
]
GenerateJsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object per result on stdout.")]


# `llmkit explain`: the methods of llmkit.explain.METHODS, repeated so that --help imports nothing of it
# (tests/unit/test_explain.py checks the two agree).
EXPLAIN_METHODS = ("integrated-gradients", "gradient-x-input", "attention", "rollout")
MethodOpt = Annotated[
    str,
    typer.Option(
        "--method",
        metavar="[" + "|".join(EXPLAIN_METHODS) + "]",  # a str checked by the command: "did you mean" on a typo
        help="integrated-gradients / gradient-x-input: Captum on the input embeddings; attention: the last layer's "
        "head-averaged weights; rollout: attention rollout through all layers.",
    ),
]
ExplainTargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target",
        help="What to explain instead of the prediction: a label (classification), WORD or WORD=TAG (token "
        "classification), a piece of the context (QA), a token (masked/causal LM), an output text (seq2seq).",
    ),
]
StepsOpt = Annotated[int, typer.Option("--steps", help="Integrated-gradients interpolation steps (>= 2).")]
ExplainOutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output", help="Write a self-contained HTML page (heat map, attention grid); needs --overwrite to replace."
    ),
]
