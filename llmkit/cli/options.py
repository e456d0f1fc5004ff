"""Command-line parameters and the typed objects a command body receives.

The ``Annotated`` aliases are shared by the command signatures, so one option reads the same in every
command. Each command packs its parsed options into a frozen dataclass (``TrainInvocation``,
``GenerateInvocation``, ``EvalInvocation``) and hands that to its body: field names are checked by the
type checker, where a ``dict(locals())`` of flags was not. Stdlib dataclasses, not pydantic: this
module is imported by ``llmkit --help``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any

import typer

from llmkit.cli.launch import Topology

SPLITS = ("train", "validation", "test")  # what `llmkit eval --split` can name
# `llmkit runs`'s default folder: train.rundir.RUNS_ROOT, repeated so that --help imports no train module.
RUNS_ROOT = Path("runs")
RECIPE_HELP = "Recipe file, or the bare name of a shipped recipe (see `llmkit recipes`)."
SCALE = "Scale"  # the help panel of the launch options

RecipeArg = Annotated[str, typer.Argument(help=RECIPE_HELP)]
TrainRecipeArg = Annotated[str | None, typer.Argument(help=RECIPE_HELP, show_default=False)]
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
QuestionOpt = Annotated[str | None, typer.Option("--question", help="Question for an extractive QA model.")]
ContextOpt = Annotated[str | None, typer.Option("--context", help="Context passage for an extractive QA model.")]
TaskOpt = Annotated[
    str | None, typer.Option("--task", help="Task of a plain checkpoint (read from a run's recipe otherwise).")
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
DtypeOpt = Annotated[str | None, typer.Option("--dtype", help="Weights dtype: float32, bfloat16, float16 or auto.")]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="cuda, mps or cpu (default: the best available).")]
GenerateJsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object per result on stdout.")]


@dataclass(frozen=True)
class TrainInvocation:
    """`llmkit finetune|pretrain` options besides RECIPE and the overrides."""

    output_dir: Path | None = None
    from_run: Path | None = None
    resume: bool = False
    overwrite: bool = False
    allow_config_change: bool = False
    strict: bool = False
    dry_run: bool = False
    debug: bool = False
    verbose: bool = False
    topology: Topology = field(default_factory=Topology)

    def worker_flags(self) -> list[str]:
        """The switches a launched worker repeats (not --from-run, --dry-run or the launch options)."""
        names = ("resume", "overwrite", "allow_config_change", "strict", "debug", "verbose")
        return ["--" + name.replace("_", "-") for name in names if getattr(self, name)]


@dataclass(frozen=True)
class Decoding:
    """`llmkit generate`'s decoding options as typed (llmkit's names, as in a recipe's `generate:`); None: not set."""

    max_new_tokens: int | None = None
    greedy: bool | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    num_beams: int | None = None
    num_return_sequences: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_k_fill: int | None = None

    def chosen(self) -> dict[str, Any]:
        """The options the user set, under llmkit's names (``--greedy`` -> ``do_sample: False``)."""
        typed_as_is = (f.name for f in fields(self) if f.name not in ("greedy", "stop"))
        options: dict[str, Any] = {key: getattr(self, key) for key in typed_as_is}
        options["do_sample"] = None if self.greedy is None else not self.greedy
        options["stop"] = list(self.stop) or None
        return {key: value for key, value in options.items() if value is not None}


@dataclass(frozen=True)
class GenerateInvocation:
    """Everything `llmkit generate` was given."""

    model: str
    prompts: tuple[str, ...] = ()
    input_file: Path | None = None
    output: Path | None = None
    overwrite: bool = False
    question: str | None = None
    context: str | None = None
    task: str | None = None
    chat: bool = False
    batch_size: int = 8
    dtype: str | None = None
    device: str | None = None
    as_json: bool = False
    debug: bool = False
    verbose: bool = False
    decoding: Decoding = field(default_factory=Decoding)


@dataclass(frozen=True)
class EvalInvocation:
    """Everything `llmkit eval` was given."""

    target: str
    overrides: tuple[str, ...] = ()
    data: Path | None = None
    split: str | None = None
    predictions: Path | None = None
    overwrite: bool = False
    as_json: bool = False
    debug: bool = False
    verbose: bool = False
