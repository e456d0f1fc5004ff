"""`llmkit prune` itself: check the request, measure the run, prune, recover, measure again, commit OUT.

OUT is written like an export (a hidden staging folder beside it, moved into place when complete, with the
``llmkit-export.json`` manifest, so ``--overwrite`` replaces only an earlier llmkit output) and is a run-like
directory: weights, config, tokenizer and the run's ``recipe.yaml``, so `llmkit eval`, `generate` and `export`
take it as they take a run. With ``finetune_steps`` the recovery is an ordinary llmkit training run (the
run's own recipe, ``training.max_steps`` steps on its training split) started from the pruned weights, and OUT
is that run's directory. ``prune.json`` holds the before -> after report.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmkit.errors import UsageError
from llmkit.prune.magnitude import SCOPES, keep_zeros
from llmkit.prune.results import PruneResult, Snapshot

METHODS = ("magnitude", "heads")
REPORT_FILE = "prune.json"


def check_settings(
    method: str, sparsity: float | None, scope: str, amount: float | None, ffn_amount: float | None, steps: int
) -> None:
    """Refuse an unknown method or an amount outside [0, 1) before anything loads (UsageError, exit 2)."""
    if method not in METHODS:
        raise UsageError(f"--method: unknown method '{method}'; choose one of {', '.join(METHODS)}")
    if scope not in SCOPES:
        raise UsageError(f"--scope: unknown scope '{scope}'; choose one of {', '.join(SCOPES)}")
    given = {"--sparsity": sparsity, "--amount": amount, "--ffn-amount": ffn_amount}
    wanted = {"magnitude": ("--sparsity",), "heads": ("--amount", "--ffn-amount")}[method]
    for option, value in given.items():
        if value is not None and option not in wanted:
            raise UsageError(f"{option} does not apply to --method {method} (it takes {' / '.join(wanted)})")
        if value is not None and not 0.0 <= value < 1.0:
            raise UsageError(f"{option}: {value} is not a share in [0, 1), e.g. {option} 0.5")
    if method == "magnitude" and sparsity is None:
        raise UsageError("--method magnitude needs --sparsity (the share of linear weights to zero, e.g. 0.5)")
    if method == "heads" and amount is None and ffn_amount is None:
        raise UsageError("--method heads needs --amount (the share of attention heads to remove, e.g. 0.25)")
    if steps < 0:
        raise UsageError(f"--finetune-steps: {steps} is negative; give 0 (no recovery) or a number of steps")


def prune(
    run: str,
    out_dir: Path,
    method: str,
    *,
    sparsity: float | None = None,
    scope: str = "global",
    amount: float | None = None,
    ffn_amount: float | None = None,
    finetune_steps: int = 0,
    overwrite: bool = False,
    callbacks: list[Any] | None = None,
) -> PruneResult:
    """Prune the model of the run directory ``run`` into ``out_dir`` and measure it before -> after.

    Raises UsageError for bad settings, an OUT holding anything but an earlier llmkit output, or a run that is
    not an llmkit run directory (its recipe names the data to score and recover on).
    """
    from llmkit import outputs
    from llmkit.models import adapters, is_run_directory
    from llmkit.models.targets import check_model_ref
    from llmkit.train import load_for_inference

    check_settings(method, sparsity, scope, amount, ffn_amount, finetune_steps)
    outputs.check_export_dir(out_dir, overwrite)
    check_model_ref(run, "RUN", local=True)
    if not is_run_directory(run):
        raise UsageError(f"RUN: {run} is not an llmkit run directory (its recipe names the data to measure on)")
    if adapters.is_adapter_dir(run):
        raise UsageError(
            f"RUN: {run} holds a LoRA adapter over frozen base weights; prune takes a run that trained the whole "
            "model (a recipe without a peft: section)"
        )
    loaded = load_for_inference(run, device="cpu")
    key = loaded.task.key_metric
    before = snapshot(loaded.model, loaded, Path(run), validation_metrics(run), key)
    settings = {"sparsity": sparsity, "scope": scope} if method == "magnitude" else {"amount": amount}
    if method == "heads":
        settings["ffn_amount"] = ffn_amount
    share = _apply(method, run, loaded.model, sparsity, scope, amount, ffn_amount)
    staging = outputs.staging_dir(out_dir)
    pruned_dir = outputs.staging_dir(out_dir) if finetune_steps else staging
    try:
        save_run_like(loaded, pruned_dir, Path(run))
        if finetune_steps:
            extra = [keep_zeros()] if method == "magnitude" else []
            recover(Path(run), pruned_dir, staging, finetune_steps, [*(callbacks or []), *extra])
        after_model = load_for_inference(str(staging), device="cpu")
        after = snapshot(after_model.model, after_model, staging, validation_metrics(str(staging)), key)
        result = PruneResult(
            run=str(Path(run).resolve()),
            out_dir=out_dir,
            method=method,
            settings={**settings, "finetune_steps": finetune_steps},
            metric=key if key in before.metrics else "loss",
            before=before,
            after=after,
            sparsity=share,
            pruned_heads=dict(getattr(after_model.model.config, "pruned_heads", None) or {}),
            finetune_steps=finetune_steps,
            load_average=os.getloadavg() if hasattr(os, "getloadavg") else None,
        )
        (staging / REPORT_FILE).write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
        info = {"run": result.run, "command": "prune", "method": method, **result.settings}
        result.files = outputs.commit_export(staging, out_dir, info)
    except BaseException:
        outputs.discard(staging)
        raise
    finally:
        if pruned_dir != staging:
            outputs.discard(pruned_dir)
    return result


def _apply(
    method: str, run: str, model: Any, sparsity: float | None, scope: str, amount: float | None, ffn: float | None
) -> float:
    """Prune ``model`` in place; return the share of zeros reached (magnitude) or 0.0."""
    if method == "magnitude":
        from llmkit.prune.magnitude import magnitude_prune

        return magnitude_prune(model, float(sparsity or 0.0), scope)
    from llmkit.models.pruning import encoder_layers, remove_ffn_neurons, remove_heads
    from llmkit.prune.importance import heads_to_remove, measure_importance, neurons_to_keep

    encoder_layers(model)  # refuse a model without BERT-style blocks before scoring anything
    importance = measure_importance(model, validation_batches(run, model))
    if amount:
        remove_heads(model, heads_to_remove(importance.heads, amount))
    if ffn:
        remove_ffn_neurons(model, neurons_to_keep(importance.neurons, ffn))
    return 0.0


def validation_batches(run: str, model: Any) -> Iterator[dict[str, Any]]:
    """The run's validation split as the task's evaluation batches (collated as `llmkit eval` collates them)."""
    import tempfile

    from llmkit.tasks import get_task
    from llmkit.train import build_trainer, build_training_args, load_inputs, resolve_target

    recipe = resolve_target(run, [])
    task = get_task(recipe.task)
    try:
        inputs = load_inputs(recipe, "eval", split="validation")
    except UsageError as exc:
        raise UsageError(f"--method heads: {run} has no validation data to rank heads on ({exc})") from exc
    with tempfile.TemporaryDirectory(prefix="llmkit-prune-") as scratch:
        args = build_training_args(
            recipe, Path(scratch), for_training=False, report_to="none", eval_strategy="no", save_strategy="no"
        )
        trainer = build_trainer(recipe, task, model, inputs.tokenizer, args, inputs.prepared, "validation", [])
        for batch in trainer.get_eval_dataloader():
            yield {k: v.to(model.device) if hasattr(v, "to") else v for k, v in batch.items()}


def validation_metrics(run: str) -> dict[str, float]:
    """The run's validation metrics as `llmkit eval` computes them ({} when it has no validation data)."""
    from llmkit.train import evaluate

    try:
        metrics = evaluate(run, split="validation").result.metrics
    except UsageError:
        return {}
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}


