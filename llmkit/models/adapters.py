"""LoRA adapters through PEFT: wrapping a model for training, and loading a base model plus adapter.

Everything here is generic over tasks: the adapter targets come from the architecture, the head that
stays fully trainable is found from the model's own structure, and PEFT's task type from the Auto
class the task names. PEFT is an optional extra (``llmkit[peft]``); it is imported only when used.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from llmkit.config import PeftSection

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"

# LoRA targets per model_type where we choose differently from (or want to be sure of) PEFT's table.
DEFAULT_TARGETS: dict[str, list[str]] = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "gpt2": ["c_attn"],
    "t5": ["q", "v"],
    "mt5": ["q", "v"],
}


# PEFT's task type per transformers Auto class: it decides the wrapper's forward and generate.
def _require_peft() -> Any:
    try:
        import peft
    except ImportError:
        raise ConfigError(
            "peft: LoRA needs the peft package; install it with `pip install 'llmkit[peft]'` (or `pip install peft`)"
        ) from None
    return peft


def is_adapter_dir(path: str | Path) -> bool:
    """Whether a directory holds a PEFT adapter (and so needs its base model to load)."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def default_target_modules(model_type: str) -> list[str] | None:
    """LoRA targets for an architecture: ours, else PEFT's mapping, else None (PEFT decides or refuses)."""
    if model_type in DEFAULT_TARGETS:
        return list(DEFAULT_TARGETS[model_type])
    try:
        from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as MAPPING
    except ImportError:
        return None
    found = MAPPING.get(model_type)
    return list(found) if found else None


def head_modules(model: Any) -> list[str]:
    """Top-level modules outside the base model that hold parameters: the task head.

    ``BertForSequenceClassification`` -> ``classifier``, ``GPT2ForSequenceClassification`` -> ``score``,
    ``*ForQuestionAnswering`` -> ``qa_outputs``. A module holding the output embeddings (an LM head,
    vocabulary-sized and usually tied to the input embeddings) is left out: saving it would make the
    adapter as big as the model. Models without a separate base (T5) have no head to save.
    """
    prefix = getattr(model, "base_model_prefix", "")
    if not prefix or not hasattr(model, prefix):
        return []
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    heads = []
    for name, module in model.named_children():
        if name == prefix or not any(True for _ in module.parameters()):
            continue
        if output is not None and any(sub is output for sub in module.modules()):
            continue
        heads.append(name)
    return heads


def wrap(model: Any, section: PeftSection, task_type: str | None, base_ref: str, revision: str | None = None) -> Any:
    """``get_peft_model`` with llmkit's defaults; ``task_type`` is the task's PEFT type (``TaskSpec.peft_task_type``),
    ``base_ref`` is recorded so the adapter can be reloaded."""
    peft = _require_peft()
    model_type = getattr(model.config, "model_type", "")
    targets = section.target_modules if section.target_modules is not None else default_target_modules(model_type)
    if targets is None:
        raise ConfigError(
            f"peft.target_modules: no default LoRA targets for model type '{model_type}'; list the linear layers "
            "to adapt, e.g. peft.target_modules=[q_proj,v_proj]"
        )
    to_save = section.modules_to_save if section.modules_to_save is not None else head_modules(model)
    model.name_or_path = base_ref  # what get_peft_model records as the base model
    config = peft.LoraConfig(
        r=section.r,
        lora_alpha=section.alpha,
        lora_dropout=section.dropout,
        target_modules=targets,
        modules_to_save=to_save or None,
        bias=section.bias,
        fan_in_fan_out=_targets_conv1d(model, targets),
        task_type=task_type,
        base_model_name_or_path=base_ref,
        revision=revision,
    )
    try:
        wrapped = peft.get_peft_model(model, config)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"peft.target_modules: {first}") from None
    wrapped.peft_config["default"].base_model_name_or_path = base_ref  # get_peft_model overwrites it
    return wrapped


def _targets_conv1d(model: Any, targets: list[str] | str) -> bool:
    """GPT-2 style ``Conv1D`` layers store weights transposed; LoRA must know (PEFT warns otherwise)."""
    from transformers.pytorch_utils import Conv1D

    if isinstance(targets, str):
        return False
    return any(isinstance(m, Conv1D) for name, m in model.named_modules() if name.rsplit(".", 1)[-1] in targets)


def parameter_counts(model: Any) -> dict[str, int]:
    """Trainable and total parameter counts (what LoRA saves)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable_params": trainable, "total_params": total}


def read_adapter_config(path: str | Path) -> dict[str, Any]:
    """The adapter's ``adapter_config.json`` (its base model and revision)."""
    file = Path(path) / ADAPTER_CONFIG
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"model.name_or_path: unreadable adapter config {file}: {exc}") from None


def attach(base_model: Any, adapter_dir: str | Path, trainable: bool = False) -> Any:
    """Load the adapter in ``adapter_dir`` onto an already built base model."""
    from llmkit.models import safeload

    peft = _require_peft()
    folder = Path(adapter_dir)
    # PEFT reads the safetensors file, else adapter_model.bin (with weights_only=True): check that one first.
    weights = [folder / ADAPTER_WEIGHTS] if (folder / ADAPTER_WEIGHTS).is_file() else [folder / "adapter_model.bin"]
    problem = safeload.first_problem([p for p in weights if p.is_file()])
    if problem is not None:
        raise ModelError(f"model.name_or_path: cannot load the adapter weights {problem[0]}: {problem[1]}")
    return peft.PeftModel.from_pretrained(base_model, str(adapter_dir), is_trainable=trainable)


def merge(model: Any) -> Any:
    """Fold LoRA updates into the base weights: a plain transformers model again."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
