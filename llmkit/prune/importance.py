"""Which attention heads and FFN neurons matter: gradient-based importance, as Michel et al. (2019) measure it.

Each head ``h`` gets a gate ``xi_h = 1`` multiplying its output (and each FFN neuron one on its activation);
its importance is ``sum over batches of |dL/dxi_h|`` on the validation split, the first-order estimate of how
much the loss changes when the head is removed. Scores are normalised per layer (L2), as the paper found
necessary before ranking heads across layers. transformers 5 dropped BERT's ``head_mask`` argument, so the gates
are forward pre-hooks on the output projections rather than a model input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from llmkit.errors import UsageError
from llmkit.models.pruning import encoder_layers


@dataclass
class Importance:
    """Per-layer scores: ``heads[layer][head]`` and ``neurons[layer][neuron]`` (torch tensors)."""

    heads: list[Any]
    neurons: list[Any]
    batches: int


def measure_importance(model: Any, batches: Iterable[dict[str, Any]]) -> Importance:
    """Accumulate ``|dL/dgate|`` for every head and FFN neuron over ``batches`` (the task's own loss)."""
    import torch

    layers = encoder_layers(model)
    head_gates = [torch.ones(b.attention.self.num_attention_heads, requires_grad=True) for b in layers]
    neuron_gates = [torch.ones(b.intermediate.dense.out_features, requires_grad=True) for b in layers]
    head_scores = [torch.zeros_like(g) for g in head_gates]
    neuron_scores = [torch.zeros_like(g) for g in neuron_gates]
    hooks = []
    for block, head_gate, neuron_gate in zip(layers, head_gates, neuron_gates, strict=True):
        size = block.attention.self.attention_head_size
        hooks.append(block.attention.output.dense.register_forward_pre_hook(_gate(head_gate, size)))
        hooks.append(block.output.dense.register_forward_pre_hook(_gate(neuron_gate, 1)))
    was_training = model.training
    model.eval()  # no dropout: the scores describe the model as it predicts
    requires = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    count = 0
    try:
        for batch in batches:
            loss = model(**batch).loss
            if loss is None:
                raise UsageError(
                    "--method heads: the validation batches carry no labels, so there is no loss to rank by"
                )
            gates = [*head_gates, *neuron_gates]
            grads = torch.autograd.grad(loss, gates)
            for score, grad in zip([*head_scores, *neuron_scores], grads, strict=True):
                score += grad.abs()
            count += 1
    finally:
        for hook in hooks:
            hook.remove()
        for param, flag in zip(model.parameters(), requires, strict=True):
            param.requires_grad_(flag)
        model.train(was_training)
    if not count:
        raise UsageError("--method heads: the validation split is empty; importance needs validation data")
    return Importance([_normalised(s) for s in head_scores], [_normalised(s) for s in neuron_scores], count)


def _gate(gate: Any, width: int) -> Any:
    """A pre-hook multiplying the projection's input by ``gate``, each value repeated ``width`` times."""

    def hook(_module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        scale = gate.repeat_interleave(width) if width > 1 else gate
        return (args[0] * scale.to(args[0].dtype), *args[1:])

    return hook


def _normalised(scores: Any) -> Any:
    norm = scores.norm(p=2)
    return scores / norm if float(norm) > 0 else scores


def heads_to_remove(heads: list[Any], amount: float) -> dict[int, list[int]]:
    """The ``amount`` share of all heads with the lowest scores, ranked across layers, never a layer's last."""
    ranked = sorted((float(s), layer, h) for layer, scores in enumerate(heads) for h, s in enumerate(scores))
    target = round(amount * len(ranked))
    left = {layer: len(scores) for layer, scores in enumerate(heads)}
    chosen: dict[int, list[int]] = {}
    for _score, layer, head in ranked:
        if sum(len(v) for v in chosen.values()) >= target:
            break
        if left[layer] > 1:
            chosen.setdefault(layer, []).append(head)
            left[layer] -= 1
    return {layer: sorted(v) for layer, v in sorted(chosen.items())}


def neurons_to_keep(neurons: list[Any], amount: float) -> dict[int, list[int]]:
    """Per layer, the FFN neurons left after removing the ``amount`` share with the lowest scores.

    The same count goes from every layer, so one ``intermediate_size`` describes the pruned model and a plain
    ``from_pretrained`` can build it.
    """
    width = len(neurons[0])
    keep = max(1, width - round(amount * width))
    return {
        layer: sorted(int(i) for i in scores.argsort(descending=True)[:keep]) for layer, scores in enumerate(neurons)
    }
