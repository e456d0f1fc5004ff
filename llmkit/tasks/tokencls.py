"""Token classification (NER, part-of-speech tagging, chunking): one tag per word of a sentence.

Data: rows with a list of words and a list of tags (``data.tokens_column``, ``data.tags_column``) from
JSON/JSONL/Parquet files or the hub, or CoNLL text files (``llmkit.tasks.tokencls_rows``). Words are
split into sub-tokens as transformers' ``run_ner.py`` does: the first sub-token of a word carries its tag,
the others -100 (``tokencls.label_all_tokens`` tags them too, ``B-X`` continuing as ``I-X``).

A word past ``data.max_seq_length`` (or one the tokenizer turns into no token at all) is not seen by the
model: it is predicted ``O`` (outside any entity), scored as such, and counted per split in
``data.truncated_words``; ``llmkit generate`` reports the count of each input as ``truncated_words``.
Scores are seqeval's, per word (``llmkit.tasks.tokencls_scores``), over every word of the split, so the
rows ``eval --predictions`` writes rescore to the reported numbers.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, model_validator

from llmkit.config import DataSection, Section
from llmkit.data import column_values
from llmkit.errors import ModelError, UsageError
from llmkit.tasks.spec import DataSummary, Details, Distillation, Explanation, PrepareContext, Prepared, Shown, TaskSpec
from llmkit.tasks.tokencls_rows import check_tags, raw_rows, resolve_labels, usable_splits
from llmkit.tasks.tokencls_scores import OUTSIDE, entity_scores, entity_spans, is_plain


class TokenClsData(DataSection):
    """Data section of a token-classification recipe."""

    tokens_column: str = Field("tokens", description="Column holding each sentence's list of words.")
    tags_column: str = Field(
        "tags", description="Column holding one tag per word: names, or integers indexing tokencls.labels."
    )
    id_column: str | None = Field(None, description="Column used as example id in predictions (default: row number).")
    conll_token_column: int = Field(0, description="CoNLL text files: the column of the word (0-based).")
    conll_tag_column: int = Field(
        -1, description="CoNLL text files: the column of the tag (0-based; -1, the default, is the last)."
    )


class TokenClsOptions(Section):
    """Options of the tokencls task."""

    labels: list[str] | None = Field(
        None,
        description="Tag set in id order (names of integer tags); by default the data's ClassLabel names or the "
        "sorted tags of the training split.",
    )
    label_all_tokens: bool = Field(
        False, description="Tag every sub-token of a word (B-X continues as I-X), not only the first."
    )
    mode: Literal["default", "strict"] = Field(
        "default", description="seqeval's mode: default (conlleval's lenient chunks) or strict (tokencls.scheme)."
    )
    scheme: Literal["IOB1", "IOB2", "IOE1", "IOE2", "IOBES", "BILOU"] | None = Field(
        None, description="Strict mode only: the tagging scheme entities must follow (default IOB2)."
    )

    @model_validator(mode="after")
    def _scheme_needs_strict(self) -> TokenClsOptions:
        if self.scheme is not None and self.mode != "strict":
            raise ValueError("tokencls.scheme applies in strict mode only; set tokencls.mode: strict")
        return self


# ---------------------------------------------------------------------------------------------
# Alignment


def align_labels(word_ids: list[int | None], tag_ids: list[int], label_all: bool, b_to_i: list[int]) -> list[int]:
    """One label per token: the word's tag on its first sub-token; -100 (or the I- tag) on the others."""
    labels, previous = [], None
    for word in word_ids:
        if word is None:
            labels.append(-100)
        elif word != previous:
            labels.append(tag_ids[word])
        else:
            labels.append(b_to_i[tag_ids[word]] if label_all else -100)
        previous = word
    return labels


def first_tokens(word_ids: list[int | None], count: int) -> list[int]:
    """Per word, the position of its first sub-token, or -1 for a word the model does not see."""
    starts = [-1] * count
    for position, word in enumerate(word_ids):
        if word is not None and starts[word] < 0:
            starts[word] = position
    return starts


def b_to_i_map(labels: list[str]) -> list[int]:
    """Tag id -> the id sub-tokens after the first get with label_all_tokens (B-X -> I-X when it exists)."""
    index = {name: i for i, name in enumerate(labels)}
    return [index.get("I-" + name[2:], i) if name.startswith("B-") else i for i, name in enumerate(labels)]


