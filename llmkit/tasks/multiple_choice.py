"""Multiple choice (SWAG, ARC-style): pick the right one of N choices for a question or context.

As transformers' ``run_swag.py`` does, each (question, choice) pair is tokenized as a text pair, so one example
is a ``(choices, seq_len)`` block of token ids; the collator pads every pair of a batch to one length and
reshapes it to ``(batch, choices, seq_len)``, and ``AutoModelForMultipleChoice`` scores each choice (one logit
per choice, softmax over the choices). Any number of choices works, the same within a split; the rows and their
checks are in ``llmkit.tasks.multiple_choice_rows``. The metric is accuracy, as in ``run_swag.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from llmkit.config import DataSection
from llmkit.errors import UsageError
from llmkit.tasks.multiple_choice_rows import read_examples
from llmkit.tasks.spec import DataSummary, Details, PrepareContext, Prepared, Shown, TaskSpec

BUILTIN_METRICS = ("accuracy",)
PAIR_KEYS = ("input_ids", "attention_mask", "token_type_ids")  # what the tokenizer gives per (question, choice)
# Export's sample inputs: two questions (SAMPLE_TEXTS there) with these choices, so graphs see 3-D ids.
SAMPLE_CHOICES = ("a cat", "a cake", "a hammer")


class MultipleChoiceData(DataSection):
    """Data section of a multiple-choice recipe."""

    question_column: str = Field(
        "question", description="Column holding the question or context every choice is paired with (SWAG: sent1)."
    )
    choices_column: str | list[str] = Field(
        "choices",
        description="Column holding the list of choices (a JSON list in CSV files), or a list of columns, one "
        "per choice (SWAG: [ending0, ending1, ending2, ending3]).",
    )
    choice_prefix_column: str | None = Field(
        None, description="Column whose text starts every choice, followed by a space (SWAG: sent2)."
    )
    label_column: str = Field("label", description="Column holding the index of the right choice (0-based).")
    id_column: str | None = Field(None, description="Column used as example id in predictions (default: row number).")


# ---------------------------------------------------------------------------------------------
# Features


def encode(
    tokenizer: Any, questions: list[str], choices: list[list[str]], max_length: int
) -> tuple[dict[str, list[Any]], list[bool]]:
    """One ``(choices, seq_len)`` block of token ids per question; per question, whether a pair was truncated.

    Pairs longer than ``max_length`` are re-tokenized with truncation (longest first, as ``run_swag.py``),
    so truncation is counted exactly.
    """
    first = [q for q, options in zip(questions, choices, strict=True) for _ in options]
    second = [c for options in choices for c in options]
    full = tokenizer(first, second)
    lengths = [len(ids) for ids in full["input_ids"]]
    over = [i for i, n in enumerate(lengths) if n > max_length]
    if over:
        cut = tokenizer([first[i] for i in over], [second[i] for i in over], truncation=True, max_length=max_length)
        for key in full:
            for j, i in enumerate(over):
                full[key][i] = cut[key][j]
    blocks: dict[str, list[Any]] = {key: [] for key in full if key in PAIR_KEYS}
    truncated, start = [], 0
    for options in choices:
        end = start + len(options)
        for key in blocks:
            blocks[key].append(full[key][start:end])
        truncated.append(any(n > max_length for n in lengths[start:end]))
        start = end
    return blocks, truncated


@dataclass
class ChoicesCollator:
    """Pads every (question, choice) pair of a batch to one length, then reshapes to (batch, choices, seq_len).

    Like transformers' ``DataCollatorForMultipleChoice``, and also for batches without labels (`generate`).
    """

    tokenizer: Any

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        count = len(examples[0]["input_ids"])
        flat = [{k: e[k][i] for k in PAIR_KEYS if k in e} for e in examples for i in range(count)]
        padded = self.tokenizer.pad(flat, padding=True, return_tensors="pt")
        batch = {key: value.view(len(examples), count, -1) for key, value in padded.items()}
        if "labels" in examples[0]:
            batch["labels"] = torch.tensor([int(e["labels"]) for e in examples], dtype=torch.long)
        return batch


def prepare(ctx: PrepareContext) -> Prepared:
    """Check every split's rows (``multiple_choice_rows``), then tokenize each (question, choice) pair."""
    import datasets

    max_length = ctx.recipe.data.max_seq_length
    features, state = {}, {"examples": {}}
    summary = DataSummary(truncated={}, dropped={}, extra={"choices": {}})
    for split, dataset in ctx.raw.items():
        examples = read_examples(dataset, split, ctx)
        blocks, truncated = encode(ctx.tokenizer, examples.questions, examples.choices, max_length)
        features[split] = datasets.Dataset.from_dict({**blocks, "labels": examples.labels})
        state["examples"][split] = examples
        summary.rows[split] = len(examples.labels)
        summary.truncated[split] = sum(truncated)
        summary.dropped[split] = examples.dropped
        summary.extra["choices"][split] = len(examples.choices[0])
    return Prepared(features=features, state=state, summary=summary)


def collator(tokenizer: Any, recipe: Any, prepared: Prepared) -> Any:
    """Pads and reshapes each batch (``ChoicesCollator``)."""
    return ChoicesCollator(tokenizer)


# ---------------------------------------------------------------------------------------------
# Scores and predictions


def _logits(predictions: Any) -> Any:
    import numpy as np

    return np.asarray(predictions[0] if isinstance(predictions, tuple | list) else predictions)


def accuracy(logits: Any, references: Any) -> float:
    """Share of questions whose highest-scoring choice is the right one (``run_swag.py``'s metric)."""
    import numpy as np

    return float(np.mean(np.argmax(np.asarray(logits), axis=-1) == np.asarray(references)))


