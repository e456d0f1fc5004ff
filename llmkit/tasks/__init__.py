"""The task registry: YAML ``task:`` value -> module holding its ``TASK`` spec, imported on demand."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from llmkit.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from llmkit.tasks.spec import TaskSpec

TASKS: dict[str, str] = {
    "textcls": "llmkit.tasks.textcls",
    "clm": "llmkit.tasks.clm",
    "mlm": "llmkit.tasks.mlm",
    "translation": "llmkit.tasks.translation",
    "qa": "llmkit.tasks.qa",
    "summarization": "llmkit.tasks.summarization",
    "multiple_choice": "llmkit.tasks.multiple_choice",
    "tokencls": "llmkit.tasks.tokencls",
    "sft": "llmkit.tasks.sft",
    "dpo": "llmkit.tasks.dpo",
}


def get_task(name: str) -> TaskSpec:
    """Import and return the spec of task ``name``; unknown names raise a ConfigError with a suggestion."""
    if name not in TASKS:
        raise ConfigError(f"task: unknown task '{name}'{did_you_mean(name, TASKS)} (known: {', '.join(TASKS)})")
    return importlib.import_module(TASKS[name]).TASK
