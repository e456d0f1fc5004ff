"""What the causal-LM and masked-LM tasks share: the corpus section, packing, and perplexity.

Perplexity is computed from per-row sums: ``preprocess_logits`` turns each evaluation batch's logits
into ``[summed NLL, predicted tokens]`` per row on the device, so evaluation never holds
full-vocabulary logits beyond one batch, and the metric is exp(total NLL / total tokens), not an
average of per-batch means.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import Field

from llmkit.config import DataSection
from llmkit.errors import ConfigError, DataError
from llmkit.tasks.caching import code_hash
from llmkit.tasks.spec import DataSummary, Details, PrepareContext, Prepared

IGNORE_INDEX = -100


class LMData(DataSection):
    """Data section of a pretraining recipe: a text corpus."""

    text_column: str = Field("text", description="Column holding the text (text files: 'text').")
    sample_by: Literal["line", "paragraph", "document"] = Field(
        "line", description="Text files: one document per line, per blank-line-separated paragraph, or per file."
    )
    block_size: int | None = Field(
        None, gt=1, description="Tokens per packed training block; default data.max_seq_length."
    )

    def block(self) -> int:
        """The packing block length."""
        return self.block_size or self.max_seq_length


# ---------------------------------------------------------------------------------------------
# Packing and windows (pure Python, unit-tested)


def pack_blocks(columns: dict[str, list[list[Any]]], block_size: int) -> tuple[dict[str, list[list[Any]]], int]:
    """Concatenate rows and cut them into ``block_size`` blocks; returns the blocks and the dropped tail length.

    Every token lands in exactly one block except the last ``len % block_size`` tokens, which are
    dropped (and counted) so that no block needs padding.
    """
    joined = {key: [item for row in rows for item in row] for key, rows in columns.items()}
    total = len(next(iter(joined.values()), []))
    usable = total - total % block_size
    blocks = {key: [values[i : i + block_size] for i in range(0, usable, block_size)] for key, values in joined.items()}
    return blocks, total - usable


def sliding_windows(ids: list[int], window: int, stride: int) -> list[tuple[list[int], list[int]]]:
    """Windows of at most ``window`` tokens moved ``stride`` at a time, with labels on new tokens only.

    Each token is scored once, in the first window that reaches it, with up to ``window - 1`` tokens
    of left context; labels of the context part are IGNORE_INDEX (the model shifts labels itself).
    """
    if not ids:
        return []
    if stride > window:
        raise ConfigError(f"eval.stride: {stride} is longer than the window ({window} tokens)")
    out: list[tuple[list[int], list[int]]] = []
    scored_until = 0
    for begin in range(0, max(len(ids), 1), stride):
        end = min(begin + window, len(ids))
        chunk = ids[begin:end]
        fresh = end - scored_until
        labels = [IGNORE_INDEX] * (len(chunk) - fresh) + chunk[len(chunk) - fresh :]
        out.append((chunk, labels))
        scored_until = end
        if end == len(ids):
            break
    return out


def clean_texts(values: Iterable[Any]) -> list[str]:
    """Text values as strings, empty documents left out (an empty line is no document), and so are lists and
    objects (``check_text_rows`` has counted those)."""
    from llmkit.data.rows import as_text

    return [text for text in map(as_text, values) if isinstance(text, str)]


def check_text_rows(ctx: PrepareContext, column: str) -> None:
    """Each split has the text column; rows holding a list or an object there are counted and left out with a
    warning (``--strict``: a data error), never trained on as their Python repr."""
    from llmkit.data import require_columns
    from llmkit.data.rows import Dropped, not_text_rows, report_dropped

    for split, dataset in ctx.raw.items():
        require_columns(dataset, {"text_column": column}, ctx.sources.get(split, split))
        dropped = Dropped()
        dropped.add(f"a '{column}' value that is not text", not_text_rows(dataset, column))
        report_dropped(len(dataset), dropped, ctx.sources, split, ctx.strict)


def context_length(model_config: Any) -> int | None:
    """The longest sequence the model accepts, from its config."""
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(model_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_block(ctx: PrepareContext) -> int:
    """The block size, checked against the model's context length."""
    block = ctx.recipe.data.block()
    limit = context_length(ctx.model_config) if ctx.model_config is not None else None
    if limit is not None and block > limit:
        key = "data.block_size" if ctx.recipe.data.block_size else "data.max_seq_length"
        raise ConfigError(f"{key}: {block} tokens is longer than the model's context ({limit} positions)")
    return block