def metrics(recipe: Any, prepared: Prepared, split: str) -> Any:
    """A ``compute_metrics`` closure: accuracy plus any `evaluate` modules the recipe names."""
    from llmkit.metrics import load_evaluate_module, split_metric_names

    builtin, external = split_metric_names(recipe.eval.metrics, BUILTIN_METRICS)
    modules = {name: load_evaluate_module(name) for name in external}

    def compute(eval_pred: Any) -> dict[str, float]:
        import numpy as np

        logits, references = _logits(eval_pred.predictions), np.asarray(eval_pred.label_ids)
        result = {"accuracy": accuracy(logits, references)} if builtin else {}
        for module in modules.values():
            decided = logits.argmax(axis=-1).tolist()
            computed = module.compute(predictions=decided, references=references.tolist())
            result.update({k: float(v) for k, v in computed.items() if isinstance(v, int | float)})
        return result

    return compute


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """One row per question: ``id``, ``question``, ``choices``, ``prediction`` and ``reference`` (choice indexes),
    the chosen choice's ``probability`` and every choice's ``scores`` (softmax over the choices)."""
    from llmkit.metrics import softmax

    examples = prepared.state["examples"][split]
    probs = softmax(_logits(output.predictions))
    rows = []
    for i, scores in enumerate(probs):
        best = int(scores.argmax())
        rows.append(
            {
                "id": examples.ids[i],
                "question": examples.questions[i],
                "choices": examples.choices[i],
                "prediction": best,
                "reference": examples.labels[i],
                "probability": round(float(scores[best]), 6),
                "scores": [round(float(p), 6) for p in scores],
            }
        )
    return Details(rows=rows)


def _checked(inputs: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    pairs = []
    for number, item in enumerate(inputs, start=1):
        question, choices = item.get("question"), item.get("choices")
        if not isinstance(question, str) or not isinstance(choices, list) or len(choices) < 2:
            raise UsageError(
                f"input {number}: a multiple_choice model needs a question and two or more choices "
                "(--question Q --choice A --choice B, or --input FILE.jsonl with 'question' and 'choices' fields)"
            )
        pairs.append((question, [str(c) for c in choices]))
    return pairs


def predict(
    model: Any, tokenizer: Any, inputs: list[dict[str, Any]], recipe: Any = None, **kwargs: Any
) -> list[dict[str, Any]]:
    """Score the choices of each ``{question, choices}``: the best one, its index and every choice's probability."""
    import torch

    from llmkit.metrics import softmax

    pairs = _checked(inputs)
    max_length = recipe.data.max_seq_length if recipe is not None else min(tokenizer.model_max_length or 512, 512)
    batch_size = int((kwargs.get("options") or {}).get("batch_size") or 8)
    on_batch, collate = kwargs.get("on_batch"), ChoicesCollator(tokenizer)
    results: list[dict[str, Any]] = [{} for _ in pairs]
    model.eval()
    for start in range(0, len(pairs), batch_size):
        chunk = range(start, min(start + batch_size, len(pairs)))
        groups: dict[int, list[int]] = {}  # one tensor per number of choices
        for i in chunk:
            groups.setdefault(len(pairs[i][1]), []).append(i)
        for group in groups.values():
            blocks, _ = encode(tokenizer, [pairs[i][0] for i in group], [pairs[i][1] for i in group], max_length)
            batch = collate([{k: blocks[k][j] for k in blocks} for j in range(len(group))])
            with torch.inference_mode():
                logits = model(**{k: v.to(model.device) for k, v in batch.items()}).logits.float().cpu().numpy()
            for i, scores in zip(group, softmax(logits), strict=True):
                question, choices = pairs[i]
                best = int(scores.argmax())
                results[i] = {
                    "question": question,
                    "choices": choices,
                    "prediction": best,
                    "choice": choices[best],
                    "probability": float(scores[best]),
                    "scores": [float(p) for p in scores],
                }
        if on_batch is not None:
            on_batch(len(chunk))
    return results


def show_prediction(row: dict[str, Any]) -> Shown:
    """question -> the chosen choice (its probability), then every choice with its probability."""
    listed = ", ".join(f"{c} {p:.3f}" for c, p in zip(row.get("choices", []), row.get("scores", []), strict=False))
    return Shown(str(row.get("question", "")), f"{row.get('choice', '')}   [{listed}]")


def sample_inputs(tokenizer: Any, texts: tuple[str, ...]) -> dict[str, Any]:
    """Export's sample batch: each sample text with ``SAMPLE_CHOICES``, as (batch, choices, seq_len) tensors."""
    blocks, _ = encode(tokenizer, list(texts), [list(SAMPLE_CHOICES)] * len(texts), tokenizer.model_max_length)
    return ChoicesCollator(tokenizer)([{k: blocks[k][i] for k in blocks} for i in range(len(texts))])


TASK = TaskSpec(
    name="multiple_choice",
    summary="Multiple choice (SWAG-style: pick the right one of N choices for a question; accuracy)",
    commands=("finetune",),
    data_model=MultipleChoiceData,
    options_model=None,
    auto_model="AutoModelForMultipleChoice",
    key_metric="accuracy",
    greater_is_better=True,
    architectures=("ForMultipleChoice",),
    prepare=prepare,
    collator=collator,
    metrics=metrics,
    details=details,
    predict=predict,
    pipeline_tag="multiple-choice",
    confusion_matrix=True,
    sample_inputs=sample_inputs,
    show_prediction=show_prediction,
    hidden_columns=("choices", "scores"),
    input_fields=("question", "choices"),
    peft_task_type="SEQ_CLS",
    corpus_column="question_column",
)
