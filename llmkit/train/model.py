"""Building the model a run trains or scores: config kwargs from the task, embeddings, LoRA adapters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmkit.config import Recipe
from llmkit.models import base_reference, load_model
from llmkit.tasks.spec import Prepared, TaskSpec
from llmkit.train import trainer_api


def build_model(recipe: Recipe, task: TaskSpec, tokenizer: Any, model_config: Any, prepared: Prepared) -> Any:
    """Apply the task's model kwargs to the config, then build or load the model."""
    for key, value in prepared.model_kwargs.items():
        setattr(model_config, key, value)
    if tokenizer.pad_token_id is not None and getattr(model_config, "pad_token_id", None) is None:
        model_config.pad_token_id = tokenizer.pad_token_id
    if task.load_model is not None:
        model = task.load_model(recipe.model, model_config, recipe=recipe, tokenizer=tokenizer)
    else:
        model = load_model(recipe.model, task.auto_model, model_config)
    if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer))
    trainer_api.disable_loss_kwargs(model, when=lambda m: not loss_uses_item_count(m))
    return model


def loss_uses_item_count(model: Any) -> bool:
    """Whether the model's loss divides by Trainer's ``num_items_in_batch`` (causal LMs) or is a plain mean.

    Trainer assumes every model whose forward takes ``**kwargs`` does the former: it then skips dividing
    by ``gradient_accumulation_steps`` and multiplies by the process count. For a mean loss (BERT
    classifiers, QA, masked LM, T5) that doubles the loss and gradients with 2 accumulation steps or 2 ranks.
    """
    import inspect

    try:
        source = inspect.getsource(type(model).forward)
    except (OSError, TypeError):
        return True  # cannot tell: keep Trainer's own choice
    if "self.loss_function" not in source:
        return False
    try:
        return "num_items_in_batch" in inspect.signature(model.loss_function).parameters
    except (AttributeError, TypeError, ValueError):
        return True


def apply_peft(recipe: Recipe, task: TaskSpec, model: Any) -> Any:
    """Wrap the model in LoRA adapters when the recipe has a ``peft`` section (the one place that does)."""
    if recipe.peft is None:
        return model
    from llmkit.models import adapters

    base = base_reference(recipe.model.name_or_path)
    wrapped = adapters.wrap(model, recipe.peft, task.peft_task_type, base, recipe.model.revision)
    if recipe.training.gradient_checkpointing:
        # Frozen embeddings give checkpointed blocks inputs without grad; LoRA then gets no gradient.
        wrapped.enable_input_require_grads()
    return wrapped


def save_peft_extras(model: Any, run_dir: Path) -> dict[str, Any]:
    """Beside the adapter: the base config (labels) so the run reloads; sizes for the summary."""
    from llmkit.models import adapters

    base = model.get_base_model()
    base.config.save_pretrained(str(run_dir))
    counts = adapters.parameter_counts(model)
    weights = run_dir / adapters.ADAPTER_WEIGHTS
    full = sum(p.numel() * p.element_size() for p in base.parameters())
    return {
        **counts,
        "adapter_bytes": weights.stat().st_size if weights.is_file() else 0,
        "full_model_bytes": full,
    }
