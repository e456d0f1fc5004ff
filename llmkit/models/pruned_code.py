"""Loading code for a head-pruned BERT-style model: llmkit copies this file next to the weights.

transformers 5 removed ``prune_heads`` and builds every layer of a BERT-style encoder with
``config.num_attention_heads`` heads, so the sliced weights of a head-pruned model do not fit a plain
``from_pretrained``. The Hub's answer for a layout the library cannot describe is custom code named in
``config.json``'s ``auto_map``: with this file beside the weights,
``AutoModelFor*.from_pretrained(folder, trust_remote_code=True)`` builds the model, removes the heads that
``config.pruned_heads`` names (layer -> head indices of the unpruned layer, transformers 4's format) and then
loads the weights. The file imports only torch: it travels with the model, without llmkit. llmkit's own loader
uses the same slicing (``llmkit.models.pruning``) and never runs the copied file.
"""

from __future__ import annotations

from typing import Any

import torch

CLASS_PREFIX = "Pruned"


def slice_linear(linear: Any, index: Any, dim: int) -> Any:
    """A new ``nn.Linear`` keeping ``index`` along ``dim`` of the weight (0: outputs, 1: inputs)."""
    weight = linear.weight.index_select(dim, index).detach().clone()
    has_bias = linear.bias is not None
    new = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=has_bias, device=weight.device, dtype=weight.dtype)
    new.weight.data.copy_(weight)
    if has_bias:
        bias = linear.bias if dim == 1 else linear.bias.index_select(0, index)
        new.bias.data.copy_(bias.detach())
    new.weight.requires_grad = linear.weight.requires_grad
    return new


def slice_heads(block: Any, drop: list[int]) -> list[int]:
    """Remove the heads ``drop`` (indices in the block as it is now) from one encoder block; the kept ones."""
    own = block.attention.self
    size, count = own.attention_head_size, own.num_attention_heads
    keep = [h for h in range(count) if h not in set(drop)]
    if not keep:
        raise ValueError("cannot remove every attention head of a layer; keep at least one")
    index = torch.tensor([h * size + i for h in keep for i in range(size)], dtype=torch.long)
    own.query = slice_linear(own.query, index, 0)
    own.key = slice_linear(own.key, index, 0)
    own.value = slice_linear(own.value, index, 0)
    block.attention.output.dense = slice_linear(block.attention.output.dense, index, 1)
    own.num_attention_heads = len(keep)
    own.all_head_size = len(keep) * size
    return keep


def remove_recorded_heads(model: Any) -> None:
    """Remove every head ``model.config.pruned_heads`` records (numbered as in the unpruned layers)."""
    recorded = getattr(model.config, "pruned_heads", None) or {}
    blocks = model.base_model.encoder.layer
    for layer, heads in sorted((int(k), sorted({int(h) for h in v})) for k, v in recorded.items()):
        if heads:
            slice_heads(blocks[layer], heads)


class PrunedHeadsMixin:
    """Builds the usual model, then removes the recorded heads before ``from_pretrained`` loads the weights."""

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        remove_recorded_heads(self)
