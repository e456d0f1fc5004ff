"""Extractive question answering (SQuAD v1.1 / v2.0): find the answer span of a question in its context.

Data: nested SQuAD JSON files, flat rows (``id``, ``question``, ``context``, ``answers: {text, answer_start}``)
from JSON/JSONL/CSV/Parquet files or the hub. Long contexts become overlapping windows; each window is
labelled with the token span of the answer, or with the CLS token when the answer is not inside it.
Predictions come from the best span over all windows of a question, scored like the official scripts.

Bad rows follow one rule, reported per split (log warning and ``metrics.json`` ``data.problems``):

- an ``answer_start`` that does not point at its text is moved to the occurrence of the text in the
  context nearest to it (``relocated``); a text that does not occur at all is ``not_in_context``;
- training uses the first answer that can be located; a training row with none is dropped;
- a question with an empty context, or with no answer outside v2 (``qa.version_2_with_negative``), is
  dropped from every split (there is nothing to extract, or nothing to score against);
- evaluation splits keep every other question and score it on its gold texts, as the official scripts do;
  for a question whose answers cannot be located, the evaluation-loss label points at CLS;
- an empty question is dropped too; dropped rows are counted (``data.dropped``), and with ``--strict``
  they stop the run, naming their lines (``llmkit.tasks.qa_rows``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from llmkit.config import DataSection, Section
from llmkit.data.rows import report_dropped
from llmkit.errors import ConfigError, DataError, ModelError, UsageError
from llmkit.tasks.qa_rows import clean_examples, raw_rows
from llmkit.tasks.spec import DataSummary, Details, Explanation, PrepareContext, Prepared, Shown, TaskSpec, shown_label

log = logging.getLogger(__name__)
SHOWN_PROBLEMS = 5  # examples of bad rows kept in the report per split
# The context of export's sample questions (SAMPLE_TEXTS there), so exported graphs see question/context pairs.
SAMPLE_CONTEXT = "The cat is a small domesticated animal. It purrs and catches mice."


class QAData(DataSection):
    """Data section of an extractive QA recipe."""

    id_column: str = Field("id", description="Column holding the question id (row number when absent).")
    question_column: str = Field("question", description="Column holding the question.")
    context_column: str = Field("context", description="Column holding the passage the answer is taken from.")
    answers_column: str = Field(
        "answers",
        description="Column holding {text: [...], answer_start: [...]} (a JSON string in CSV files); "
        "empty lists mean unanswerable.",
    )
    max_seq_length: int = Field(384, gt=0, description="Tokens per window (question + context piece).")


class QAOptions(Section):
    """Options of the qa task."""

    version_2_with_negative: bool = Field(
        False, description="SQuAD v2.0: questions may have no answer (empty answers or is_impossible)."
    )
    doc_stride: int = Field(128, gt=0, description="Tokens shared by consecutive windows of a long context.")
    max_answer_length: int = Field(30, gt=0, description="Longest answer span, in tokens.")
    n_best_size: int = Field(20, gt=0, description="Start and end candidates kept per window.")
    null_score_diff_threshold: float = Field(
        0.0,
        description="v2 only: answer '' when the no-answer score beats the best span by more than this "
        "(the best_f1_thresh that evaluation reports is a good value).",
    )


# ---------------------------------------------------------------------------------------------
# Windows and labels


@dataclass
class Windows:
    """Tokenized windows of some examples: model inputs, labels and what post-processing needs."""

    inputs: dict[str, list[Any]]  # input_ids, attention_mask (token_type_ids), start/end_positions
    example_index: list[int]  # window -> example it came from
    offsets: list[list[tuple[int, int] | None]]  # window -> per token (char start, end) in the context, or None


def make_windows(
    tokenizer: Any,
    questions: list[str],
    contexts: list[str],
    max_seq_length: int,
    doc_stride: int,
    answers: list[tuple[int, int] | None] | None = None,
) -> Windows:
    """Split each (question, context) into overlapping windows; label each with its answer's token span.

    ``answers`` holds one (char start, char end) per example, or None (no answer); a window that does not
    contain the whole answer is labelled with the CLS token, like a question without an answer.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError("model.tokenizer_name_or_path: qa needs a fast tokenizer (for character offsets)")
    question_first = tokenizer.padding_side == "right"
    try:
        encoded = tokenizer(
            questions if question_first else contexts,
            contexts if question_first else questions,
            truncation="only_second" if question_first else "only_first",
            max_length=max_seq_length,
            stride=doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
    except Exception as exc:  # the tokenizer refuses a stride that leaves no room for context
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"qa.doc_stride: {doc_stride} does not fit in data.max_seq_length {max_seq_length} next to the "
            f"longest question; lower qa.doc_stride or raise data.max_seq_length ({first})"
        ) from None
    context_id = 1 if question_first else 0
    mapping = encoded.pop("overflow_to_sample_mapping")
    all_offsets = encoded.pop("offset_mapping")
    starts, ends, offsets = [], [], []
    for w, example in enumerate(mapping):
        sequence_ids = encoded.sequence_ids(w)
        ids = encoded["input_ids"][w]
        cls = ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in ids else 0
        kept = [tuple(o) if sequence_ids[t] == context_id else None for t, o in enumerate(all_offsets[w])]
        offsets.append(kept)
        span = answers[example] if answers is not None else None
        start = end = cls
        inside = [t for t, o in enumerate(kept) if o is not None]
        if span is not None and inside:
            char_start, char_end = span
            first, last = inside[0], inside[-1]
            if kept[first][0] <= char_start and kept[last][1] >= char_end:
                start = next(t for t in inside if kept[t][1] > char_start)
                end = next(t for t in reversed(inside) if kept[t][0] < char_end)
        starts.append(start)
        ends.append(end)
    inputs = {key: list(values) for key, values in encoded.items()}
    if answers is not None:
        inputs["start_positions"], inputs["end_positions"] = starts, ends
    return Windows(inputs=inputs, example_index=list(mapping), offsets=offsets)