# ---------------------------------------------------------------------------------------------
# Preparing a corpus


def tokenize_and_pack(
    ctx: PrepareContext,
    encode: Callable[[list[str]], dict[str, list[list[Any]]]],
    key: dict[str, Any],
    window: Callable[[str], tuple[int, int] | None] | None = None,
) -> Prepared:
    """Tokenize every split with ``encode`` (texts -> token columns), then pack it into blocks.

    ``window(split)`` may return ``(window, stride)`` to cut that split into sliding windows instead
    (strided evaluation). The summary counts tokens, blocks and the dropped tail per split.
    """
    from llmkit.data import cached_map, column_sum

    # cached_map hashes the module of the mapped function (this one); the task's encode lives elsewhere
    key = {**key, "encode": code_hash(encode)}
    recipe, tokenizer = ctx.recipe, ctx.tokenizer
    data = recipe.data
    block = check_block(ctx)
    check_text_rows(ctx, data.text_column)

    def tokenize(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        texts = clean_texts(batch[data.text_column])
        # a batch of blank rows only: tokenizers cannot encode an empty list, so take the columns from one text
        out = encode(texts) if texts else {name: [] for name in encode(["."])}
        out["n_tokens"] = [len(ids) for ids in out["input_ids"]]
        return out

    def pack(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        columns = {k: v for k, v in batch.items() if k != "n_tokens"}
        return pack_blocks(columns, block)[0]

    features: dict[str, Any] = {}
    summary = DataSummary(truncated={}, extra={"tokens": {}, "dropped_tokens": {}, "block_size": block})
    for split, dataset in ctx.raw.items():

        def build(dataset: Any = dataset, split: str = split) -> Any:
            tokens = cached_map(
                dataset,
                tokenize,
                key={**key, "column": data.text_column},
                tokenizer=tokenizer,
                batched=True,
                remove_columns=dataset.column_names,
                num_proc=data.preprocessing_num_workers,
                desc=f"Tokenizing {split}",
            )
            strided = window(split) if window is not None else None
            if strided is not None:  # one batch: the whole split is one token stream
                keep = ["input_ids"]
                windows = _windows_of(*strided)
                mapped = cached_map(
                    tokens.select_columns(keep), windows, key={**key, "window": strided}, batched=True,
                    batch_size=None, remove_columns=keep, desc=f"Windowing {split}",
                )  # fmt: skip
            else:
                mapped = cached_map(
                    tokens, pack, key={**key, "block": block}, batched=True, remove_columns=tokens.column_names,
                    num_proc=data.preprocessing_num_workers, desc=f"Packing {split}",
                )  # fmt: skip
            return tokens, mapped, strided

        if ctx.main_process_first is None:
            tokens, mapped, strided = build()
        else:
            with ctx.main_process_first():
                tokens, mapped, strided = build()
        total = column_sum(tokens, "n_tokens") if len(tokens) else 0  # no rows: blank text only
        summary.extra["tokens"][split] = total
        summary.extra["dropped_tokens"][split] = 0 if strided else total - len(mapped) * block
        summary.rows[split] = len(mapped)
        _require_blocks(ctx.sources.get(split, split), data.text_column, len(dataset), total, len(mapped), block)
        features[split] = mapped
    return Prepared(features=features, summary=summary)


def _windows_of(size: int, stride: int) -> Callable[[dict[str, list[Any]]], dict[str, list[Any]]]:
    """A batched map function cutting a split's token stream into sliding windows."""

    def cut(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        stream = [t for ids in batch["input_ids"] for t in ids]
        pieces = sliding_windows(stream, size, stride)
        return {"input_ids": [p[0] for p in pieces], "labels": [p[1] for p in pieces]}

    return cut


def _require_blocks(source: str, column: str, rows: int, tokens: int, blocks: int, block: int) -> None:
    """A split must hold some text, and enough of it for one block."""
    if tokens == 0:
        raise DataError(f"{source}: no text: all {rows} row(s) of '{column}' are empty or blank")
    if blocks == 0:
        raise DataError(
            f"{source}: {tokens} tokens make no block of {block}; give more text or a smaller data.block_size"
        )


# ---------------------------------------------------------------------------------------------
# Perplexity


def nll_sums(logits: Any, labels: Any, shift: bool) -> Any:
    """Per row: [summed negative log-likelihood of the labelled tokens, number of labelled tokens].

    ``shift`` for causal models (token t is predicted from the logits at t-1). Rows are scored one at a
    time, so the float32 log-probabilities held at once are one row's, not the batch's (with a 50k
    vocabulary, 8 x 1024 tokens of them are 1.6 GB); a row's logits are already contiguous, so slicing
    copies nothing.
    """
    import torch

    if isinstance(logits, tuple | list):
        logits = logits[0]
    if shift:
        logits, labels = logits[:, :-1, :], labels[:, 1:]
    rows = [
        torch.nn.functional.cross_entropy(row.float(), row_labels, ignore_index=IGNORE_INDEX, reduction="sum")
        for row, row_labels in zip(logits, labels, strict=True)
    ]
    counted = (labels != IGNORE_INDEX).sum(dim=1)
    return torch.stack([torch.stack(rows), counted.to(torch.float32)], dim=1)


def head_loss(kind: str) -> Callable[[dict[str, Any], dict[str, Any], Any], Any]:
    """A ``TaskSpec.head_loss`` for a language-model head: transformers' ``kind`` loss over the vocabulary
    (``ForCausalLM`` shifts the labels itself), or None for a batch without labels."""

    def loss(logits: dict[str, Any], batch: dict[str, Any], config: Any) -> Any:
        from transformers.loss.loss_utils import LOSS_MAPPING

        labels = batch.get("labels")
        if labels is None:
            return None
        return LOSS_MAPPING[kind](logits["logits"], labels, vocab_size=config.vocab_size)

    return loss


def preprocess_logits(shift: bool) -> Callable[[Any], Callable[[Any, Any], Any]]:
    """A TaskSpec ``preprocess_logits`` hook: logits -> per-row NLL sums, batch by batch."""

    def factory(recipe: Any) -> Callable[[Any, Any], Any]:
        def reduce(logits: Any, labels: Any) -> Any:
            return nll_sums(logits, labels, shift)

        return reduce

    return factory


def prediction_columns(predictions: Any, width: int = 2) -> Any:
    """The per-row figures ``preprocess_logits`` kept, as a (rows, width) float64 array ([summed NLL, tokens]
    here; NSP appends its loss and correctness)."""
    import numpy as np

    values = predictions[0] if isinstance(predictions, tuple) else predictions
    return np.asarray(values, dtype=np.float64).reshape(-1, width)


def metrics(recipe: Any, prepared: Prepared, split: str) -> Callable[[Any], dict[str, float]]:
    """A ``compute_metrics`` closure: perplexity, token-weighted loss and the number of scored tokens."""
    from llmkit.metrics import perplexity_from_sums

    def compute(eval_pred: Any) -> dict[str, float]:
        sums = prediction_columns(eval_pred.predictions)
        return perplexity_from_sums(sums[:, 0], sums[:, 1])

    return compute


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """One row per evaluated block: its scored tokens, summed NLL and perplexity (``inf`` past a float)."""
    from llmkit.metrics import perplexity

    rows = []
    for i, (nll, count) in enumerate(prediction_columns(output.predictions)):
        rows.append(
            {
                "id": i,
                "tokens": int(count),
                "nll": float(nll),
                "prediction": perplexity(float(nll) / count) if count else None,
            }
        )
    return Details(rows=rows)
