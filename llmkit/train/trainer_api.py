"""Every use of transformers' private ``Trainer`` API, in one place, with what llmkit needs from it.

A callback cannot choose where Trainer writes a checkpoint, which sampler evaluation reads with, or
hand over the gradient norm Trainer computed for clipping; these need a private method overridden or
patched. Each such name is listed in ``REQUIRED`` with the parameters llmkit relies on and the feature
that breaks without it; ``tests/unit/test_trainer_api.py`` checks the table against the installed
transformers, so an upgrade that renames one fails there, naming the feature, not deep in a run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple


class Needed(NamedTuple):
    """One private name llmkit uses: where it lives, the parameters relied on, and why."""

    owner: str  # dotted path of the class or module that has it
    params: tuple[str, ...] | None  # leading parameters after ``self`` (None: not a function)
    why: str  # the llmkit feature that breaks without it
    reads: str | None = None  # text the owner's source must still contain (where Trainer calls it)


REQUIRED: dict[str, Needed] = {
    "_get_output_dir": Needed(
        "transformers.Trainer", ("trial",), "point checkpoint saves at the staging folder (atomic checkpoints)"
    ),
    "_save_checkpoint": Needed(
        "transformers.Trainer", ("model", "trial"), "commit each checkpoint once it is whole, then rotate"
    ),
    "_get_eval_sampler": Needed(
        "transformers.Trainer",
        ("eval_dataset",),
        "read evaluation examples in order (per-example rows, QA and translation post-processing)",
        reads="sampler_fn=self._get_eval_sampler",
    ),
    "_get_grad_norm": Needed(
        "transformers.Trainer",
        ("model", "grad_norm"),
        "share the clipping gradient norm with the divergence guard (no second pass over the gradients)",
        reads="self._get_grad_norm(",
    ),
    "accepts_loss_kwargs": Needed(
        "transformers.Trainer",
        None,
        "keep mean losses from being rescaled by gradient accumulation and the process count",
        reads="accepts_loss_kwargs",
    ),
    "_prepare_inputs": Needed(
        "transformers.Trainer", ("inputs",), "move evaluation batches to the device before generating (seq2seq)"
    ),
    "prediction_step": Needed(
        "transformers.Trainer",
        ("model", "inputs", "prediction_loss_only", "ignore_keys"),
        "generate from the source prompt alone and time it (seq2seq evaluation)",
    ),
    "evaluation_loop": Needed(
        "transformers.Trainer",
        ("dataloader", "description", "prediction_loss_only", "ignore_keys", "metric_key_prefix"),
        "report gen_tokens_per_second under the split's prefix (seq2seq evaluation)",
    ),
    "_gen_kwargs": Needed(
        "transformers.Seq2SeqTrainer",
        None,
        "pass the generation options of predict()/evaluate() on to generate (seq2seq evaluation)",
        reads="self._gen_kwargs",
    ),
    "_metrics": Needed(
        "trl.trainer.dpo_trainer.DPOTrainer",
        None,
        "report TRL's evaluation metrics (DPO rewards/*, SFT mean_token_accuracy) from predict() on a split",
        reads="self._metrics[mode]",
    ),
    "_prepare_dataset": Needed(
        "trl.trainer.dpo_trainer.DPOTrainer",
        ("dataset", "processing_class", "args", "dataset_name"),
        "tokenize a preference split the way DPOTrainer does before scoring it (dpo evaluation)",
    ),
    "safe_globals": Needed(
        "transformers.trainer_pt_utils",
        (),
        "safe-load rng_state*.pth with the numpy globals Trainer itself admits (resume checks)",
    ),
}


# ---------------------------------------------------------------------------------------------
# Checkpoints: ``_get_output_dir`` and ``_save_checkpoint``


def staging_trainer(
    base: type,
    staging: str,
    save: Callable[[Callable[[], None], Path, int, Any], None],
    commit: Callable[[Path, Any, Any], None],
) -> type:
    """A subclass of ``base`` (Trainer or Seq2SeqTrainer) that saves checkpoints into ``staging`` first.

    While ``_save_checkpoint`` runs, ``_get_output_dir`` points into the ``staging`` folder of the run
    directory; ``save(trainer_save, run_dir, step, args)`` runs Trainer's own save, then
    ``commit(run_dir, state, args)`` makes the result visible. What committing means lives in
    ``checkpoints.committing_trainer``, which builds this class; this is the one Trainer subclass in llmkit.
    """

    class StagingTrainer(base):  # type: ignore[misc, valid-type]
        _llmkit_saving = False

        def _get_output_dir(self, trial: Any) -> str:
            run_dir = super()._get_output_dir(trial)
            return os.path.join(run_dir, staging) if self._llmkit_saving else run_dir

        def _save_checkpoint(self, model: Any, trial: Any) -> None:
            run_dir = Path(super()._get_output_dir(trial))
            trainer_save = super()._save_checkpoint
            self._llmkit_saving = True
            try:
                save(lambda: trainer_save(model, trial), run_dir, self.state.global_step, self.args)
            finally:
                self._llmkit_saving = False
            commit(run_dir, self.state, self.args)

    return StagingTrainer


# ---------------------------------------------------------------------------------------------
# Evaluation order: ``_get_eval_sampler``


def evaluate_in_order(trainer: Any) -> None:
    """Evaluation always reads examples in order.

    transformers 5 groups evaluation batches by length too when ``train_sampling_strategy`` is
    ``group_by_length``, which permutes the predictions: per-example rows (``--predictions``, sample
    tables) and QA/translation post-processing, which map predictions back to examples by position,
    would pair the wrong outputs. Metrics are unaffected; training keeps its length groups.
    """
    from torch.utils.data import SequentialSampler

    def sampler(eval_dataset: Any) -> Any:
        if eval_dataset is None or not hasattr(eval_dataset, "__len__"):
            return None
        return SequentialSampler(eval_dataset) if trainer.args.world_size <= 1 else None

    trainer._get_eval_sampler = sampler  # Trainer passes it as ``sampler_fn=self._get_eval_sampler``


# ---------------------------------------------------------------------------------------------
# The divergence guard's gradient norm: ``_get_grad_norm``


def share_grad_norm(trainer: Any, sink: Callable[[Any], None]) -> bool:
    """Hand every gradient norm Trainer computes (for clipping, every step) to ``sink``.

    An instance attribute over the bound method, so the cost is one Python call per optimizer step.
    False where the trainer has no such method (another transformers version): the caller then
    computes the norm itself.
    """
    original = getattr(trainer, "_get_grad_norm", None)
    if not callable(original):
        return False

    def get_grad_norm(model: Any, grad_norm: Any = None) -> Any:
        norm = original(model, grad_norm=grad_norm)
        sink(norm)
        return norm

    trainer._get_grad_norm = get_grad_norm
    return True


def unshare_grad_norm(trainer: Any) -> None:
    """Give the trainer its own ``_get_grad_norm`` back."""
    vars(trainer).pop("_get_grad_norm", None)


# ---------------------------------------------------------------------------------------------
# Seq2seq evaluation: ``prediction_step``, ``_prepare_inputs``, ``_gen_kwargs``, ``evaluation_loop``


def generation_eval(model: Any) -> type:
    """A mixin put before Seq2SeqTrainer: generation from the source prompt only, and generated tokens/s.

    Seq2SeqTrainer generates from the whole batch, which for a decoder-only model holds the target
    too; no callback can change what ``generate`` sees, so this overrides ``prediction_step``. The same
    step times ``generate`` for every kind, and ``evaluation_loop`` reports ``gen_tokens_per_second``.
    It must come first in the MRO, before the (committing) trainer class.
    """
    decoder_only = not getattr(model.config, "is_encoder_decoder", False)

    class GenerationEval:
        _llmkit_generated = (0, 0.0)

        def evaluation_loop(self, *args: Any, **kwargs: Any) -> Any:
            self._llmkit_generated = (0, 0.0)
            output = super().evaluation_loop(*args, **kwargs)  # type: ignore[misc]
            tokens, seconds = self._llmkit_generated
            # metric_key_prefix is evaluation_loop's fifth parameter (REQUIRED checks the order)
            prefix = kwargs.get("metric_key_prefix", args[4] if len(args) > 4 else "eval")
            if seconds > 0:
                output.metrics[f"{prefix}_gen_tokens_per_second"] = round(tokens / seconds, 3)
            return output

        def prediction_step(
            self, model: Any, inputs: dict[str, Any], prediction_loss_only: bool, ignore_keys: Any = None, **gen: Any
        ) -> Any:
            from transformers import Trainer

            if prediction_loss_only or not self.args.predict_with_generate:
                return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)  # type: ignore[misc]
            inputs = self._prepare_inputs(inputs)
            loss = None
            if "labels" in inputs:
                loss = Trainer.prediction_step(self, model, inputs, True, ignore_keys=ignore_keys)[0]
            kwargs = {k: v for k, v in {**getattr(self, "_gen_kwargs", {}), **gen}.items() if v is not None}
            generated, count, elapsed = _timed_generate(self.model, inputs, kwargs, decoder_only)
            tokens, seconds = self._llmkit_generated
            self._llmkit_generated = (tokens + count, seconds + elapsed)
            return loss, generated, inputs.get("labels")

    return GenerationEval


def _timed_generate(model: Any, inputs: dict[str, Any], kwargs: dict[str, Any], decoder_only: bool) -> Any:
    """Generate for one batch: (new tokens only, how many are not padding, seconds)."""
    import torch

    pad = model.generation_config.pad_token_id
    if decoder_only:
        prompt, mask = left_padded_prompts(inputs, pad)
    else:
        prompt, mask = inputs["input_ids"], inputs["attention_mask"]
    start = time.perf_counter()
    with torch.no_grad():
        generated = model.generate(input_ids=prompt, attention_mask=mask, **kwargs)
    elapsed = time.perf_counter() - start
    if decoder_only:
        generated = generated[:, prompt.shape[1] :]
    count = int((generated != pad).sum()) if pad is not None else generated.numel()
    return generated, count, elapsed


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


# ---------------------------------------------------------------------------------------------
# Loss scaling: ``accepts_loss_kwargs``


def disable_loss_kwargs(model: Any, when: Callable[[Any], bool]) -> None:
    """Tell Trainer that ``model``'s loss is a plain mean, unless its class decides that itself.

    ``when(model)`` says whether it is (``model.loss_uses_item_count``); it is asked only when the class
    leaves the choice to Trainer, since reading a forward's source is not free.
    """
    if not hasattr(type(model), "accepts_loss_kwargs") and when(model):
        model.accepts_loss_kwargs = False


# ---------------------------------------------------------------------------------------------
# Safe loads: ``trainer_pt_utils.safe_globals``


def trainer_safe_globals() -> Any:
    """The allowlist Trainer itself loads ``rng_state*.pth`` under (numpy's RNG state), as a context."""
    from transformers.trainer_pt_utils import safe_globals

    return safe_globals()


# ---------------------------------------------------------------------------------------------
# TRL trainers: ``_metrics`` and ``_prepare_dataset``


def logged_metrics(trainer: Any, mode: str = "eval") -> dict[str, float]:
    """The metrics a TRL trainer gathered in ``mode`` since they were last read (their mean), then forgotten.

    TRL accumulates its own metrics (DPO's ``rewards/margins``, SFT's ``mean_token_accuracy``) in
    ``trainer._metrics[mode]`` and adds them only to what ``log()`` sees; ``predict()`` never logs, so
    llmkit reads them here after scoring a split. ``num_tokens`` (a training count) is left out.
    An empty dict for transformers' own Trainer.
    """
    store = getattr(trainer, "_metrics", None)
    if not isinstance(store, dict) or mode not in store:
        return {}
    found = {
        key: float(sum(values) / len(values))
        for key, values in store[mode].items()
        if values and key != "num_tokens" and all(isinstance(v, int | float) for v in values)
    }
    store[mode].clear()
    return found


def trainer_prepared(trainer: Any, dataset: Any, split: str) -> Any:
    """A split of raw rows tokenized as the trainer prepared its own datasets (DPOTrainer's ``_prepare_dataset``).

    ``DPOTrainer.evaluate`` does this for a dataset passed to it, ``predict`` does not; llmkit scores splits
    with ``predict`` (per-split metric names, no evaluation callbacks).
    """
    return trainer._prepare_dataset(dataset, trainer.processing_class, trainer.args, split)


def skip_model_card(trainer: Any) -> None:
    """TRL's trainers write a Hub model card (README.md) into the run directory at every checkpoint; llmkit's
    export writes its own card, and the run directory holds only files llmkit owns."""
    trainer.create_model_card = lambda *args, **kwargs: None