# ---------------------------------------------------------------------------------------------
# Post-processing


@dataclass
class Answer:
    """The chosen answer of one question."""

    text: str  # "" = no answer
    best_span: str  # best non-empty span, whatever the threshold says (for the v2 threshold sweep)
    score: float  # probability of the chosen answer among the n-best candidates
    null_score_diff: float  # no-answer score minus best span score (v2 decides on this)
    start: int = -1  # character offsets of ``text`` in the context
    end: int = -1


def best_answers(
    contexts: list[str],
    example_index: list[int],
    offsets: list[list[tuple[int, int] | None]],
    start_logits: Any,
    end_logits: Any,
    options: QAOptions,
) -> list[Answer]:
    """The best span of each example over all its windows (n-best start x end, only inside the context).

    A span is kept when it ends at or after its start and is at most ``max_answer_length`` tokens long. With
    v2, the no-answer score is the smallest CLS start+end score of the example's windows; the answer is ""
    when it beats the best span by more than ``null_score_diff_threshold``.
    """
    import numpy as np

    from llmkit.metrics import softmax

    by_example: dict[int, list[int]] = {}
    for w, example in enumerate(example_index):
        by_example.setdefault(example, []).append(w)
    n_best = options.n_best_size
    answers = []
    for example, context in enumerate(contexts):
        candidates: list[tuple[float, int, int]] = []
        null_score = None
        for w in by_example.get(example, []):
            starts, ends, kept = np.asarray(start_logits[w]), np.asarray(end_logits[w]), offsets[w]
            window_null = float(starts[0] + ends[0])
            null_score = window_null if null_score is None else min(null_score, window_null)
            top_starts = np.argsort(starts)[::-1][:n_best]
            top_ends = np.argsort(ends)[::-1][:n_best]
            for s in top_starts:
                for e in top_ends:
                    if s >= len(kept) or e >= len(kept) or kept[s] is None or kept[e] is None:
                        continue
                    if e < s or e - s + 1 > options.max_answer_length:
                        continue
                    candidates.append((float(starts[s] + ends[e]), kept[s][0], kept[e][1]))
        candidates.sort(key=lambda c: -c[0])
        candidates = candidates[:n_best]
        if not candidates:
            answers.append(Answer(text="", best_span="", score=1.0, null_score_diff=0.0))
            continue
        best_score, char_start, char_end = candidates[0]
        scores = [c[0] for c in candidates]
        if options.version_2_with_negative and null_score is not None:
            scores.append(null_score)
        probs = softmax(np.asarray(scores, dtype=np.float64))
        span = context[char_start:char_end]
        diff = (null_score - best_score) if null_score is not None else 0.0
        if options.version_2_with_negative and diff > options.null_score_diff_threshold:
            answers.append(Answer(text="", best_span=span, score=float(probs[-1]), null_score_diff=diff))
        else:
            answers.append(Answer(span, span, float(probs[0]), diff, char_start, char_end))
    return answers


def _logit_pair(predictions: Any) -> tuple[Any, Any]:
    import numpy as np

    return np.asarray(predictions[0]), np.asarray(predictions[1])


