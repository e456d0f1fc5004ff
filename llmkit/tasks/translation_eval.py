"""Translation evaluation: decoding generated ids, corpus BLEU/chrF, per-pair details, timed generation.

Seq2SeqTrainer generates from the whole batch; ``trainer_mixin`` makes a decoder-only model generate
from the source prompt alone and times every kind's ``generate`` (``gen_tokens_per_second``).
"""

from __future__ import annotations

import time
from typing import Any

from llmkit.errors import ConfigError
from llmkit.tasks.spec import Details, Prepared

BUILTIN_METRICS = ("bleu", "chrf", "gen_len")


def decode(token_rows: Any, tokenizer: Any) -> list[str]:
    """Generated ids (padded with -100 across batches) -> text, special tokens dropped."""
    import numpy as np

    rows = np.asarray(token_rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows = np.where(rows < 0, pad, rows)
    return [text.strip() for text in tokenizer.batch_decode(rows.tolist(), skip_special_tokens=True)]


def _generated_lengths(token_rows: Any, tokenizer: Any) -> list[int]:
    import numpy as np

    rows = np.asarray(token_rows)
    specials = set(tokenizer.all_special_ids)
    return [int(sum(1 for v in row if v >= 0 and v not in specials)) for row in rows]


def _predictions(eval_pred_predictions: Any) -> Any:
    return eval_pred_predictions[0] if isinstance(eval_pred_predictions, tuple) else eval_pred_predictions


def metrics(recipe: Any, prepared: Prepared, split: str) -> Any:
    """A ``compute_metrics`` closure: corpus BLEU and chrF against the raw reference texts, and gen_len."""
    from llmkit.metrics import split_metric_names, translation_scores

    builtin, external = split_metric_names(recipe.eval.metrics, BUILTIN_METRICS)
    if external:
        raise ConfigError(f"eval.metrics: translation has built-in metrics only ({', '.join(BUILTIN_METRICS)})")
    tokenizer = prepared.state["target_tokenizer"]
    references = prepared.state["references"][split]

    def compute(eval_pred: Any) -> dict[str, float]:
        import numpy as np

        tokens = _predictions(eval_pred.predictions)
        hypotheses = decode(tokens, tokenizer)
        scores = translation_scores(hypotheses, references[: len(hypotheses)])
        scores["gen_len"] = float(np.mean(_generated_lengths(tokens, tokenizer))) if len(hypotheses) else 0.0
        return {name: scores[name] for name in builtin}

    return compute


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """Per-pair predictions in input order, and the sacrebleu signatures of the scores."""
    from llmkit.metrics import translation_signatures

    state = prepared.state
    hypotheses = decode(_predictions(output.predictions), state["target_tokenizer"])
    order = state["order"][split]
    rows: list[dict[str, Any]] = [{}] * len(order)
    for position, index in enumerate(order):
        rows[index] = {
            "id": state["ids"][split][index],
            "source": state["sources"][split][index],
            "prediction": hypotheses[position],
            "reference": state["references"][split][position],
        }
    signatures = translation_signatures([r["prediction"] for r in rows], [r["reference"] for r in rows])
    return Details(rows=rows, tables={"sacrebleu": [{"metric": k, "signature": v} for k, v in signatures.items()]})


# ---------------------------------------------------------------------------------------------
# Evaluation generates from the source alone, timed


def trainer_mixin(recipe: Any, model: Any) -> type:
    """A mixin for Seq2SeqTrainer: generation from the source prompt only, and generated tokens/s.

    Seq2SeqTrainer generates from the whole batch, which for a decoder-only model holds the target
    too; no callback can change what ``generate`` sees, so this overrides ``prediction_step``. The same
    step times ``generate`` for every kind, and ``evaluation_loop`` reports ``gen_tokens_per_second``.
    """
    decoder_only = not getattr(model.config, "is_encoder_decoder", False)

    class TranslationGeneration:
        _llmkit_generated = (0, 0.0)

        def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
            self._llmkit_generated = (0, 0.0)
            output = super().evaluation_loop(*args, **kwargs)  # type: ignore[misc]
            tokens, seconds = self._llmkit_generated
            prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
            if seconds > 0:
                output.metrics[f"{prefix}_gen_tokens_per_second"] = round(tokens / seconds, 3)
            return output

        def prediction_step(
            self, model: Any, inputs: dict[str, Any], prediction_loss_only: bool, ignore_keys: Any = None, **gen: Any
        ) -> Any:
            import torch
            from transformers import Trainer

            if prediction_loss_only or not self.args.predict_with_generate:
                return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)  # type: ignore[misc]
            inputs = self._prepare_inputs(inputs)
            loss = None
            if "labels" in inputs:
                loss = Trainer.prediction_step(self, model, inputs, True, ignore_keys=ignore_keys)[0]
            kwargs = {k: v for k, v in {**getattr(self, "_gen_kwargs", {}), **gen}.items() if v is not None}
            if decoder_only:
                prompt, mask = left_padded_prompts(inputs, self.model.generation_config.pad_token_id)
            else:
                prompt, mask = inputs["input_ids"], inputs["attention_mask"]
            start = time.perf_counter()
            with torch.no_grad():
                generated = self.model.generate(input_ids=prompt, attention_mask=mask, **kwargs)
            elapsed = time.perf_counter() - start
            if decoder_only:
                generated = generated[:, prompt.shape[1] :]
            pad = self.model.generation_config.pad_token_id
            count = int((generated != pad).sum()) if pad is not None else generated.numel()
            tokens, seconds = self._llmkit_generated
            self._llmkit_generated = (tokens + count, seconds + elapsed)
            return loss, generated, inputs.get("labels")

    return TranslationGeneration


def left_padded_prompts(inputs: dict[str, Any], pad_token_id: int | None) -> tuple[Any, Any]:
    """Decoder-only: the prompt of each row (the tokens before the first label), left-padded."""
    import torch

    input_ids, labels = inputs["input_ids"], inputs.get("labels")
    mask = inputs.get("attention_mask", torch.ones_like(input_ids))
    if labels is None:
        lengths = mask.sum(dim=1)
    else:
        is_target = labels != -100
        lengths = torch.where(is_target.any(dim=1), is_target.int().argmax(dim=1), mask.sum(dim=1))
    width = int(lengths.max())
    prompt = torch.full((input_ids.shape[0], width), pad_token_id or 0, dtype=input_ids.dtype, device=input_ids.device)
    prompt_mask = torch.zeros_like(prompt)
    for row, length in enumerate(lengths.tolist()):
        if length:
            prompt[row, width - length :] = input_ids[row, :length]
            prompt_mask[row, width - length :] = 1
    return prompt, prompt_mask
