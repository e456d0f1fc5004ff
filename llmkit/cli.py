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
from llmkit.errors import LlmkitError, UsageError

T = TypeVar("T")

app = typer.Typer(
    name="llmkit",
    help="Fine-tune, pretrain, evaluate and sample Hugging Face models from one YAML recipe.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
recipes_app = typer.Typer(help="List, show and copy the recipes shipped with llmkit.", invoke_without_command=True)
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
        str | None, typer.Option("--split", help="Split to evaluate: validation or test (default: test if any).")
    ] = None,
    predictions: Annotated[
        Path | None, typer.Option("--predictions", help="Write one JSON object per example here.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print exactly one JSON object of metrics on stdout.")
    ] = False,
    debug: DebugOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Evaluate a run (or a recipe's model) and print its metrics."""

    def action() -> None:
        from llmkit import ui

        if verbose:
            os.environ["LLMKIT_VERBOSE"] = "1"
        from llmkit import runner

        result = runner.evaluate(target, overrides or [], str(data) if data else None, split)
        if predictions is not None:
            _write_jsonl(predictions, result.result.rows)
            ui.info(f"wrote {len(result.result.rows)} predictions to {predictions}")
        ui.show_eval(result, as_json)

    guarded(debug, action)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def _read_inputs(path: Path) -> list[dict[str, Any]]:
    """Prompts from a .txt (one per line) or .jsonl file (objects with a `text`/`prompt` field)."""
    import json

    if not path.is_file():
        raise UsageError(f"--input: file not found: {path}")
    items: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                item = json.loads(line)
            except ValueError as exc:
                raise UsageError(f"--input: {path}:{number}: not valid JSON ({exc})") from None
            if isinstance(item, str):
                item = {"text": item}
            if "text" not in item and "prompt" in item:
                item["text"] = item["prompt"]
            items.append(item)
        else:
            items.append({"text": line})
    return items


@app.command()
def generate(
    model: Annotated[
        str, typer.Option("--model", "-m", help="Run directory, local checkpoint, hub id or built-in alias.")
    ],
    prompt: Annotated[list[str] | None, typer.Option("--prompt", "-p", help="Input text (repeat for several).")] = None,
    input_file: Annotated[Path | None, typer.Option("--input", help="Inputs: .txt (one per line) or .jsonl.")] = None,
    output: Annotated[Path | None, typer.Option("--output", help="Write results as JSONL here.")] = None,
    question: Annotated[str | None, typer.Option("--question", help="Question for an extractive QA model.")] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="Context passage for an extractive QA model.")
    ] = None,
    task: Annotated[
        str | None, typer.Option("--task", help="Task of a plain checkpoint (read from a run's recipe otherwise).")
    ] = None,
    max_new_tokens: Annotated[int | None, typer.Option("--max-new-tokens", help="Tokens to generate.")] = None,
    greedy: Annotated[bool | None, typer.Option("--greedy/--sample", help="Greedy decoding, or sampling.")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", help="Sampling temperature.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Sample from the k most likely tokens.")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Nucleus sampling probability mass.")] = None,
    repetition_penalty: Annotated[
        float | None, typer.Option("--repetition-penalty", help="Penalty for repeated tokens.")
    ] = None,
    num_beams: Annotated[int | None, typer.Option("--num-beams", help="Beam search width.")] = None,
    num_return_sequences: Annotated[
        int | None, typer.Option("--num-return-sequences", help="Outputs per input.")
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
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Inputs generated together.")] = 8,
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
    options = {
        "max_new_tokens": max_new_tokens,
        "do_sample": None if greedy is None else not greedy,
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "repetition_penalty": repetition_penalty,
        "num_beams": num_beams,
        "num_return_sequences": num_return_sequences,
        "seed": seed,
        "stop": stop or None,
        "top_k_fill": top_k_fill,
    }
    options = {key: value for key, value in options.items() if value is not None}

    def action() -> None:
        import time

        from llmkit import ui

        if dtype is not None and dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise UsageError(f"--dtype: '{dtype}' is not one of auto, float32, bfloat16, float16")
        inputs = [{"text": p} for p in (prompt or [])]
        if question is not None or context is not None:
            if not (question and context):
                raise UsageError("--question and --context go together")
            inputs.append({"question": question, "context": context})
        if input_file is not None:
            inputs += _read_inputs(input_file)
        if not inputs and not chat:
            raise UsageError("give --prompt TEXT, --question with --context, or --input FILE")
        if verbose:
            os.environ["LLMKIT_VERBOSE"] = "1"
        from llmkit import runner

        loaded = runner.load_for_inference(model, task, dtype=dtype, device=device)
        decoding = _decoding(loaded, options)
        if chat:
            _chat_session(loaded, inputs, decoding, as_json)
            return
        streaming = (
            loaded.task.stream is not None and len(inputs) == 1 and not as_json and output is None
        ) and _can_stream(decoding)
        if streaming:
            ui.stream(
                inputs[0]["text"], loaded.task.stream(loaded.model, loaded.tokenizer, inputs[0]["text"], decoding)
            )
            return
        started = time.perf_counter()
        with ui.batch_progress(len(inputs), enabled=len(inputs) > batch_size) as advance:
            rows = loaded.task.predict(
                loaded.model,
                loaded.tokenizer,
                inputs,
                recipe=loaded.recipe,
                options={**options, "batch_size": batch_size},
                on_batch=advance,
            )
        elapsed = time.perf_counter() - started
        tokens = sum(int(row.get("new_tokens", 0)) for row in rows)
        if tokens:
            ui.info(f"generated {tokens} tokens in {elapsed:.2f}s ({tokens / elapsed:.1f} tokens/s)")
        if output is not None:
            _write_jsonl(output, rows)
            ui.info(f"wrote {len(rows)} results to {output}")
        if output is None or as_json:
            ui.show_predictions(rows, as_json)

    guarded(debug, action)


def _decoding(loaded: Any, options: dict[str, Any]) -> dict[str, Any]:
    from llmkit.generation import decoding_options

    return decoding_options(loaded.recipe, options)


def _can_stream(decoding: dict[str, Any]) -> bool:
    from llmkit.generation import can_stream

    return can_stream(decoding)


def _chat_session(loaded: Any, inputs: list[dict[str, Any]], decoding: dict[str, Any], as_json: bool) -> None:
    """--chat: one turn per --prompt, or an interactive loop on stdin until EOF or /exit."""
    import json

    from llmkit import ui
    from llmkit.generation import chat_prompt, generate_batch, stream_text

    if loaded.task.stream is None:
        raise UsageError(f"--chat needs a causal language model, not a {loaded.task.name} model")
    messages: list[dict[str, str]] = []
    interactive = not inputs
    chat_prompt(loaded.tokenizer, [{"role": "user", "content": "check"}])  # fails early without a template
    turns = iter(inputs) if inputs else None
    while True:
        if turns is not None:
            item = next(turns, None)
            if item is None:
                return
            text = item["text"]
        else:
            try:
                text = ui.ask("you")
            except EOFError:
                return
            if text.strip() in ("/exit", "/quit"):
                return
        messages.append({"role": "user", "content": text})
        prompt_text = chat_prompt(loaded.tokenizer, messages)
        if as_json or not _can_stream(decoding):
            reply = generate_batch(loaded.model, loaded.tokenizer, [prompt_text], decoding, special=False)[0].texts[0]
            if as_json:
                print(json.dumps({"role": "assistant", "content": reply}, ensure_ascii=False))
            else:
                ui.out.print(reply)
        else:
            reply = ui.stream(
                "" if interactive else text,
                stream_text(loaded.model, loaded.tokenizer, prompt_text, decoding, special=False),
            )
        messages.append({"role": "assistant", "content": reply})


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
    out: Annotated[Path, typer.Argument(help="New directory to write the model to.")],
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
    debug: DebugOpt = False,
) -> None:
    """Write a run's model for other tools (safetensors or ONNX, tokenizer, model card), optionally int8."""

    def action() -> None:
        from llmkit import ui
        from llmkit.export import export

        ui.show_export(export(run, out, merge, fmt=fmt, quantize=quantize))

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


