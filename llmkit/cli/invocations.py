"""The typed objects a command body receives: one frozen dataclass per command, built from its options.

They replace a ``dict(locals())`` of flags: a misspelt field is an error the type checker sees. Stdlib
dataclasses, not pydantic, and imported only when a command runs (building them costs a few ms that
``llmkit --help`` need not pay).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from llmkit.cli.launch import Topology


@dataclass(frozen=True)
class TrainInvocation:
    """`llmkit finetune|pretrain` options besides RECIPE and the overrides."""

    output_dir: Path | None = None
    from_run: Path | None = None
    resume: bool = False
    overwrite: bool = False
    allow_config_change: bool = False
    strict: bool = False
    dry_run: bool = False
    debug: bool = False
    verbose: bool = False
    topology: Topology = field(default_factory=Topology)

    def worker_flags(self) -> list[str]:
        """The switches a launched worker repeats (not --from-run, --dry-run or the launch options)."""
        names = ("resume", "overwrite", "allow_config_change", "strict", "debug", "verbose")
        return ["--" + name.replace("_", "-") for name in names if getattr(self, name)]


@dataclass(frozen=True)
class Decoding:
    """`llmkit generate`'s decoding options as typed (llmkit's names, as in a recipe's `generate:`); None: not set."""

    max_new_tokens: int | None = None
    greedy: bool | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    num_beams: int | None = None
    num_return_sequences: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_k_fill: int | None = None

    def chosen(self) -> dict[str, Any]:
        """The options the user set, under llmkit's names (``--greedy`` -> ``do_sample: False``)."""
        typed_as_is = (f.name for f in fields(self) if f.name not in ("greedy", "stop"))
        options: dict[str, Any] = {key: getattr(self, key) for key in typed_as_is}
        options["do_sample"] = None if self.greedy is None else not self.greedy
        options["stop"] = list(self.stop) or None
        return {key: value for key, value in options.items() if value is not None}


@dataclass(frozen=True)
class GenerateInvocation:
    """What `llmkit generate` was given (--debug goes to the guard, not the body)."""

    model: str
    prompts: tuple[str, ...] = ()
    input_file: Path | None = None
    output: Path | None = None
    overwrite: bool = False
    question: str | None = None
    context: str | None = None
    choices: tuple[str, ...] = ()
    task: str | None = None
    chat: bool = False
    batch_size: int = 8
    dtype: str | None = None
    device: str | None = None
    as_json: bool = False
    verbose: bool = False
    decoding: Decoding = field(default_factory=Decoding)


@dataclass(frozen=True)
class EvalInvocation:
    """What `llmkit eval` was given (--debug goes to the guard, not the body)."""

    target: str
    overrides: tuple[str, ...] = ()
    data: Path | None = None
    split: str | None = None
    predictions: Path | None = None
    overwrite: bool = False
    as_json: bool = False
    verbose: bool = False


@dataclass(frozen=True)
class ExplainInvocation:
    """`llmkit explain` options."""

    model: str
    prompt: str | None = None
    question: str | None = None
    context: str | None = None
    method: str = "integrated-gradients"
    target: str | None = None
    task: str | None = None
    steps: int = 50
    max_new_tokens: int = 20
    output: Path | None = None
    overwrite: bool = False
    as_json: bool = False
    device: str | None = None
    verbose: bool = False