def _require_fast(tokenizer: Any) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError("model.tokenizer_name_or_path: tokencls needs a fast tokenizer (to map sub-tokens to words)")


# ---------------------------------------------------------------------------------------------
# Task functions


def prepare(ctx: PrepareContext) -> Prepared:
    """Check rows and tags, then tokenize every split into words' sub-tokens with their aligned labels."""
    recipe = ctx.recipe
    data, options = recipe.data, recipe.options
    _require_fast(ctx.tokenizer)
    splits, kept, dropped = usable_splits(ctx)
    labels = resolve_labels(ctx, splits)
    label2id = {name: i for i, name in enumerate(labels)}
    tags = {split: check_tags(dataset, split, labels, ctx) for split, dataset in splits.items()}
    cache_key = {
        "columns": [data.tokens_column, data.tags_column],
        "max_length": data.max_seq_length,
        "labels": labels,
        "label_all_tokens": options.label_all_tokens,
    }
    features, starts = {}, {}
    summary = DataSummary(truncated={}, dropped=dropped, labels=labels, extra={"truncated_words": {}})
    for split, dataset in splits.items():
        tag_ids = [[label2id[name] for name in row] for row in tags[split]]
        words = dataset.select_columns([data.tokens_column]).add_column("tag_ids", tag_ids)
        mapped = _tokenize(ctx, words, split, cache_key)
        starts[split] = column_values(mapped, "word_starts")
        unseen = [row.count(-1) for row in starts[split]]
        summary.truncated[split] = sum(1 for n in unseen if n)
        summary.extra["truncated_words"][split] = sum(unseen)
        summary.rows[split] = len(mapped)
        features[split] = mapped.remove_columns(["word_starts"])
    state = {
        "labels": labels,
        "plain": is_plain(labels),
        "ids": {s: _ids(d, data.id_column, kept[s]) for s, d in splits.items()},
        "tokens": {s: column_values(d, data.tokens_column) for s, d in splits.items()},
        "tags": tags,
        "word_starts": starts,
    }
    model_kwargs = {"num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": label2id}
    return Prepared(features=features, model_kwargs=model_kwargs, state=state, summary=summary)


