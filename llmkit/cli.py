"""The `llmkit` command line: argv -> (command, recipe, overrides, invocation options).

Only Typer and the light config layer are imported at start-up; torch and transformers load inside
the commands that need them, so `llmkit --help` stays fast. Every ``LlmkitError`` becomes one line
per problem on stderr and its exit code; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from llmkit import __version__
from llmkit.cli_recipes import recipes_app
from llmkit.errors import LlmkitError, UsageError

T = TypeVar("T")
SPLITS = ("train", "validation", "test")  # what `llmkit eval --split` can name

app = typer.Typer(
    name="llmkit",
    help="Fine-tune, pretrain, evaluate and sample Hugging Face models from one YAML recipe.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(recipes_app, name="recipes")

RecipeArg = Annotated[
    str, typer.Argument(help="Recipe file, or the bare name of a shipped recipe (see `llmkit recipes`).")
]
TrainRecipeArg = Annotated[
    str | None,
    typer.Argument(
        help="Recipe file, or the bare name of a shipped recipe (see `llmkit recipes`).", show_default=False
    ),
]
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
    typer.Option("--nproc", help="Processes (GPUs) per machine: hands the run to torchrun.", rich_help_panel="Scale"),
]
NnodesOpt = Annotated[int, typer.Option("--nnodes", help="Machines taking part.", rich_help_panel="Scale")]
NodeRankOpt = Annotated[
    int, typer.Option("--node-rank", help="This machine's index (0..nnodes-1).", rich_help_panel="Scale")
]
MasterAddrOpt = Annotated[
    str | None, typer.Option("--master-addr", help="Address of the node-rank 0 machine.", rich_help_panel="Scale")
]
MasterPortOpt = Annotated[
    int | None, typer.Option("--master-port", help="Port on the node-rank 0 machine (29500).", rich_help_panel="Scale")
]


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


def guarded(debug: bool, action: Callable[[], T]) -> T:
    """Run a command body; map errors to one line each and the documented exit codes."""
    from llmkit import ui

    debug = debug or os.environ.get("LLMKIT_DEBUG", "") not in ("", "0")
    try:
        return action()
    except typer.Exit:
        raise
    except LlmkitError as exc:
        if debug:
            traceback.print_exc()
        ui.error(exc.kind, str(exc))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        ui.error("interrupted", "stopped by Ctrl-C")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        ui.error(
            "internal error",
            f"{type(exc).__name__}: {first} (a bug in llmkit or a library; run with --debug for the traceback)",
        )
        raise typer.Exit(1) from None


def _recipe_source(recipe: str | None, overrides: list[str] | None, from_run: Path | None) -> tuple[str, list[str]]:
    """The recipe to load and its overrides, from the RECIPE argument or a recorded run (--from-run)."""
    from llmkit.rundir import RECIPE_FILE

    overrides = list(overrides or [])
    if from_run is None:
        if recipe is None:
            raise UsageError("give a RECIPE (a file or a shipped recipe name, see `llmkit recipes`) or --from-run RUN")
        return recipe, overrides
    if recipe is not None:
        if "=" not in recipe:
            raise UsageError("--from-run replaces the RECIPE argument; give one or the other")
        overrides.insert(0, recipe)
    saved = from_run / RECIPE_FILE
    if not saved.is_file():
        raise UsageError(f"--from-run: {from_run} holds no {RECIPE_FILE} (not an llmkit run directory)")
    return str(saved), overrides


def _worker_argv(command: str, recipe: str, overrides: list[str] | None, flags: dict[str, Any]) -> list[str]:
    """The command line each launched process runs: the same command without the launch options."""
    argv = [command, recipe, *(overrides or [])]
    if flags["output_dir"] is not None:
        argv += ["--output-dir", str(flags["output_dir"])]
    for name in ("resume", "overwrite", "allow_config_change", "strict", "debug", "verbose"):
        if flags[name]:
            argv.append("--" + name.replace("_", "-"))
    return argv


def _train(command: str, recipe: str | None, overrides: list[str] | None, flags: dict[str, Any]) -> None:
    from llmkit import launch, ui
    from llmkit.config import load_recipe, recipe_to_yaml

    from_run = flags.get("from_run")
    recipe, overrides = _recipe_source(recipe, overrides, from_run)
    loaded = load_recipe(recipe, overrides, command=command)
    default_dir = Path(f"{str(from_run).rstrip('/')}-rerun") if from_run else Path("runs") / loaded.name
    run_dir = flags["output_dir"] or Path(loaded.recipe.training.output_dir or default_dir)
    if flags["dry_run"]:
        ui.out.print(recipe_to_yaml(loaded.recipe), end="", markup=False, highlight=False)
        ui.info(f"# dry run: would write the run to {run_dir}")
        return
    topology = launch.Topology(
        flags["nproc"], flags["nnodes"], flags["node_rank"], flags["master_addr"], flags["master_port"]
    )
    if topology.requested and not launch.inside_launcher():
        ui.info(f"[bold]{command}[/] handing off to torchrun: {' '.join(launch.launcher_args(topology))}")
        launch.handoff(topology, _worker_argv(command, recipe, overrides, {**flags, "output_dir": run_dir}))
        return
    if flags["verbose"]:
        os.environ["LLMKIT_VERBOSE"] = "1"
    ui.setup_logging(flags["verbose"])
    from llmkit import runner

    if ui.is_main_process():
        ui.info(
            f"[bold]{command}[/] {loaded.recipe.task} · model {loaded.recipe.model.label} · run dir {run_dir}"
            + (f" · {ui.world_size()} processes" if ui.world_size() > 1 else "")
        )
    options = runner.RunOptions(
        command=command,
        output_dir=run_dir,
        resume=flags["resume"],
        overwrite=flags["overwrite"],
        allow_config_change=flags["allow_config_change"],
        strict=flags["strict"],
        callbacks=[ui.progress_callback()],
        argv=sys.argv[1:],
    )
    result = runner.train(loaded, options)
    if ui.is_main_process():
        ui.show_run(result)


@app.command()
def finetune(
    recipe: TrainRecipeArg = None,
    overrides: OverridesArg = None,
    output_dir: OutputDirOpt = None,
    from_run: FromRunOpt = None,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    allow_config_change: AllowChangeOpt = False,
    strict: StrictOpt = False,
    dry_run: DryRunOpt = False,
    debug: DebugOpt = False,
    verbose: VerboseOpt = False,
    nproc: NprocOpt = None,
    nnodes: NnodesOpt = 1,
    node_rank: NodeRankOpt = 0,
    master_addr: MasterAddrOpt = None,
    master_port: MasterPortOpt = None,
) -> None:
    """Fine-tune a model on a task (classification, QA, translation...)."""
    flags = dict(locals())
    guarded(debug, lambda: _train("finetune", recipe, overrides, flags))


@app.command()
def pretrain(
    recipe: TrainRecipeArg = None,
    overrides: OverridesArg = None,
    output_dir: OutputDirOpt = None,
    from_run: FromRunOpt = None,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    allow_config_change: AllowChangeOpt = False,
    strict: StrictOpt = False,
    dry_run: DryRunOpt = False,
    debug: DebugOpt = False,
    verbose: VerboseOpt = False,
    nproc: NprocOpt = None,
    nnodes: NnodesOpt = 1,
    node_rank: NodeRankOpt = 0,
    master_addr: MasterAddrOpt = None,
    master_port: MasterPortOpt = None,
) -> None:
    """Pretrain a language model (masked or causal), from scratch or continued."""
    flags = dict(locals())
    guarded(debug, lambda: _train("pretrain", recipe, overrides, flags))


@app.command("eval")
def eval_(
    target: Annotated[str, typer.Argument(help="A finished run directory, or a recipe.")],
    overrides: OverridesArg = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Evaluate this file (same format as the recipe's data).")
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="Split to evaluate: train, validation or test (default: test if any).")
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

    def action() -> None:
        from llmkit import ui
        from llmkit.errors import did_you_mean
        from llmkit.outputs import check_output_file, write_jsonl
        from llmkit.targets import check_eval_target

        if split is not None and split not in SPLITS:
            raise UsageError(f"--split: '{split}' is not one of {', '.join(SPLITS)}{did_you_mean(split, SPLITS)}")
        if predictions is not None:
            check_output_file(predictions, "--predictions", overwrite, inputs=[data] if data else [])
        check_eval_target(target)
        if verbose:
            os.environ["LLMKIT_VERBOSE"] = "1"
        from llmkit import runner

        result = runner.evaluate(target, overrides or [], str(data) if data else None, split)
        if predictions is not None:
            write_jsonl(predictions, result.result.rows, "--predictions")
            ui.info(f"wrote {len(result.result.rows)} predictions to {predictions}")
        ui.show_eval(result, as_json)

    guarded(debug, action)


@app.command()
def generate(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Run directory, local checkpoint, hub id or built-in alias.")
    ],
    prompt: Annotated[list[str] | None, typer.Option("--prompt", "-p", help="Input text (repeat for several).")] = None,
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help="Inputs: .txt (one per line), .jsonl (text/prompt objects) or .json (a list)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="Write results as JSONL here (an existing file needs --overwrite).")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --output file.")] = False,
    question: Annotated[str | None, typer.Option("--question", help="Question for an extractive QA model.")] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="Context passage for an extractive QA model.")
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Task of a plain checkpoint (read from a run's recipe otherwise).")
    ] = None,
    max_new_tokens: Annotated[
        int | None,
        typer.Option("--max-new-tokens", help="Tokens to generate (>= 1; prompts are cut to fit the context)."),
    ] = None,
    greedy: Annotated[bool | None, typer.Option("--greedy/--sample", help="Greedy decoding, or sampling.")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", help="Sampling temperature (> 0).")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Sample from the k most likely tokens (0: off).")] = None,
    top_p: Annotated[
        float | None, typer.Option("--top-p", help="Nucleus sampling probability mass, in (0, 1].")
    ] = None,
    repetition_penalty: Annotated[
        float | None, typer.Option("--repetition-penalty", help="Penalty for repeated tokens (> 0; 1 = none).")
    ] = None,
    num_beams: Annotated[int | None, typer.Option("--num-beams", help="Beam search width (>= 1).")] = None,
    num_return_sequences: Annotated[
        int | None,
        typer.Option("--num-return-sequences", help="Outputs per input (>= 1; at most --num-beams with beam search)."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed: same seed, same output.")] = None,
    stop: Annotated[
        list[str] | None, typer.Option("--stop", help="Stop generating at this string (repeatable).")
    ] = None,
    top_k_fill: Annotated[
        int | None, typer.Option("--top-k-fill", help="Candidates shown per [MASK] (masked LMs).")
    ] = None,
    chat: Annotated[
        bool, typer.Option("--chat", help="Apply the tokenizer's chat template; without --prompt, talk in a loop.")
    ] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Inputs generated together (>= 1).")] = 8,
    dtype: Annotated[
        str | None, typer.Option("--dtype", help="Weights dtype: float32, bfloat16, float16 or auto.")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="cuda, mps or cpu (default: the best available).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per result on stdout.")] = False,
    debug: DebugOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run a trained model on new inputs: continue text (streamed), classify, answer, translate, fill masks."""
    flags = dict(locals())

    def action() -> None:
        from llmkit import cli_generate

        cli_generate.run(flags)

    guarded(debug, action)


