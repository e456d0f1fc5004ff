"""Attribution methods: Captum's gradients on the input embeddings, attention weights and attention rollout.

The gradient methods attribute on the output of the word-embedding layer: the model is called with
``inputs_embeds`` and Captum's ``IntegratedGradients`` / ``InputXGradient`` integrate or multiply on that tensor.
That is what ``LayerIntegratedGradients`` on the embedding layer computes, without a forward hook: T5's encoder
and decoder share one embedding module, so a hook on it would also perturb the decoder inputs. The baseline keeps
the special tokens ([CLS], [SEP], [MASK]) and replaces every other token by padding, as Captum's BERT tutorial.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from llmkit.errors import ModelError, UsageError
from llmkit.explain.targets import Problem, Target

GRADIENT_METHODS = ("integrated-gradients", "gradient-x-input")
ATTENTION_METHODS = ("attention", "rollout")
METHODS = GRADIENT_METHODS + ATTENTION_METHODS


@dataclass
class Attributed:
    """One target's attribution: one score per input token."""

    scores: list[float]
    convergence_delta: float | None = None  # IG: sum(attributions) - (f(input) - f(baseline))
    baseline_score: float | None = None  # IG: f(baseline)
    cross_attention: list[float] | None = None  # seq2seq: mean cross-attention over layers and heads


@dataclass
class Attention:
    """Attention weights of one forward pass, each layer (heads, rows, columns) as a CPU tensor.

    ``self_maps`` are the (encoder's) self-attentions; ``cross_maps`` the decoder's cross-attentions over the
    source (seq2seq only: one row per generated token).
    """

    self_maps: list[Any]
    cross_maps: list[Any] | None = None


def require_captum() -> None:
    """Fail early, with the install line, when the gradient methods cannot run."""
    try:
        import captum  # noqa: F401
    except ImportError:
        raise UsageError(
            "the gradient methods need captum; install it with: pip install 'llmkit[explain]' "
            "(or use --method attention / rollout)"
        ) from None


def _device_inputs(model: Any, problem: Problem, target: Target) -> dict[str, Any]:
    inputs = dict(problem.inputs)
    if target.decoder_input_ids is not None:
        inputs["decoder_input_ids"] = target.decoder_input_ids
    return {k: v.to(model.device) for k, v in inputs.items()}


def scorer(model: Any, problem: Problem, target: Target) -> Callable[[Any], Any]:
    """embeddings (batch, n, d) -> the target's probability (batch,): the function Captum differentiates."""
    inputs = _device_inputs(model, problem, target)

    def forward(embeds: Any) -> Any:
        batch = {k: v.expand(embeds.shape[0], -1) for k, v in inputs.items()}
        return target.score(model(inputs_embeds=embeds, **batch))

    return forward


def embeddings(model: Any, tokenizer: Any, problem: Problem) -> tuple[Any, Any]:
    """The input embeddings and the baseline's: special tokens kept, every other token replaced by padding."""
    import torch

    fill = next(
        (t for t in (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.eos_token_id) if t is not None), 0
    )
    ids = problem.input_ids.to(model.device)
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)), device=ids.device, dtype=ids.dtype)
    base_ids = torch.where(torch.isin(ids, special), ids, torch.full_like(ids, fill))
    layer = model.get_input_embeddings()
    with torch.no_grad():
        return layer(ids).detach(), layer(base_ids).detach()


def integrated_gradients(
    forward: Callable[[Any], Any], embeds: Any, baseline: Any, steps: int, batch_size: int
) -> Attributed:
    """Captum's IntegratedGradients (Gauss-Legendre, ``steps`` points), summed over the embedding dimension."""
    import torch
    from captum.attr import IntegratedGradients

    attributions, delta = IntegratedGradients(forward).attribute(
        embeds,
        baselines=baseline,
        n_steps=steps,
        internal_batch_size=batch_size,
        return_convergence_delta=True,
    )
    with torch.no_grad():
        base_score = float(forward(baseline)[0])
    return Attributed(attributions.sum(-1)[0].tolist(), float(delta[0]), base_score)


def gradient_x_input(forward: Callable[[Any], Any], embeds: Any) -> Attributed:
    """Captum's InputXGradient on the embeddings, summed over the embedding dimension."""
    from captum.attr import InputXGradient

    attributions = InputXGradient(forward).attribute(embeds.clone().requires_grad_())
    return Attributed(attributions.sum(-1)[0].tolist())


@contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Run with eager attention for the call: SDPA and flash kernels do not return attention weights."""
    before = getattr(model.config, "_attn_implementation", None)
    switch = before not in (None, "eager")
    if switch:
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if switch:
            model.set_attn_implementation(before)


def attention_maps(model: Any, problem: Problem) -> Attention:
    """Every layer's attention weights for the problem's input (and, seq2seq, its decoder sequence)."""
    import torch

    inputs = {k: v.to(model.device) for k, v in problem.inputs.items()}
    if problem.decoder_ids is not None:
        inputs["decoder_input_ids"] = problem.decoder_ids[:, :-1].to(model.device)
    with eager_attention(model), torch.no_grad():
        out = model(input_ids=problem.input_ids.to(model.device), **inputs, output_attentions=True)
    self_maps = out.encoder_attentions if problem.decoder_ids is not None else out.attentions
    if not self_maps:
        raise ModelError(f"{type(model).__name__} returns no attention weights; use --method integrated-gradients")
    cross = getattr(out, "cross_attentions", None) if problem.decoder_ids is not None else None
    to_cpu = [layer[0].float().cpu() for layer in self_maps]
    return Attention(to_cpu, [layer[0].float().cpu() for layer in cross] if cross else None)


def rollout_matrix(maps: list[Any]) -> Any:
    """Attention rollout (Abnar & Zuidema 2020): head-averaged attention plus the residual, renormalized per
    row and multiplied through the layers; row i says how much each input token flows into position i."""
    import torch

    size = maps[0].shape[-1]
    identity = torch.eye(size)
    result = identity
    for layer in maps:
        mixed = 0.5 * layer.mean(0) + 0.5 * identity
        result = (mixed / mixed.sum(-1, keepdim=True)) @ result
    return result


def cross_row(attention: Attention, row: int) -> Any:
    """A generated token's cross-attention over the source, averaged over layers and heads."""
    import torch

    return torch.stack([layer[:, row].mean(0) for layer in attention.cross_maps or []]).mean(0)


def attention_scores(attention: Attention, target: Target, method: str) -> Attributed:
    """``attention``: the last layer's head-averaged weights of the target position (for seq2seq its
    cross-attention); ``rollout``: the rolled-out row (seq2seq: the cross-attention through the encoder rollout)."""
    seq2seq = target.decoder_input_ids is not None
    cross = cross_row(attention, target.position).tolist() if seq2seq else None
    if method == "attention":
        last = attention.cross_maps[-1] if seq2seq and attention.cross_maps else attention.self_maps[-1]
        return Attributed(last[:, target.position].mean(0).tolist(), cross_attention=cross)
    rolled = rollout_matrix(attention.self_maps)
    if seq2seq:
        import torch

        return Attributed((torch.tensor(cross) @ rolled).tolist(), cross_attention=cross)
    return Attributed(rolled[target.position].tolist())