def save_run_like(loaded: Any, folder: Path, run: Path) -> None:
    """Weights, config, tokenizer and the run's recipe: what `llmkit eval` and `generate` need to load a run."""
    from llmkit.models.pruning import write_loading_code
    from llmkit.train.rundir import RECIPE_FILE

    loaded.model.save_pretrained(str(folder))
    write_loading_code(folder, loaded.model, loaded.task.auto_model)
    loaded.tokenizer.save_pretrained(str(folder))
    shutil.copy2(run / RECIPE_FILE, folder / RECIPE_FILE)


def recover(run: Path, pruned: Path, out: Path, steps: int, callbacks: list[Any]) -> None:
    """Train the pruned model ``steps`` steps on the run's training split: the run's recipe, through llmkit's
    own runner, checkpoints and evaluation during training off (the final evaluation still runs)."""
    from llmkit.config import LoadedRecipe, updated
    from llmkit.recipe import load_saved_recipe
    from llmkit.train import RunOptions, train
    from llmkit.train.rundir import RECIPE_FILE, RUN_FILE, read_json

    recipe = load_saved_recipe(run / RECIPE_FILE)
    changes = {
        "model.name_or_path": str(pruned),
        "model.tokenizer_name_or_path": None,
        "model.config": None,
        "tokenizer.train": None,
        "training.max_steps": steps,
        "training.eval_strategy": "no",
        "training.save_strategy": "no",
        "training.load_best_model_at_end": False,
        "eval.early_stopping_patience": None,
    }
    recipe = updated(recipe, changes)
    command = str(read_json(run / RUN_FILE).get("command") or "finetune")
    loaded = LoadedRecipe(recipe=recipe, name=run.name, path=run / RECIPE_FILE)
    options = RunOptions(command=command, output_dir=out, callbacks=callbacks, argv=["prune", str(run)])
    train(loaded, options)


def snapshot(model: Any, loaded: Any, folder: Path, metrics: dict[str, float], key: str) -> Snapshot:
    """Parameters, weights on disk, CPU latency (the int8 export's protocol) and validation metrics."""
    from llmkit.export import sample_inputs
    from llmkit.export.samples import _median_ms, _torch_forward
    from llmkit.models.pruning import encoder_layers

    try:
        layers = encoder_layers(model)
    except UsageError:
        layers = []
    latency = _median_ms(_torch_forward(model, sample_inputs(loaded.task, loaded.tokenizer)))
    return Snapshot(
        parameters=sum(p.numel() for p in model.parameters()),
        nonzero_parameters=sum(int((p != 0).sum()) for p in model.parameters()),
        file_bytes=sum(f.stat().st_size for f in folder.glob("*.safetensors")),
        latency_ms=round(latency, 3),
        metric=metrics.get(key, metrics.get("loss")),
        metrics=metrics,
        attention_heads=sum(b.attention.self.num_attention_heads for b in layers) if layers else None,
        intermediate_size=getattr(model.config, "intermediate_size", None),
    )
