"""Next-sentence prediction for the mlm task (``mlm.nsp: true``): BERT's sentence pairs, model, and metrics.

Each row of a split is a document (a line, a paragraph or a whole file, as ``data.sample_by`` reads text files;
one value of ``data.text_column`` otherwise). ``split_sentences`` finds its sentences: a blank line ends a
paragraph and a sentence; other line breaks are spaces (wrapped text); inside, ``llmkit.data.sentences``'
rule (the one summarization's ROUGE-Lsum uses). The pairs are built as Google's
``create_pretraining_data.py`` builds them: sentences are gathered into a chunk of up to ``block - 3`` tokens
(a shorter random target with ``mlm.nsp_short_seq_prob``), cut at a random sentence boundary into A and B;
with probability 1/2 B is replaced by text from a random other document (label 1, the sentences not used go
back to the document), otherwise B is the real continuation (label 0); the longer segment is trimmed at a
random end until the pair fits. Unlike BERT, a chunk of one sentence yields no pair (BERT made it a random
pair, which tips the classes away from 1/2); such documents still serve as random B segments.
Pairs are built once per split with ``random.Random(f"{mlm.nsp_seed}:{split}")``, so the validation pairs
(and, after masking with ``mlm.eval_mask_seed``, their figures) repeat run after run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llmkit.data.sentences import split_paragraph_sentences as split_sentences
from llmkit.errors import ConfigError
from llmkit.tasks import lm_common
from llmkit.tasks.spec import DataSummary, Details, PrepareContext, Prepared

IS_RANDOM, IS_NEXT = 1, 0  # BertForPreTraining's next_sentence_label: 0 = B continues A, 1 = B is random


@dataclass
class Pair:
    """One NSP example before the special tokens: segment A, segment B, whether B is random."""

    a: list[int]
    b: list[int]
    is_random: bool


def build_pairs(docs: list[list[list[int]]], max_tokens: int, rng: random.Random, short_seq_prob: float) -> list[Pair]:
    """BERT's pairs from tokenized documents (each a list of sentences of token ids), ``max_tokens`` = A + B."""
    pairs = []
    for index, doc in enumerate(docs):
        target = rng.randint(2, max_tokens) if rng.random() < short_seq_prob else max_tokens
        chunk: list[list[int]] = []
        length, i = 0, 0
        while i < len(doc):
            chunk.append(doc[i])
            length += len(doc[i])
            if i == len(doc) - 1 or (length >= target and len(chunk) >= 2):
                if len(chunk) >= 2:
                    a_end = rng.randint(1, len(chunk) - 1)
                    a = [t for sentence in chunk[:a_end] for t in sentence]
                    other = _other_document(docs, index, rng) if rng.random() < 0.5 else None
                    if other is not None:
                        b = _random_segment(docs[other], target - len(a), rng)
                        i -= len(chunk) - a_end  # the sentences B did not use go back to the document
                    else:
                        b = [t for sentence in chunk[a_end:] for t in sentence]
                    _truncate_pair(a, b, max_tokens, rng)
                    pairs.append(Pair(a, b, other is not None))
                chunk, length = [], 0
            i += 1
    return pairs


def _other_document(docs: list[list[list[int]]], index: int, rng: random.Random) -> int | None:
    """A random document other than ``index`` with some text (BERT tries 10 times), or None."""
    for _ in range(10):
        other = rng.randrange(len(docs))
        if other != index and docs[other]:
            return other
    return None


def _random_segment(doc: list[list[int]], target: int, rng: random.Random) -> list[int]:
    """Sentences of ``doc`` from a random start until ``target`` tokens (at least one sentence)."""
    start = rng.randrange(len(doc))
    segment: list[int] = []
    for sentence in doc[start:]:
        segment.extend(sentence)
        if len(segment) >= target:
            break
    return segment


def _truncate_pair(a: list[int], b: list[int], max_tokens: int, rng: random.Random) -> None:
    """Trim the longer segment, from its front or back at random, until A + B fits (BERT's rule)."""
    while len(a) + len(b) > max_tokens:
        longer = a if len(a) > len(b) else b
        if rng.random() < 0.5:
            del longer[0]
        else:
            longer.pop()


def encode_pair(pair: Pair, cls_id: int, sep_id: int) -> dict[str, Any]:
    """``[CLS] A [SEP] B [SEP]`` with segment ids 0 for ``[CLS] A [SEP]`` and 1 for ``B [SEP]``."""
    a, b = pair.a, pair.b
    return {
        "input_ids": [cls_id, *a, sep_id, *b, sep_id],
        "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1),
        "special_tokens_mask": [1, *[0] * len(a), 1, *[0] * len(b), 1],
        "next_sentence_label": IS_RANDOM if pair.is_random else IS_NEXT,
    }


# ---------------------------------------------------------------------------------------------
# Preparing the splits


