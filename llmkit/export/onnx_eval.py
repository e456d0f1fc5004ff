"""Scoring an ONNX graph with the run's own evaluation: a module whose logits come from ONNX Runtime."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmkit.errors import ModelError
from llmkit.export.onnx import _session
from llmkit.export.results import OnnxCheck

LOGIT_OUTPUTS = ("logits", "start_logits", "end_logits")


def _loss_kind(model: Any) -> str | None:
    """Which transformers head loss ``model`` uses, when it is one the ONNX Runtime module can compute."""
    from transformers.loss.loss_utils import LOSS_MAPPING

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    function = base.loss_function  # the class's loss; transformers falls back to ForCausalLM's for LM heads
    kinds = ("ForCausalLM", "ForMaskedLM", "ForSequenceClassification", "ForQuestionAnswering")
    return next((kind for kind in kinds if function is LOSS_MAPPING[kind]), None)


def _onnx_eval_gap(model: Any, task: Any, checks: list[OnnxCheck]) -> str | None:
    """Why the validation metric cannot be scored through ONNX Runtime, or None when it can."""
    if task.seq2seq or "model.onnx" not in {c.file for c in checks}:
        return f"task {task.name} evaluates by generating text; ONNX Runtime scoring covers single-graph models"
    if _loss_kind(model) is None:
        return f"the ONNX Runtime evaluation does not know the loss of {type(model).__name__}"
    return None


def _feed(path: Path, names: list[str], batch: dict[str, Any]) -> dict[str, Any]:
    """The graph's inputs from an evaluation batch, with the defaults the PyTorch model uses when given none."""
    import torch

    ids = batch["input_ids"]
    feed = {}
    for name in names:
        value = batch.get(name)
        if value is None and name == "position_ids":
            value = torch.arange(ids.shape[1]).expand(ids.shape[0], -1)
        if value is None and name == "token_type_ids":
            value = torch.zeros_like(ids)
        if value is None:
            raise ModelError(f"{path}: the evaluation batch has no '{name}' for the ONNX graph")
        feed[name] = value.detach().cpu().long().numpy()  # the graphs take int64 ids and masks
    return feed


def onnx_runtime_model(path: Path) -> Callable[[Any], Any]:
    """A ``model_transform`` for `llmkit.runner.evaluate`: the PyTorch model becomes a module whose logits come
    from ONNX Runtime running ``path``, so the run's own evaluation (collator, Trainer, compute_metrics) scores
    the graph. Its forward has the model's signature, so Trainer keeps the same columns and label names, and the
    loss is the head's usual one, computed from the graph's logits."""
    import inspect

    import torch
    from transformers.loss.loss_utils import LOSS_MAPPING
    from transformers.utils import ModelOutput

    def transform(model: Any) -> Any:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        kind = _loss_kind(base)
        session = _session(path)
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]

        class Graph(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.config, self.main_input_name = base.config, getattr(base, "main_input_name", "input_ids")

            def forward(self, **batch: Any) -> Any:
                got = dict(zip(outputs, session.run(None, _feed(path, inputs, batch)), strict=True))
                logits = {k: torch.from_numpy(got[k]) for k in LOGIT_OUTPUTS if k in got}
                loss = _head_loss(kind, logits, batch, base.config, LOSS_MAPPING)
                return ModelOutput(**({"loss": loss} if loss is not None else {}), **logits)

        Graph.forward.__signature__ = inspect.signature(type(base).forward)  # type: ignore[attr-defined]
        # Named after the model's class: Trainer finds QA label names by "QuestionAnswering" in the class name.
        Graph.__name__ = Graph.__qualname__ = f"OnnxRuntime{type(base).__name__}"
        return Graph()

    return transform


def _head_loss(kind: str | None, logits: dict[str, Any], batch: dict[str, Any], config: Any, losses: Any) -> Any:
    """The head's loss from the graph's logits (per-batch mean, as the PyTorch heads compute it), or None."""
    if kind == "ForQuestionAnswering":
        start, end = batch.get("start_positions"), batch.get("end_positions")
        if start is None or end is None:
            return None
        return losses[kind](logits["start_logits"], logits["end_logits"], start, end)
    labels = batch.get("labels")
    if labels is None:
        return None
    if kind in ("ForCausalLM", "ForMaskedLM"):
        return losses[kind](logits["logits"], labels, vocab_size=config.vocab_size)
    if kind == "ForSequenceClassification":
        return losses[kind](labels, logits["logits"], config)
    return None
