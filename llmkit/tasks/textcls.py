"""Text classification: single text or text pairs -> one label (multi-label and regression too).

The label set comes from the recipe (``textcls.labels``), from the checkpoint when evaluating a
trained run, or from the training split; it is stored in the model config (``id2label``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from llmkit.config import DataSection, Section
from llmkit.data import column_values
from llmkit.tasks import textcls_labels
from llmkit.tasks.caching import code_hash
from llmkit.tasks.spec import (
    DataSummary,
    Details,
    Distillation,
    Explanation,
    PrepareContext,
    Prepared,
    Shown,
    TaskSpec,
    shown_label,
)
from llmkit.tasks.textcls_labels import (
    MULTI,
    REGRESSION,
    SINGLE,
    check_labels,
    label_values,
    resolve_labels,
    usable_splits,
)

BUILTIN_METRICS = {
    SINGLE: ("accuracy", "f1", "precision", "recall"),
    MULTI: ("accuracy", "f1", "f1_micro", "precision", "recall"),
    REGRESSION: ("mse", "rmse", "mae", "pearson"),
}


class TextClsData(DataSection):
    """Data section of a text-classification recipe."""

    text_column: str = Field("text", description="Column holding the text to classify.")
    text_pair_column: str | None = Field(None, description="Second text column for sentence-pair tasks.")
    label_column: str = Field("label", description="Column holding the label (string, integer, list or number).")
    id_column: str | None = Field(None, description="Column used as example id in predictions (default: row number).")


class TextClsOptions(Section):
    """Options of the textcls task."""

    labels: list[str] | None = Field(
        None, description="Fixed label set in id order; by default the sorted labels of the training split."
    )
    problem_type: Literal["single_label_classification", "multi_label_classification", "regression"] = Field(
        SINGLE, description="One label per text, any number of labels per text, or one number per text."
    )
    label_separator: str | None = Field(
        None, description="Multi-label only: split string labels on this separator (e.g. ',' for CSV files)."
    )
    threshold: float = Field(
        0.5, gt=0, lt=1, description="Multi-label only: probability above which a label is predicted."
    )

    @model_validator(mode="before")
    @classmethod
    def _labels_as_strings(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("labels"), list):
            data = {**data, "labels": [str(v) for v in data["labels"]]}
        return data


# ---------------------------------------------------------------------------------------------
# Task functions


def prepare(ctx: PrepareContext) -> Prepared:
    """Check columns and labels, then tokenize every split (no padding: the collator pads per batch)."""
    from llmkit.data import cached_map, column_sum

    recipe = ctx.recipe
    data, options = recipe.data, recipe.options
    sources = ctx.sources
    splits, kept, dropped = usable_splits(ctx)
    regression = options.problem_type == REGRESSION
    labels = [] if regression else resolve_labels(ctx, splits)
    for split, dataset in splits.items():
        if not regression:
            check_labels(dataset, sources.get(split, split), labels, ctx)
    label2id = {name: i for i, name in enumerate(labels)}
    tokenizer, max_length = ctx.tokenizer, data.max_seq_length

    def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        texts = [str(t) if t is not None else "" for t in batch[data.text_column]]
        pairs = (
            [str(t) if t is not None else "" for t in batch[data.text_pair_column]] if data.text_pair_column else None
        )
        full = tokenizer(texts, pairs)
        lengths = [len(ids) for ids in full["input_ids"]]
        over = [i for i, n in enumerate(lengths) if n > max_length]
        if over:  # re-tokenize only the long rows with truncation, so truncation is counted exactly
            cut = tokenizer(
                [texts[i] for i in over],
                [pairs[i] for i in over] if pairs else None,
                truncation=True,
                max_length=max_length,
            )
            for key in full:
                for j, i in enumerate(over):
                    full[key][i] = cut[key][j]
        out = {key: full[key] for key in full}
        out["truncated"] = [n > max_length for n in lengths]
        if data.label_column in batch:
            out["labels"] = [_encode_label(v, label2id, options) for v in batch[data.label_column]]
        return out

    cache_key = {
        "columns": [data.text_column, data.text_pair_column, data.label_column],
        "max_length": max_length,
        "labels": labels,
        "options": options.model_dump(mode="json"),
        "code": code_hash(textcls_labels),  # encode reads label_values from there; cached_map hashes this module
    }
    features, summary = {}, DataSummary(truncated={}, dropped=dropped, labels=labels)
    for split, dataset in splits.items():

        def run_map(dataset: Any = dataset, split: str = split) -> Any:
            return cached_map(
                dataset,
                encode,
                key=cache_key,
                tokenizer=tokenizer,
                batched=True,
                remove_columns=dataset.column_names,
                num_proc=data.preprocessing_num_workers,
                desc=f"Tokenizing {split}",
            )

        mapped = run_map() if ctx.main_process_first is None else _first(ctx.main_process_first, run_map)
        summary.truncated[split] = column_sum(mapped, "truncated")
        summary.rows[split] = len(mapped)
        features[split] = mapped.remove_columns("truncated")

    state = {
        "labels": labels,
        "problem_type": options.problem_type,
        "ids": {s: _ids(d, data.id_column, kept[s]) for s, d in splits.items()},
        "texts": {s: column_values(d, data.text_column) for s, d in splits.items()},
    }
    model_kwargs: dict[str, Any] = {"problem_type": options.problem_type}
    if regression:
        model_kwargs["num_labels"] = 1
    else:
        model_kwargs.update(num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label2id)
    return Prepared(features=features, model_kwargs=model_kwargs, state=state, summary=summary)


def _first(main_process_first: Any, fn: Any) -> Any:
    with main_process_first():
        return fn()


def _ids(dataset: Any, id_column: str | None, kept: list[int] | None) -> list[Any]:
    """Example ids: the id column, else the row's position in the split as read (dropped rows keep theirs)."""
    if id_column:
        return column_values(dataset, id_column)
    return kept if kept is not None else list(range(len(dataset)))


