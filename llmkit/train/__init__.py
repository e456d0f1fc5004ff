"""Training, evaluation and validation: the layer that builds tokenizer, model, datasets and Trainer.

The names below are the layer's door for the CLI and export. They resolve on first use (PEP 562), so
that importing one light module of this package (``train.rundir`` for `llmkit runs`) loads nothing else.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module of this package that defines it
EXPORTS = {
    "RunOptions": "results",
    "RunResult": "results",
    "SplitResult": "results",
    "EvalResult": "results",
    "LoadedModel": "results",
    "ValidationReport": "results",
    "quiet_libraries": "libraries",
    "build_training_args": "arguments",
    "apply_hardware_rules": "arguments",
    "Inputs": "setup",
    "load_inputs": "setup",
    "prepare_task": "setup",
    "training_texts": "setup",
    "check_truncation": "setup",
    "resolve_target": "setup",
    "build_model": "model",
    "loss_uses_item_count": "model",
    "apply_peft": "model",
    "save_peft_extras": "model",
    "build_trainer": "trainer",
    "evaluate_split": "trainer",
    "train": "run",
    "keep_limit": "run",
    "FINAL_STAGING": "finish",
    "SAMPLE_ROWS": "finish",
    "run_summary": "finish",
    "write_report": "finish",
    "data_fingerprints": "resume",
    "check_resume_compatible": "resume",
    "evaluate": "evaluation",
    "load_for_inference": "inference",
    "task_for_config": "inference",
    "validate": "validation",
    "resolve_source_kind": "validation",
}

__all__ = sorted(EXPORTS)


def __getattr__(name: str) -> Any:
    module = EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *EXPORTS})