@app.command()
def validate(
    recipe: RecipeArg,
    overrides: OverridesArg = None,
    debug: DebugOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Check a recipe without training: data, labels, lengths, tokenizer, model size and memory."""

    def action() -> None:
        from llmkit import ui
        from llmkit.config import load_recipe

        loaded = load_recipe(recipe, overrides or [])
        if verbose:
            os.environ["LLMKIT_VERBOSE"] = "1"
        from llmkit import runner

        ui.show_validation(runner.validate(loaded))

    guarded(debug, action)


@app.command("export")
def export_(
    run: Annotated[str, typer.Argument(help="A finished run directory.")],
    out: Annotated[Path, typer.Argument(help="New (or empty) directory to write the model to.")],
    merge: Annotated[
        bool, typer.Option("--merge", help="LoRA runs: fold the adapter into the base weights (a full model).")
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", help="hf: save_pretrained directory; onnx: ONNX graphs checked by ONNX Runtime.")
    ] = "hf",
    quantize: Annotated[
        str | None,
        typer.Option("--quantize", help="dynamic-int8: int8 linear layers; reports size, CPU latency, metric."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier llmkit export in OUT (nothing else).")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Write a run's model for other tools (safetensors or ONNX, tokenizer, model card), optionally int8."""

    def action() -> None:
        from llmkit import ui
        from llmkit.export import export

        ui.show_export(export(run, out, merge, fmt=fmt, quantize=quantize, overwrite=overwrite))

    guarded(debug, action)


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="A run directory.")],
    debug: DebugOpt = False,
) -> None:
    """Rebuild a run's report.html (curves, metrics, recipe, data summary, sample predictions)."""

    def action() -> None:
        from llmkit import ui
        from llmkit.report import build_report

        ui.info(f"wrote {build_report(run)}")

    guarded(debug, action)


@app.command()
def runs(
    folder: Annotated[Path, typer.Argument(help="Folder holding run directories.")] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per run.")] = False,
) -> None:
    """List the runs under a folder: task, model, key metric, status and date."""

    def action() -> None:
        from llmkit import ui
        from llmkit.rundir import list_runs

        if not folder.is_dir():
            raise UsageError(f"{folder}: no such folder")
        ui.show_runs(list_runs(folder), as_json)

    guarded(False, action)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
