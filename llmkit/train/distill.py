"""Knowledge distillation: train the recipe's model on a teacher's softened outputs plus the task loss.

The loss is Hinton et al.'s: ``alpha * T² * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels)``,
per example (classification) or per predicted token (causal LM, labels shifted as the model does). It is a
``compute_loss_func`` for Trainer; Trainer hands that function the outputs and labels but not the inputs, so
a forward pre-hook on the student keeps the last training inputs for the teacher to read.
"""

from __future__ import annotations

from typing import Any

from llmkit.errors import ConfigError


def distillation_loss(
    student_logits: Any,
    teacher_logits: Any,
    labels: Any,
    temperature: float,
    alpha: float,
    shift: bool,
    num_items_in_batch: Any = None,
) -> Any:
    """The combined loss, summed over items and divided by ``num_items_in_batch`` (else averaged)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    if shift:  # position t predicts token t+1, as causal LM heads compute their loss
        student_logits, teacher_logits, labels = (
            student_logits[..., :-1, :],
            teacher_logits[..., :-1, :],
            labels[..., 1:],
        )
    classes = student_logits.shape[-1]
    student = student_logits.reshape(-1, classes).float()
    teacher = teacher_logits.reshape(-1, classes).float()
    labels = labels.reshape(-1).to(student.device)
    keep = labels != -100
    log_p = F.log_softmax(student[keep] / temperature, dim=-1)
    log_q = F.log_softmax(teacher[keep] / temperature, dim=-1)
    kl = (log_q.exp() * (log_q - log_p)).sum(-1) * temperature**2
    ce = F.cross_entropy(student[keep], labels[keep], reduction="none")
    total = (alpha * kl + (1 - alpha) * ce).sum()
    count = num_items_in_batch if num_items_in_batch is not None else torch.clamp(keep.sum(), min=1)
    return total / count


def build_loss(recipe: Any, task: Any, student: Any, tokenizer_vocab: int | None = None) -> Any:
    """A ``compute_loss_func`` that distills ``recipe.distill.teacher`` into ``student`` (hooked here)."""
    import torch

    from llmkit.train.inference import load_for_inference

    section = recipe.distill
    layout = task.distill  # the task's logit layout: (batch, classes) or (batch, tokens, vocabulary)
    if layout is None:  # the recipe loader refuses this first; kept for callers that skip it
        raise ConfigError(
            f"distill: task '{recipe.task}' is not supported (distillation works for classification and causal LM)"
        )
    try:
        teacher = load_for_inference(section.teacher, task_name=recipe.task).model
    except Exception as exc:
        raise ConfigError(f"distill.teacher: cannot load '{section.teacher}': {exc}".splitlines()[0]) from exc
    teacher.eval().requires_grad_(False)
    teacher_classes = teacher.get_output_embeddings() if layout.match == "vocabulary" else None
    if teacher_classes is not None and student.get_output_embeddings() is not None:
        t, s = teacher_classes.weight.shape[0], student.get_output_embeddings().weight.shape[0]
        if t != s:
            raise ConfigError(f"distill.teacher: vocabulary of {t} tokens, the student has {s}; use the same tokenizer")
    if (
        getattr(teacher.config, "num_labels", None) != getattr(student.config, "num_labels", None)
        and teacher_classes is None
    ):
        raise ConfigError(
            f"distill.teacher: {teacher.config.num_labels} labels, the student has {student.config.num_labels}"
        )
    shift = layout.shift_labels
    last: dict[str, Any] = {}

    def keep_inputs(module: Any, _args: Any, kwargs: dict[str, Any]) -> None:
        last.clear()
        last.update({k: v for k, v in kwargs.items() if k not in ("labels", "num_items_in_batch")})
        last["__training__"] = module.training

    student.register_forward_pre_hook(keep_inputs, with_kwargs=True)

    def compute_loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        logits = outputs["logits"]
        if labels is None:
            raise ConfigError("distill: the batches carry no labels for the task loss")
        inputs = {k: v for k, v in last.items() if k != "__training__"}
        if not last.get("__training__"):  # evaluation reports the plain task loss, comparable across runs
            return distillation_loss(logits, logits, labels, 1.0, 0.0, shift, num_items_in_batch)
        teacher.to(logits.device)
        with torch.no_grad():
            teacher_logits = teacher(**inputs).logits
        return distillation_loss(
            logits, teacher_logits, labels, section.temperature, section.alpha, shift, num_items_in_batch
        )

    return compute_loss
