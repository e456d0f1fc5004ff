"""The result of one explanation, as the terminal view, the HTML page and ``--json`` read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmkit.explain.methods import Attention


@dataclass
class ExplainedTarget:
    """One explained output (a label, a span end, a generated token) and its attribution per input token."""

    name: str
    label: str
    score: float
    attributions: list[float]
    convergence_delta: float | None = None
    baseline_score: float | None = None
    cross_attention: list[float] | None = None

    def to_json(self) -> dict[str, Any]:
        found = {
            "name": self.name,
            "label": self.label,
            "score": self.score,
            "baseline_score": self.baseline_score,
            "attributions": self.attributions,
            "convergence_delta": self.convergence_delta,
        }
        if self.cross_attention is not None:
            found["cross_attention"] = self.cross_attention
        return found


@dataclass
class Explained:
    """What `llmkit explain` found: the prediction, the input tokens and one attribution per token.

    With several targets (a QA span's start and end, a seq2seq model's generated tokens) ``attributions`` is
    their sum and ``convergence_delta`` the sum of theirs: completeness holds for the sum as for each term.
    """

    task: str
    method: str
    prediction: Any
    score: float
    tokens: list[str]
    targets: list[ExplainedTarget]
    seconds: float
    steps: int | None = None
    attention: Attention | None = None
    generated: list[str] = field(default_factory=list)  # seq2seq: the generated tokens (rows of cross maps)

    @property
    def attributions(self) -> list[float]:
        return [sum(values) for values in zip(*(t.attributions for t in self.targets), strict=True)]

    @property
    def convergence_delta(self) -> float | None:
        deltas = [t.convergence_delta for t in self.targets]
        return None if any(d is None for d in deltas) else float(sum(deltas))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object: one attribution per token, the completeness check, each target."""
        return {
            "task": self.task,
            "method": self.method,
            "prediction": self.prediction,
            "score": self.score,
            "tokens": self.tokens,
            "attributions": self.attributions,
            "convergence_delta": self.convergence_delta,
            "steps": self.steps,
            "seconds": round(self.seconds, 4),
            "targets": [t.to_json() for t in self.targets],
        }