def prepare_pairs(ctx: PrepareContext) -> Prepared:
    """Every split as sentence pairs of at most ``data.block_size`` tokens (see the module docstring)."""
    from llmkit.data import cached_map

    recipe, tokenizer, options = ctx.recipe, ctx.tokenizer, ctx.recipe.options
    if options.whole_word_mask:
        raise ConfigError("mlm.nsp: whole-word masking is not supported with sentence pairs; set one of them false")
    if tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise ConfigError("mlm.nsp: the tokenizer has no [CLS]/[SEP] tokens; NSP needs a BERT-style tokenizer")
    block = lm_common.check_block(ctx)
    column = recipe.data.text_column
    features: dict[str, Any] = {}
    summary = DataSummary(truncated={}, extra={"tokens": {}, "nsp_pairs": {}, "block_size": block})
    lm_common.check_text_rows(ctx, column)
    for split, dataset in ctx.raw.items():
        build = _pair_builder(tokenizer, column, block, f"{options.nsp_seed}:{split}", options.nsp_short_seq_prob)
        key = {"task": "mlm-nsp", "block": block, "seed": options.nsp_seed, "split": split, "column": column}
        key["short"] = options.nsp_short_seq_prob
        pairs = cached_map(
            dataset, build, key=key, tokenizer=tokenizer, batched=True, batch_size=None,
            remove_columns=dataset.column_names, desc=f"Sentence pairs {split}",
        )  # fmt: skip
        if len(pairs) == 0:
            raise ConfigError(
                f"mlm.nsp: {ctx.sources.get(split, split)} gives no sentence pair (no document has two sentences); "
                "give multi-sentence documents (data.sample_by: paragraph or document for text files)"
            )
        randoms = int(sum(pairs["next_sentence_label"]))
        summary.rows[split] = len(pairs)
        summary.extra["nsp_pairs"][split] = {"real": len(pairs) - randoms, "random": randoms}
        summary.extra["tokens"][split] = int(sum(len(ids) for ids in pairs["input_ids"]))
        features[split] = pairs
    return Prepared(features=features, summary=summary)


def _pair_builder(
    tokenizer: Any, column: str, block: int, seed: str, short_seq_prob: float
) -> Callable[[dict[str, list[Any]]], dict[str, list[Any]]]:
    """A batched map function: a whole split's documents -> its encoded pairs (one RNG stream per split)."""

    def build(batch: dict[str, list[Any]]) -> dict[str, list[Any]]:
        docs_text = [split_sentences(text) for text in lm_common.clean_texts(batch[column])]
        flat = [s for doc in docs_text for s in doc]
        ids = tokenizer(flat, add_special_tokens=False)["input_ids"] if flat else []
        docs, at = [], 0
        for doc in docs_text:
            docs.append([sentence for sentence in ids[at : at + len(doc)] if sentence])
            at += len(doc)
        pairs = build_pairs(docs, block - 3, random.Random(seed), short_seq_prob)
        rows = [encode_pair(pair, tokenizer.cls_token_id, tokenizer.sep_token_id) for pair in pairs]
        names = ("input_ids", "token_type_ids", "special_tokens_mask", "next_sentence_label")
        return {name: [row[name] for row in rows] for name in names}

    return build


# ---------------------------------------------------------------------------------------------
# Metrics: masked-token perplexity as without NSP, plus NSP accuracy and loss


def preprocess_logits(recipe: Any) -> Callable[[Any, Any], Any]:
    """Per row: [summed masked-token NLL, masked tokens, NSP loss, NSP correct] (no vocabulary-wide logits kept)."""

    def reduce(logits: Any, labels: Any) -> Any:
        import torch

        mlm_logits, nsp_logits = logits[0], logits[1]
        mlm_labels, nsp_labels = labels
        sums = lm_common.nll_sums(mlm_logits, mlm_labels, shift=False)
        nsp_loss = torch.nn.functional.cross_entropy(nsp_logits.float(), nsp_labels, reduction="none")
        correct = (nsp_logits.argmax(-1) == nsp_labels).to(torch.float32)
        return torch.cat([sums, nsp_loss[:, None], correct[:, None]], dim=1)

    return reduce


def metrics(recipe: Any, prepared: Prepared, split: str) -> Callable[[Any], dict[str, float]]:
    """A ``compute_metrics`` closure: perplexity of the masked tokens, ``nsp_accuracy`` and ``nsp_loss``."""
    from llmkit.metrics import perplexity_from_sums

    def compute(eval_pred: Any) -> dict[str, float]:
        values = lm_common.prediction_columns(eval_pred.predictions, 4)
        result = perplexity_from_sums(values[:, 0], values[:, 1])
        result["nsp_accuracy"] = float(values[:, 3].mean())
        result["nsp_loss"] = float(values[:, 2].mean())
        return result

    return compute


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """One row per pair: scored tokens, summed NLL, perplexity, and whether the NSP head was right."""
    from llmkit.metrics import perplexity

    rows = []
    for i, (nll, count, nsp_loss, correct) in enumerate(lm_common.prediction_columns(output.predictions, 4)):
        rows.append(
            {
                "id": i,
                "tokens": int(count),
                "nll": float(nll),
                "prediction": perplexity(float(nll) / count) if count else None,
                "nsp_correct": bool(correct),
                "nsp_loss": float(nsp_loss),
            }
        )
    return Details(rows=rows)


def check_model(model: Any) -> Any:
    """Refuse a model without a next-sentence head (only BERT-style ``...ForPreTraining`` models have one)."""
    import inspect

    if "next_sentence_label" not in inspect.signature(type(model).forward).parameters:
        raise ConfigError(
            f"mlm.nsp: {type(model).__name__} has no next-sentence head; use a BERT model (model_type: bert) "
            "or set mlm.nsp: false"
        )
    return model
