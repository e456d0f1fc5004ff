"""Scoring an ONNX graph with the run's own evaluation: a module whose logits come from ONNX Runtime."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.errors import ModelError
from llmkit.export.onnx import _session
from llmkit.export.results import OnnxCheck

if TYPE_CHECKING:
    from llmkit.tasks.spec import TaskSpec


def _uses_standard_loss(model: Any, task: TaskSpec) -> bool:
    """Whether ``model`` computes ``task``'s usual head loss (``task.loss_kind``), which ``task.head_loss`` can
    then compute from a graph's logits."""
    from transformers.loss.loss_utils import LOSS_MAPPING

    if task.loss_kind is None or task.head_loss is None:
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    # the class's loss; transformers falls back to ForCausalLM's for LM heads whose class name says no head kind
    return base.loss_function is LOSS_MAPPING[task.loss_kind]


def _task_by_loss(model: Any) -> TaskSpec | None:
    """The task whose usual head loss ``model`` computes, for a transform made without its task."""
    from llmkit.tasks import TASKS, get_task

    return next((spec for spec in map(get_task, TASKS) if _uses_standard_loss(model, spec)), None)


def _onnx_eval_gap(model: Any, task: TaskSpec, checks: list[OnnxCheck]) -> str | None:
    """Why the validation metric cannot be scored through ONNX Runtime, or None when it can."""
    if task.onnx_eval_gap:
        return f"task {task.name} {task.onnx_eval_gap}"
    files = [c.file for c in checks]
    if "model.onnx" not in files:
        return f"ONNX Runtime scoring covers single-graph models (model.onnx); this export has {', '.join(files)}"
    if not _uses_standard_loss(model, task):
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


def onnx_runtime_model(path: Path, task: TaskSpec | None = None) -> Callable[[Any], Any]:
    """A ``model_transform`` for `llmkit.train.evaluate`: the PyTorch model becomes a module whose logits come
    from ONNX Runtime running ``path``, so the run's own evaluation (collator, Trainer, compute_metrics) scores
    the graph. Its forward has the model's signature, so Trainer keeps the same columns and label names, and the
    loss is the head's usual one (``task.head_loss``), computed from the graph's logits (``task.logit_outputs``).
    Without ``task``, the task whose head loss the model computes."""
    import inspect

    import torch
    from transformers.utils import ModelOutput

    def transform(model: Any) -> Any:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        spec = task or _task_by_loss(base)
        head_loss = spec.head_loss if spec is not None and _uses_standard_loss(base, spec) else None
        session = _session(path)
        inputs = [i.name for i in session.get_inputs()]
        outputs = [o.name for o in session.get_outputs()]
        # the graph's logits: the task's names, or without a task every output but a causal LM's cache
        names = spec.logit_outputs if spec is not None else [n for n in outputs if not n.startswith("present.")]

        class Graph(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.config, self.main_input_name = base.config, getattr(base, "main_input_name", "input_ids")

            def forward(self, **batch: Any) -> Any:
                got = dict(zip(outputs, session.run(None, _feed(path, inputs, batch)), strict=True))
                logits = {k: torch.from_numpy(got[k]) for k in names if k in got}
                loss = head_loss(logits, batch, base.config) if head_loss is not None else None
                return ModelOutput(**({"loss": loss} if loss is not None else {}), **logits)

        Graph.forward.__signature__ = inspect.signature(type(base).forward)  # type: ignore[attr-defined]
        # Named after the model's class: Trainer finds QA label names by "QuestionAnswering" in the class name.
        Graph.__name__ = Graph.__qualname__ = f"OnnxRuntime{type(base).__name__}"
        return Graph()

    return transform