# ---------------------------------------------------------------------------------------------
# Recipes shipped with llmkit


def _recipe_description(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


@recipes_app.callback()
def _recipes_root(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        recipes_list()


@recipes_app.command("list")
def recipes_list() -> None:
    """List shipped recipes, one line each."""
    from llmkit import ui
    from llmkit.config import shipped_recipes

    for name, path in shipped_recipes().items():
        ui.out.print(f"[bold]{name:<14}[/] {_recipe_description(path)}")


@recipes_app.command("show")
def recipes_show(name: Annotated[str, typer.Argument(help="Recipe name, e.g. textcls.")]) -> None:
    """Print a shipped recipe."""
    from llmkit import ui
    from llmkit.config import resolve_recipe_path

    path = guarded(False, lambda: resolve_recipe_path(name))
    ui.out.print(path.read_text(encoding="utf-8"), end="", markup=False, highlight=False)


@recipes_app.command("copy")
def recipes_copy(
    name: Annotated[str, typer.Argument(help="Recipe name, e.g. textcls.")],
    dest: Annotated[Path, typer.Argument(help="File or folder to copy it to.")],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Copy a shipped recipe to edit it (its data paths are rewritten to stay valid)."""
    from llmkit import ui
    from llmkit.config import resolve_recipe_path

    def action() -> None:
        source = resolve_recipe_path(name)
        target = dest / source.name if dest.is_dir() else dest
        if target.exists() and not force:
            raise UsageError(f"{target} exists; pass --force to replace it")
        text = source.read_text(encoding="utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_rebase_paths(text, source.parent), encoding="utf-8")
        ui.info(f"copied {name} to {target}")

    guarded(False, action)


def _rebase_paths(text: str, recipe_dir: Path) -> str:
    """Make relative data paths in a copied recipe absolute, so the copy finds the shipped data."""
    import re

    def repl(match: re.Match[str]) -> str:
        key, value = match.group(1), match.group(2)
        candidate = recipe_dir / value
        return f"{key}{candidate.resolve()}" if candidate.exists() else match.group(0)

    return re.sub(r"^(\s*\w+_file:\s*)([^\s#'\"]+)", repl, text, flags=re.M)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