def score(recipe: Any, examples: list[dict[str, Any]], answers: list[Answer]) -> dict[str, float]:
    """The official v1.1 or v2.0 metrics of the chosen answers (0-100)."""
    from llmkit.metrics import squad_v1_scores, squad_v2_scores

    options = recipe.options
    references = {ex["id"]: list(ex["answers"]) for ex in examples}
    if not options.version_2_with_negative:
        return squad_v1_scores({ex["id"]: a.text for ex, a in zip(examples, answers, strict=True)}, references)
    # The v2 script's --na-prob-file gets the null-score differences and --na-prob-thresh the recipe's
    # threshold: it reproduces the predictions' "" answers and sweeps the threshold for best_exact/best_f1.
    return squad_v2_scores(
        {ex["id"]: a.best_span for ex, a in zip(examples, answers, strict=True)},
        references,
        no_answer_probs={ex["id"]: a.null_score_diff for ex, a in zip(examples, answers, strict=True)},
        no_answer_threshold=options.null_score_diff_threshold,
    )


# ---------------------------------------------------------------------------------------------
# Task functions


def prepare(ctx: PrepareContext) -> Prepared:
    """Clean rows under the module's rule, then cut every split into labelled windows."""
    import datasets

    from llmkit.data import require_columns

    recipe = ctx.recipe
    data, options = recipe.data, recipe.options
    if options.doc_stride >= data.max_seq_length:
        raise ConfigError(
            f"qa.doc_stride: {options.doc_stride} must be smaller than data.max_seq_length {data.max_seq_length}"
        )
    features, state = {}, {"examples": {}, "windows": {}}
    summary = DataSummary(problems={}, dropped={}, extra={"windows": {}})
    for split, dataset in ctx.raw.items():
        source = ctx.sources.get(split, split)
        columns = {
            "question_column": data.question_column,
            "context_column": data.context_column,
            "answers_column": data.answers_column,
        }
        require_columns(dataset, columns, source)
        training = ctx.training and split == "train"
        examples, problems = clean_examples(dataset, recipe, training, source, ctx.sources, split)
        if ctx.strict and problems.left_out:
            report_dropped(len(dataset), problems.as_dropped(), ctx.sources, split, strict=True)
        summary.dropped[split] = sum(len(rows) for rows in problems.left_out.values())
        seen: set[str] = set()
        for example in examples:  # scores and prediction files are keyed by id, as in the official scripts
            if example["id"] in seen:
                raise DataError(f"{source}: question id '{example['id']}' occurs twice (data.id_column must be unique)")
            seen.add(example["id"])
        if problems.counts:
            listed = ", ".join(f"{kind} {n}" for kind, n in problems.counts.items())
            first = "; ".join(f"{p['id']}: {p['detail']}" for p in problems.examples[:3])
            log.warning("%s: bad rows: %s (first: %s)", source, listed, first)
            summary.problems[split] = {
                "rows": len(problems.ids),
                "counts": problems.counts,
                "examples": problems.examples,
            }
        if not examples:
            raise DataError(f"{source}: no usable question left (bad rows: {problems.counts})")
        spans = [
            (ex["label_start"], ex["label_start"] + len(ex["label_text"])) if ex["label_text"] else None
            for ex in examples
        ]
        windows = make_windows(
            ctx.tokenizer,
            [ex["question"] for ex in examples],
            [ex["context"] for ex in examples],
            data.max_seq_length,
            options.doc_stride,
            answers=spans,
        )
        features[split] = datasets.Dataset.from_dict(windows.inputs)
        state["examples"][split] = examples
        state["windows"][split] = windows
        summary.rows[split] = len(examples)
        summary.extra["windows"][split] = len(windows.example_index)
    return Prepared(features=features, state=state, summary=summary)


def collator(tokenizer: Any, recipe: Any, prepared: Prepared) -> Any:
    """Pad each batch to its longest window (labels are plain positions)."""
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


def preprocess_logits(recipe: Any) -> Any:
    """Keep only start/end logits per batch, so evaluation never holds hidden states or attentions."""

    def keep(logits: Any, labels: Any) -> Any:
        return (logits[0], logits[1]) if isinstance(logits, tuple | list) else logits

    return keep


def _answers_for(recipe: Any, prepared: Prepared, split: str, predictions: Any) -> list[Answer]:
    start_logits, end_logits = _logit_pair(predictions)
    examples, windows = prepared.state["examples"][split], prepared.state["windows"][split]
    return best_answers(
        [ex["context"] for ex in examples],
        windows.example_index,
        windows.offsets,
        start_logits,
        end_logits,
        recipe.options,
    )


