"""Unstructured magnitude pruning of the linear layers with ``torch.nn.utils.prune``, made permanent.

``global`` ranks every prunable weight of the model together (``global_unstructured``), so layers with many
small weights lose more; ``layer`` removes the same share from each layer (``l1_unstructured``). Either way
``prune.remove`` folds the mask into the weight: the result is a plain dense model with zeros in it, which is
why it is no smaller and no faster unless stored or run in a sparse format. Recovery steps would let the
optimizer regrow those weights, so ``keep_zeros`` gives the training run a callback that zeroes them again
after every optimizer step (the mask is the set of weights that are exactly zero when training starts).
"""

from __future__ import annotations

from typing import Any

SCOPES = ("global", "layer")


def prunable_linears(model: Any) -> list[Any]:
    """The linear layers (``nn.Linear``, and GPT-2's ``Conv1D``) whose weights are pruned.

    An output layer tied to the input embeddings is left out: zeroing it would zero the embeddings too.
    """
    import torch
    from transformers.pytorch_utils import Conv1D

    embeddings = model.get_input_embeddings()
    tied = embeddings.weight.data_ptr() if embeddings is not None else None
    return [
        module
        for module in model.modules()
        if isinstance(module, torch.nn.Linear | Conv1D) and module.weight.data_ptr() != tied
    ]


def magnitude_prune(model: Any, sparsity: float, scope: str) -> float:
    """Zero the ``sparsity`` share of smallest-magnitude linear weights, globally or per layer; return the share
    of zeros reached."""
    from torch.nn.utils import prune

    modules = prunable_linears(model)
    targets = [(module, "weight") for module in modules]
    if scope == "global":
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=sparsity)
    else:
        for module, name in targets:
            prune.l1_unstructured(module, name, amount=sparsity)
    for module, name in targets:
        prune.remove(module, name)
    return zero_share(modules)


def zero_share(modules: list[Any]) -> float:
    """The share of exact zeros in the weights of ``modules``."""
    total = sum(m.weight.numel() for m in modules)
    zeros = sum(int((m.weight == 0).sum()) for m in modules)
    return zeros / total if total else 0.0


def keep_zeros() -> Any:
    """A TrainerCallback that keeps the zeroed linear weights at zero while recovery steps train the model."""
    import torch
    from transformers import TrainerCallback

    class KeepZeros(TrainerCallback):
        def __init__(self) -> None:
            self.masks: list[tuple[Any, Any]] = []

        def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            self.masks = [(m.weight, m.weight == 0) for m in prunable_linears(model)]

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            with torch.no_grad():
                for weight, mask in self.masks:
                    weight.masked_fill_(mask, 0.0)

    return KeepZeros()
