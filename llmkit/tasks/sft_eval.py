"""``sft`` evaluation by generation: a reply to each held-out prompt, scored against the reference reply.

The loss pass (perplexity on the trained tokens) is the Trainer's; this adds what a user of an instruction-tuned
model asks next: what does it answer? Greedy decoding unless the recipe's ``generate:`` section says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmkit.tasks.spec import Details, Prepared

DEFAULT_REPLY_TOKENS = 64


def reply_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """``exact_match`` (stripped text equal, x 100) and ROUGE-L F-measure (x 100, Google's rouge-score, stemmed)."""
    from rouge_score import rouge_scorer

    if not predictions:
        return {"exact_match": 0.0, "rougeL": 0.0}
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    exact = sum(p.strip() == r.strip() for p, r in zip(predictions, references, strict=True))
    rouge = sum(scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references, strict=True))
    return {"exact_match": 100.0 * exact / len(predictions), "rougeL": 100.0 * rouge / len(predictions)}


def reply_eval(model: Any, tokenizer: Any, recipe: Any, prepared: Prepared, split: str) -> tuple[dict, Details]:
    """Generate a reply to each held-out prompt of ``split``; rows ``{id, prompt, prediction, reference}``."""
    from llmkit.generation import decoding_options, generate_batch

    pairs = prepared.state.get(split, [])
    limit = recipe.sft.max_replies
    pairs = pairs if limit is None else pairs[:limit]
    if not pairs:
        return {}, Details()
    options = {"do_sample": False, **decoding_options(recipe, {})}
    options.setdefault("max_new_tokens", DEFAULT_REPLY_TOKENS)
    batch = int(recipe.training.per_device_eval_batch_size or 8)
    templated = getattr(tokenizer, "chat_template", None) is not None
    generated = generate_batch(
        model, tokenizer, [prompt for prompt, _ in pairs], options, batch_size=batch, special=not templated
    )
    predictions = [result.texts[0].strip() for result in generated]
    references = [reference for _, reference in pairs]
    rows = [
        {"id": i, "prompt": prompt, "prediction": prediction, "reference": reference}
        for i, ((prompt, reference), prediction) in enumerate(zip(pairs, predictions, strict=True))
    ]
    return reply_scores(predictions, references), Details(rows=rows)