def _encode_label(value: Any, label2id: dict[str, int], options: TextClsOptions) -> Any:
    if options.problem_type == REGRESSION:
        return float(value)
    names = label_values(value, options)
    if options.problem_type == MULTI:
        vector = [0.0] * len(label2id)
        for name in names:
            vector[label2id[name]] = 1.0
        return vector
    return label2id[names[0]]


def collator(tokenizer: Any, recipe: Any, prepared: Prepared) -> Any:
    """Pad each batch to its own longest row (dynamic padding)."""
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


def _logits(predictions: Any) -> Any:
    import numpy as np

    return np.asarray(predictions[0] if isinstance(predictions, tuple) else predictions)


def _decide(logits: Any, problem_type: str, threshold: float) -> Any:
    import numpy as np

    from llmkit.metrics import sigmoid

    if problem_type == REGRESSION:
        return logits.reshape(-1)
    if problem_type == MULTI:
        return (sigmoid(logits) > threshold).astype(np.int64)
    return logits.argmax(axis=-1)


def metrics(recipe: Any, prepared: Prepared, split: str) -> Any:
    """A ``compute_metrics`` closure: built-in scores plus any `evaluate` modules the recipe names."""
    from llmkit.metrics import classification_scores, load_evaluate_module, regression_scores, split_metric_names

    options = recipe.options
    builtin, external = split_metric_names(recipe.eval.metrics, BUILTIN_METRICS[options.problem_type])
    modules = {name: load_evaluate_module(name) for name in external}
    num_labels = len(prepared.state["labels"])

    def compute(eval_pred: Any) -> dict[str, float]:
        import numpy as np

        logits = _logits(eval_pred.predictions)
        references = np.asarray(eval_pred.label_ids)
        decided = _decide(logits, options.problem_type, options.threshold)
        if options.problem_type == REGRESSION:
            scores = regression_scores(decided, references)
        else:
            if options.problem_type == MULTI:
                references = references.astype(np.int64)
            scores = classification_scores(decided, references, num_labels)
        result = {name: scores[name] for name in builtin}
        for module in modules.values():
            computed = module.compute(predictions=decided.tolist(), references=references.tolist())
            result.update({k: float(v) for k, v in computed.items() if isinstance(v, int | float)})
        return result

    return compute


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """Per-example predictions and the per-class precision/recall table of one split."""
    import numpy as np

    from llmkit.metrics import per_class_scores, sigmoid, softmax

    options = recipe.options
    labels = prepared.state["labels"]
    logits = _logits(output.predictions)
    decided = _decide(logits, options.problem_type, options.threshold)
    ids = prepared.state["ids"][split]
    texts = prepared.state["texts"][split]
    references = None if output.label_ids is None else np.asarray(output.label_ids)
    rows: list[dict[str, Any]] = []
    if options.problem_type == REGRESSION:
        for i, value in enumerate(decided):
            row = {"id": ids[i], "text": texts[i], "prediction": float(value)}
            if references is not None:
                row["reference"] = float(references[i])
            rows.append(row)
        return Details(rows=rows)
    if options.problem_type == MULTI:
        probs = sigmoid(logits)
        for i, chosen in enumerate(decided):
            row = {
                "id": ids[i],
                "text": texts[i],
                "prediction": [labels[j] for j in np.flatnonzero(chosen)],
                "scores": {labels[j]: round(float(p), 6) for j, p in enumerate(probs[i])},
            }
            if references is not None:
                row["reference"] = [labels[j] for j in np.flatnonzero(references[i] > 0.5)]
            rows.append(row)
    else:
        probs = softmax(logits)
        for i, chosen in enumerate(decided):
            row = {
                "id": ids[i],
                "text": texts[i],
                "prediction": labels[int(chosen)],
                "probability": round(float(probs[i, chosen]), 6),
            }
            if references is not None:
                row["reference"] = labels[int(references[i])]
            rows.append(row)
    tables = {}
    if references is not None:
        refs = references.astype(np.int64) if options.problem_type == MULTI else references
        per_class = per_class_scores(decided, refs, len(labels))
        tables["per_class"] = [
            {"label": labels[i], **{k: v for k, v in row.items() if k != "predicted"}}
            for i, row in enumerate(per_class)
        ]
    return Details(rows=rows, tables=tables)


