"""`llmkit explain`: load a model, pick what to explain from its task, attribute, time it."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from llmkit.errors import UsageError, did_you_mean
from llmkit.explain.methods import ATTENTION_METHODS, METHODS, Attention, Attributed
from llmkit.explain.results import Explained, ExplainedTarget
from llmkit.explain.targets import BUILDERS, Problem, Request, Target

DEFAULT_STEPS = 50  # Captum's default; the completeness check in the output says when more are needed
BATCH = 16  # interpolation points per forward pass (bounds memory on long inputs)


def check_method(method: str, steps: int) -> None:
    """Reject an unknown method or a step count out of range before anything loads."""
    if method not in METHODS:
        raise UsageError(
            f"--method: unknown method '{method}' (choose {', '.join(METHODS)}){did_you_mean(method, METHODS)}"
        )
    if steps < 2:
        raise UsageError(f"--steps must be at least 2 (got {steps})")


def max_length(loaded: Any) -> int:
    """The recipe's input length limit, else the model's context (at most 512)."""
    from llmkit.generation import context_size

    data = getattr(loaded.recipe, "data", None)
    for key in ("max_source_length", "max_seq_length"):
        value = getattr(data, key, None)
        if isinstance(value, int) and value > 0:
            return value
    limits = [v for v in (context_size(loaded.model), loaded.tokenizer.model_max_length) if isinstance(v, int)]
    return min([512, *limits])


def explainable(loaded: Any, request: Request) -> tuple[str, Request]:
    """The target kind of the loaded task, and the request with the text its model reads."""
    from llmkit.tasks import TASKS, get_task

    spec = loaded.task.explain
    if spec is None:
        supported = [name for name in TASKS if get_task(name).explain is not None]
        raise UsageError(
            f"llmkit explain does not handle {loaded.task.name} models; it explains {', '.join(supported)}"
        )
    if spec.source is not None and request.prompt is not None:
        request = replace(request, prompt=spec.source(loaded.recipe, request.prompt))
    return spec.target, request


def explain(
    model_ref: str,
    request: Request,
    method: str = "integrated-gradients",
    steps: int = DEFAULT_STEPS,
    task: str | None = None,
    device: str | None = None,
    maps: bool = False,
) -> Explained:
    """Explain one prediction of a run or checkpoint; ``maps`` keeps every layer's attention for the HTML page."""
    from llmkit.train import load_for_inference

    check_method(method, steps)
    loaded = load_for_inference(model_ref, task, device=device)
    return explain_loaded(loaded, request, method, steps, maps)


def explain_loaded(
    loaded: Any, request: Request, method: str, steps: int = DEFAULT_STEPS, maps: bool = False
) -> Explained:
    """Explain with a model already loaded (``llmkit.train.load_for_inference``): the benchmark reuses one."""
    from llmkit.explain import methods

    check_method(method, steps)
    if method in methods.GRADIENT_METHODS:
        methods.require_captum()
    kind, request = explainable(loaded, request)
    started = time.perf_counter()
    problem = BUILDERS[kind](loaded.model, loaded.tokenizer, request, max_length(loaded))
    # seq2seq targets always carry their cross-attention over the source; the others need the maps for the
    # attention methods and the HTML page only
    need = maps or method in ATTENTION_METHODS or problem.decoder_ids is not None
    attention = methods.attention_maps(loaded.model, problem) if need else None
    embedded = methods.embeddings(loaded.model, loaded.tokenizer, problem)
    targets = [_target(loaded.model, problem, t, method, steps, attention, embedded) for t in problem.targets]
    seconds = time.perf_counter() - started
    generated = [t.label for t in problem.targets] if problem.decoder_ids is not None else []
    return Explained(
        task=loaded.task.name,
        method=method,
        prediction=problem.prediction,
        score=problem.score,
        tokens=problem.tokens,
        targets=targets,
        seconds=seconds,
        steps=steps if method == "integrated-gradients" else None,
        attention=attention if maps else None,
        generated=generated,
    )


def _target(
    model: Any,
    problem: Problem,
    target: Target,
    method: str,
    steps: int,
    attention: Attention | None,
    embedded: tuple[Any, Any],
) -> ExplainedTarget:
    """One target's attribution by ``method``; ``embedded`` holds the input and baseline embeddings."""
    import torch

    from llmkit.explain import methods

    forward = methods.scorer(model, problem, target)
    embeds, baseline = embedded
    with torch.no_grad():
        score = float(forward(embeds)[0])
    found: Attributed
    if method == "integrated-gradients":
        found = methods.integrated_gradients(forward, embeds, baseline, steps, BATCH)
    elif method == "gradient-x-input":
        found = methods.gradient_x_input(forward, embeds)
    else:
        assert attention is not None
        found = methods.attention_scores(attention, target, method)
    if found.cross_attention is None and attention is not None and attention.cross_maps:
        found.cross_attention = methods.cross_row(attention, target.position).tolist()
    return ExplainedTarget(
        name=target.name,
        label=target.label,
        score=score,
        attributions=found.scores,
        convergence_delta=found.convergence_delta,
        baseline_score=found.baseline_score,
        cross_attention=found.cross_attention,
    )
