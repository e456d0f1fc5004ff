"""`llmkit finetune` and `llmkit pretrain`: one signature and one body, registered under both names.

The two commands differ only in their help and in the ``command`` the recipe is checked against (a
recipe names the commands its task supports).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.cli.guard import guarded, verbose_libraries
from llmkit.cli.options import (
    AllowChangeOpt,
    DebugOpt,
    DryRunOpt,
    FromRunOpt,
    MasterAddrOpt,
    MasterPortOpt,
    NnodesOpt,
    NodeRankOpt,
    NprocOpt,
    OutputDirOpt,
    OverridesArg,
    OverwriteOpt,
    ResumeOpt,
    StrictOpt,
    TrainRecipeArg,
    VerboseOpt,
)
from llmkit.errors import UsageError

if TYPE_CHECKING:
    from llmkit.cli.invocations import TrainInvocation
    from llmkit.config import LoadedRecipe

HELP = {
    "finetune": "Fine-tune a model on a task (classification, QA, translation...).",
    "pretrain": "Pretrain a language model (masked or causal), from scratch or continued.",
}


def train_command(command: str) -> Callable[..., None]:
    """The Typer callback of ``command`` (finetune or pretrain); ``llmkit.cli.app`` registers it."""

    def train(
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
        from llmkit.cli.invocations import TrainInvocation
        from llmkit.cli.launch import Topology

        invocation = TrainInvocation(
            output_dir=output_dir,
            from_run=from_run,
            resume=resume,
            overwrite=overwrite,
            allow_config_change=allow_config_change,
            strict=strict,
            dry_run=dry_run,
            debug=debug,
            verbose=verbose,
            topology=Topology(nproc, nnodes, node_rank, master_addr, master_port),
        )
        guarded(debug, lambda: run_training(command, recipe, overrides, invocation))

    train.__name__ = train.__qualname__ = command
    train.__doc__ = HELP[command]
    return train


def recipe_source(recipe: str | None, overrides: list[str] | None, from_run: Path | None) -> tuple[str, list[str]]:
    """The recipe to load and its overrides, from the RECIPE argument or a recorded run (--from-run)."""
    from llmkit.train.rundir import RECIPE_FILE

    overrides = list(overrides or [])
    if from_run is None:
        if recipe is None:
            raise UsageError("give a RECIPE (a file or a shipped recipe name, see `llmkit recipes`) or --from-run RUN")
        return recipe, overrides
    if recipe is not None:
        if "=" not in recipe:
            raise UsageError("--from-run replaces the RECIPE argument; give one or the other")
        overrides.insert(0, recipe)  # Typer read the first override as RECIPE
    saved = from_run / RECIPE_FILE
    if not saved.is_file():
        raise UsageError(f"--from-run: {from_run} holds no {RECIPE_FILE} (not an llmkit run directory)")
    return str(saved), overrides


def worker_argv(command: str, recipe: str, overrides: list[str] | None, invocation: TrainInvocation) -> list[str]:
    """The command line each launched process runs: the same command without the launch options."""
    argv = [command, recipe, *(overrides or [])]
    if invocation.output_dir is not None:
        argv += ["--output-dir", str(invocation.output_dir)]
    return argv + invocation.worker_flags()


def run_training(command: str, recipe: str | None, overrides: list[str] | None, invocation: TrainInvocation) -> None:
    """Load the recipe, then print it (--dry-run), hand off to torchrun (--nproc) or train here."""
    from llmkit.cli import console, launch
    from llmkit.config import recipe_to_yaml
    from llmkit.recipe import load_recipe
    from llmkit.train.rundir import run_dir_for

    recipe, overrides = recipe_source(recipe, overrides, invocation.from_run)
    loaded = load_recipe(recipe, overrides, command=command)
    run_dir = run_dir_for(invocation.output_dir, loaded, invocation.from_run)
    if invocation.dry_run:
        _check_model_reference(loaded.recipe)
        console.out.print(recipe_to_yaml(loaded.recipe), end="", markup=False, highlight=False)
        console.info(f"# dry run: would write the run to {run_dir}")
        return
    topology = invocation.topology
    if topology.requested and not launch.inside_launcher():
        console.info(f"[bold]{command}[/] handing off to torchrun: {' '.join(launch.launcher_args(topology))}")
        launch.handoff(topology, worker_argv(command, recipe, overrides, replace(invocation, output_dir=run_dir)))
        return
    _train_here(command, loaded, run_dir, invocation)


def _check_model_reference(recipe: Any) -> None:
    """--dry-run loads no model, but a model directory that does not exist is still exit 4, as in a real run
    (a hub id is only checked when the model loads)."""
    from llmkit.models import resolve_source

    model = getattr(recipe, "model", None)
    if model is not None and model.config is None and model.name_or_path:
        resolve_source(str(model.name_or_path))


def _train_here(command: str, loaded: LoadedRecipe, run_dir: Path, invocation: TrainInvocation) -> None:
    """Train in this process (one of several when launched), with the progress bar and the summary."""
    from llmkit.cli import console

    verbose_libraries(invocation.verbose)
    console.setup_logging(invocation.verbose)
    from llmkit.cli.progress import progress_callback
    from llmkit.cli.show import show_run
    from llmkit.train import RunOptions
    from llmkit.train import train as run

    if console.is_main_process():
        processes = console.world_size()
        console.info(
            f"[bold]{command}[/] {loaded.recipe.task} · model {loaded.recipe.model.label} · run dir {run_dir}"
            + (f" · {processes} processes" if processes > 1 else "")
        )
    options = RunOptions(
        command=command,
        output_dir=run_dir,
        resume=invocation.resume,
        overwrite=invocation.overwrite,
        allow_config_change=invocation.allow_config_change,
        strict=invocation.strict,
        callbacks=[progress_callback()],
        argv=sys.argv[1:],
    )
    result = run(loaded, options)
    if console.is_main_process():
        show_run(result)