def _tokenize(ctx: PrepareContext, dataset: Any, split: str, cache_key: dict[str, Any]) -> Any:
    """Sub-tokens, aligned labels and each word's first position (``word_starts``) of one split."""
    from llmkit.data import cached_map

    data, options = ctx.recipe.data, ctx.recipe.options
    tokenizer, column = ctx.tokenizer, data.tokens_column
    b_to_i = b_to_i_map(cache_key["labels"])

    def encode(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        encoded = tokenizer(batch[column], is_split_into_words=True, truncation=True, max_length=data.max_seq_length)
        out = {key: encoded[key] for key in encoded}
        out["labels"], out["word_starts"] = [], []
        for i, (words, tag_ids) in enumerate(zip(batch[column], batch["tag_ids"], strict=True)):
            word_ids = encoded.word_ids(i)
            out["labels"].append(align_labels(word_ids, tag_ids, options.label_all_tokens, b_to_i))
            out["word_starts"].append(first_tokens(word_ids, len(words)))
        return out

    def run_map() -> Any:
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

    if ctx.main_process_first is None:
        return run_map()
    with ctx.main_process_first():
        return run_map()


def _ids(dataset: Any, id_column: str | None, kept: list[int] | None) -> list[Any]:
    """Example ids: the id column, else the row's position in the split as read (dropped rows keep theirs)."""
    if id_column:
        return column_values(dataset, id_column)
    return kept if kept is not None else list(range(len(dataset)))


def collator(tokenizer: Any, recipe: Any, prepared: Prepared) -> Any:
    """Pad inputs per batch and labels with -100 (transformers' token-classification collator)."""
    from transformers import DataCollatorForTokenClassification

    return DataCollatorForTokenClassification(tokenizer)


def preprocess_logits(recipe: Any) -> Any:
    """Keep only each token's best tag id, so evaluation holds (examples, tokens) ints, not all logits."""

    def best(logits: Any, labels: Any) -> Any:
        logits = logits[0] if isinstance(logits, tuple | list) else logits
        return logits.argmax(dim=-1)

    return best


def _tag_ids(predictions: Any) -> Any:
    """(examples, tokens) tag ids from what evaluation returns: ids already, or logits (an ONNX graph's)."""
    import numpy as np

    values = np.asarray(predictions[0] if isinstance(predictions, tuple) else predictions)
    return values.argmax(axis=-1) if values.ndim == 3 else values


def word_tags(prepared: Prepared, split: str, predictions: Any) -> list[list[str]]:
    """One predicted tag per word of each example: its first sub-token's, ``O`` for words the model did not see."""
    labels = prepared.state["labels"]
    ids = _tag_ids(predictions)
    rows = []
    for i, starts in enumerate(prepared.state["word_starts"][split]):
        rows.append([labels[int(ids[i, p])] if 0 <= p < ids.shape[1] else OUTSIDE for p in starts])
    return rows


def metrics(recipe: Any, prepared: Prepared, split: str) -> Any:
    """A ``compute_metrics`` closure: seqeval's entity precision/recall/f1 and word accuracy."""
    if split not in prepared.state["tags"]:
        return None

    def compute(eval_pred: Any) -> dict[str, float]:
        predicted = word_tags(prepared, split, eval_pred.predictions)
        scores, _ = entity_scores(prepared.state["tags"][split], predicted, recipe.options, prepared.state["plain"])
        return scores

    return compute


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """One row per sentence (``id``, ``tokens``, ``prediction``, ``reference``) and the per-type table."""
    predicted = word_tags(prepared, split, output.predictions)
    state = prepared.state
    references = state["tags"][split]
    rows = [
        {"id": state["ids"][split][i], "tokens": state["tokens"][split][i], "prediction": tags, "reference": ref}
        for i, (tags, ref) in enumerate(zip(predicted, references, strict=True))
    ]
    _, table = entity_scores(references, predicted, recipe.options, state["plain"])
    return Details(rows=rows, tables={"per_type": table} if table else {})


# ---------------------------------------------------------------------------------------------
# Prediction on new text

PUNCTUATION_RUN = re.compile(r"([^\w\s])\1*")


def split_words(text: str) -> list[tuple[str, int, int]]:
    """Words of a raw text with character offsets: whitespace-separated, leading and trailing punctuation apart.

    ``Paris.`` -> ``Paris`` ``.``; inner punctuation stays (``don't``, ``e-mail``, ``U.S``). Inputs that need
    other words give them as a list (``tokens`` in --input).
    """
    found: list[tuple[str, int, int]] = []
    for match in re.finditer(r"\S+", text):
        piece, offset = match.group(), match.start()
        core = re.fullmatch(r"([^\w]*)(.*?)([^\w]*)", piece)
        lead, middle, trail = core.group(1), core.group(2), core.group(3)
        for run in PUNCTUATION_RUN.finditer(lead):
            found.append((run.group(), offset + run.start(), offset + run.end()))
        if middle:
            start = offset + len(lead)
            found.append((middle, start, start + len(middle)))
        base = offset + len(lead) + len(middle)
        for run in PUNCTUATION_RUN.finditer(trail):
            found.append((run.group(), base + run.start(), base + run.end()))
    return found


def _input_words(item: dict[str, Any], number: int) -> tuple[list[str], list[tuple[int, int] | None]]:
    """The words of one input and their character offsets in its text (None where a given word is not found)."""
    text = str(item.get("text", ""))
    given = item.get("tokens")
    if given is None:
        words = split_words(text)
        return [w for w, _, _ in words], [(s, e) for _, s, e in words]
    if not isinstance(given, list) or not all(isinstance(w, str) and w for w in given):
        raise UsageError(f"input {number}: 'tokens' must be a list of non-empty strings (the words to tag)")
    offsets: list[tuple[int, int] | None] = []
    cursor = 0
    for word in given:
        at = text.find(word, cursor)
        offsets.append(None if at < 0 else (at, at + len(word)))
        cursor = cursor if at < 0 else at + len(word)
    return list(given), offsets


def predict(
    model: Any, tokenizer: Any, inputs: list[dict[str, Any]], recipe: Any = None, **kwargs: Any
) -> list[dict[str, Any]]:
    """Tag the words of each input: one tag per word, its probability, and the entities with character spans."""
    import torch

    _require_fast(tokenizer)
    config = model.config
    labels = [config.id2label[i] for i in range(config.num_labels)]
    options = recipe.options if recipe is not None else TokenClsOptions()
    max_length = recipe.data.max_seq_length if recipe is not None else min(tokenizer.model_max_length or 512, 512)
    batch_size = int((kwargs.get("options") or {}).get("batch_size") or 32)
    on_batch = kwargs.get("on_batch")
    words = [_input_words(item, number) for number, item in enumerate(inputs, start=1)]
    results: list[dict[str, Any]] = []
    model.eval()
    for first in range(0, len(inputs), batch_size):
        chunk = words[first : first + batch_size]
        encoded = tokenizer(
            [w for w, _ in chunk or [([""], [])]],
            is_split_into_words=True,
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        with torch.inference_mode():
            probs = model(**encoded.to(model.device)).logits.float().softmax(-1).cpu()
        for i, (item_words, offsets) in enumerate(chunk):
            starts = first_tokens(encoded.word_ids(i), len(item_words))
            best = [(int(probs[i, p].argmax()), float(probs[i, p].max())) if p >= 0 else None for p in starts]
            tags = [labels[b[0]] if b else OUTSIDE for b in best]
            scores = [round(b[1], 6) if b else None for b in best]
            text = str(inputs[first + i].get("text", ""))
            results.append(_tagged(text, item_words, offsets, tags, scores, options, is_plain(labels)))
        if on_batch is not None:
            on_batch(len(chunk))
    return results


def _tagged(
    text: str, words: list[str], offsets: list, tags: list[str], scores: list, options: Any, plain: bool
) -> dict[str, Any]:
    entities = []
    for kind, start, end in entity_spans(tags, options, plain):
        first, last = offsets[start], offsets[end - 1]
        span = text[first[0] : last[1]] if first and last else " ".join(words[start:end])
        entities.append(
            {
                "type": kind,
                "text": span,
                "start": first[0] if first else None,
                "end": last[1] if last else None,
                "words": [start, end],
            }
        )
    return {
        "text": text,
        "tokens": words,
        "tags": tags,
        "scores": scores,
        "entities": entities,
        "truncated_words": scores.count(None),
    }


def show_prediction(row: dict[str, Any]) -> Shown:
    """The words with entities grouped and tagged: ``I live in Paris/LOC``, ``[New York]/LOC``."""
    words, pieces, cursor = row.get("tokens") or [], [], 0
    for entity in row.get("entities") or []:
        start, end = entity["words"]
        pieces += words[cursor:start]
        joined = " ".join(words[start:end])
        pieces.append(f"{joined if end - start == 1 else f'[{joined}]'}/{entity['type']}")
        cursor = end
    pieces += words[cursor:]
    shown = " ".join(pieces)
    if row.get("truncated_words"):
        shown += f"  ({row['truncated_words']} word(s) past data.max_seq_length, tagged O)"
    return Shown(str(row.get("text", "")), shown)


def head_loss(logits: dict[str, Any], batch: dict[str, Any], config: Any) -> Any:
    """The token-classification loss (mean over labelled tokens) from the logits, or None without labels."""
    from transformers.loss.loss_utils import LOSS_MAPPING

    labels = batch.get("labels")
    if labels is None:
        return None
    return LOSS_MAPPING["ForTokenClassification"](logits["logits"], labels, config)


TASK = TaskSpec(
    name="tokencls",
    summary="Token classification (NER, part-of-speech tagging, chunking; seqeval entity scores)",
    commands=("finetune",),
    data_model=TokenClsData,
    options_model=TokenClsOptions,
    auto_model="AutoModelForTokenClassification",
    key_metric="f1",
    greater_is_better=True,
    architectures=("ForTokenClassification",),
    prepare=prepare,
    collator=collator,
    metrics=metrics,
    details=details,
    predict=predict,
    preprocess_logits=preprocess_logits,
    raw_rows=raw_rows,
    pipeline_tag="token-classification",
    pipeline_example='"John Smith lives in Paris"',
    loss_kind="ForTokenClassification",
    head_loss=head_loss,
    distill=Distillation(shift_labels=False, match="labels"),
    show_prediction=show_prediction,
    hidden_columns=("tokens",),
    peft_task_type="TOKEN_CLS",
    explain=Explanation("token_label"),
)