def predict(
    model: Any, tokenizer: Any, inputs: list[dict[str, Any]], recipe: Any = None, **_: Any
) -> list[dict[str, Any]]:
    """Classify raw texts: the top label and its probability (all label scores for multi-label)."""
    import torch

    from llmkit.metrics import sigmoid, softmax

    config = model.config
    labels = [config.id2label[i] for i in range(config.num_labels)]
    problem_type = getattr(config, "problem_type", None) or SINGLE
    texts = [item["text"] for item in inputs]
    pairs = [item.get("text_pair") for item in inputs] if any(item.get("text_pair") for item in inputs) else None
    max_length = min(getattr(tokenizer, "model_max_length", 512) or 512, 512)
    if recipe is not None:
        max_length = recipe.data.max_seq_length
    results: list[dict[str, Any]] = []
    model.eval()
    for start in range(0, len(texts), 32):
        batch = tokenizer(
            texts[start : start + 32],
            pairs[start : start + 32] if pairs else None,
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        ).to(model.device)
        with torch.inference_mode():
            logits = model(**batch).logits.float().cpu().numpy()
        for offset, row in enumerate(logits):
            text = texts[start + offset]
            if problem_type == REGRESSION:
                results.append({"text": text, "prediction": float(row[0])})
            elif problem_type == MULTI:
                probs = sigmoid(row)
                results.append(
                    {
                        "text": text,
                        "prediction": [labels[j] for j, p in enumerate(probs) if p > 0.5],
                        "scores": {labels[j]: float(p) for j, p in enumerate(probs)},
                    }
                )
            else:
                probs = softmax(row[None, :])[0]
                best = int(probs.argmax())
                results.append(
                    {
                        "text": text,
                        "label": labels[best],
                        "probability": float(probs[best]),
                        "scores": {labels[j]: float(p) for j, p in enumerate(probs)},
                    }
                )
    return results


def show_prediction(row: dict[str, Any]) -> Shown:
    """text -> label (probability), a multi-label list, or a regression value."""
    probability = row.get("probability")
    score = probability if isinstance(probability, float) else None
    return Shown(str(row.get("text", "")), shown_label(row.get("label", row.get("prediction"))), score)


def head_loss(logits: dict[str, Any], batch: dict[str, Any], config: Any) -> Any:
    """The sequence-classification loss (its problem type read from ``config``) from the logits, or None."""
    from transformers.loss.loss_utils import LOSS_MAPPING

    labels = batch.get("labels")
    if labels is None:
        return None
    return LOSS_MAPPING["ForSequenceClassification"](labels, logits["logits"], config)


TASK = TaskSpec(
    name="textcls",
    summary="Text classification (single text or pairs; multi-class, multi-label or regression)",
    commands=("finetune",),
    data_model=TextClsData,
    options_model=TextClsOptions,
    auto_model="AutoModelForSequenceClassification",
    key_metric="accuracy",
    greater_is_better=True,
    architectures=("ForSequenceClassification",),
    prepare=prepare,
    collator=collator,
    metrics=metrics,
    details=details,
    predict=predict,
    pipeline_tag="text-classification",
    pipeline_example='"a small furry animal that purrs"',
    confusion_matrix=True,
    loss_kind="ForSequenceClassification",
    head_loss=head_loss,
    distill=Distillation(shift_labels=False, match="labels"),
    show_prediction=show_prediction,
    hidden_columns=("scores",),
    peft_task_type="SEQ_CLS",
    corpus_column="text_column",
    explain=Explanation("sequence_label"),
)