def metrics(recipe: Any, prepared: Prepared, split: str) -> Any:
    """A ``compute_metrics`` closure over the split's examples and windows: post-process, then score."""
    if split not in prepared.state["examples"]:
        return None

    def compute(eval_pred: Any) -> dict[str, float]:
        answers = _answers_for(recipe, prepared, split, eval_pred.predictions)
        return score(recipe, prepared.state["examples"][split], answers)

    return compute


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """One row per question: ``id``, ``question``, ``prediction`` ("" = no answer), ``reference`` (gold texts)."""
    answers = _answers_for(recipe, prepared, split, output.predictions)
    rows = []
    for example, answer in zip(prepared.state["examples"][split], answers, strict=True):
        row = {
            "id": example["id"],
            "question": example["question"],
            "prediction": answer.text,
            "reference": list(example["answers"]),
            "score": round(answer.score, 6),
        }
        if recipe.options.version_2_with_negative:
            row["null_score_diff"] = round(answer.null_score_diff, 6)
        rows.append(row)
    return Details(rows=rows)


def predict(
    model: Any, tokenizer: Any, inputs: list[dict[str, Any]], recipe: Any = None, **_: Any
) -> list[dict[str, Any]]:
    """Answer each ``{question, context}``: the best span (v2 recipes may answer "") and its score."""
    import numpy as np
    import torch

    for number, item in enumerate(inputs, start=1):
        if not item.get("question") or not item.get("context"):
            raise UsageError(
                f"input {number}: a QA model needs a question and a context "
                "(--question/--context, or --input FILE.jsonl with 'question' and 'context' fields)"
            )
    options = recipe.options if recipe is not None else QAOptions()
    max_length = recipe.data.max_seq_length if recipe is not None else min(tokenizer.model_max_length or 384, 384)
    questions = [str(item["question"]).lstrip() for item in inputs]
    contexts = [str(item["context"]) for item in inputs]
    windows = make_windows(tokenizer, questions, contexts, max_length, min(options.doc_stride, max_length // 2))
    starts, ends = [], []
    model.eval()
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in windows.inputs]
    for first in range(0, len(windows.example_index), 32):
        batch = tokenizer.pad({k: windows.inputs[k][first : first + 32] for k in keys}, return_tensors="pt")
        with torch.inference_mode():
            out = model(**batch.to(model.device))
        for s, e, mask in zip(
            out.start_logits.float().cpu(), out.end_logits.float().cpu(), batch["attention_mask"], strict=True
        ):
            n = int(mask.sum())
            starts.append(np.asarray(s[:n]))
            ends.append(np.asarray(e[:n]))
    answers = best_answers(contexts, windows.example_index, windows.offsets, starts, ends, options)
    results = []
    for question, answer in zip(questions, answers, strict=True):
        row = {"question": question, "answer": answer.text, "score": answer.score, "start": answer.start}
        row["end"] = answer.end
        if options.version_2_with_negative:
            row["null_score_diff"] = answer.null_score_diff
        results.append(row)
    return results


def show_prediction(row: dict[str, Any]) -> Shown:
    """question -> answer (score); a v2 question without answer reads "(no answer)"."""
    score = row.get("score")
    return Shown(
        str(row.get("question", "")), shown_label(row.get("answer")), score if isinstance(score, float) else None
    )


def head_loss(logits: dict[str, Any], batch: dict[str, Any], config: Any) -> Any:
    """The span loss from start/end logits and the batch's gold positions, or None without positions."""
    from transformers.loss.loss_utils import LOSS_MAPPING

    start, end = batch.get("start_positions"), batch.get("end_positions")
    if start is None or end is None:
        return None
    return LOSS_MAPPING["ForQuestionAnswering"](logits["start_logits"], logits["end_logits"], start, end)


TASK = TaskSpec(
    name="qa",
    summary="Extractive question answering (SQuAD v1.1 / v2.0 spans, exact match and F1)",
    commands=("finetune",),
    data_model=QAData,
    options_model=QAOptions,
    auto_model="AutoModelForQuestionAnswering",
    key_metric="f1",
    greater_is_better=True,
    architectures=("ForQuestionAnswering",),
    prepare=prepare,
    collator=collator,
    metrics=metrics,
    details=details,
    predict=predict,
    preprocess_logits=preprocess_logits,
    raw_rows=raw_rows,
    pipeline_tag="question-answering",
    sample_context=SAMPLE_CONTEXT,
    logit_outputs=("start_logits", "end_logits"),
    loss_kind="ForQuestionAnswering",
    head_loss=head_loss,
    show_prediction=show_prediction,
    input_fields=("question", "context"),
    peft_task_type="QUESTION_ANS",
    explain=Explanation("span"),
)
