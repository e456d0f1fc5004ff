"""Sample inputs for checking and timing exported models, and the small tensor helpers the checks share."""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmkit.tasks.spec import TaskSpec

LATENCY_RUNS = 20
# Sample inputs for checking and timing exported graphs: two lengths, so padding and dynamic axes are used.
SAMPLE_TEXTS = ("a small domesticated animal that purrs and catches mice", "a sweet dessert")


def sample_inputs(task: TaskSpec, tokenizer: Any, left: bool = False) -> dict[str, Any]:
    """A padded batch of two sample inputs for ``task`` (torch tensors), for checks and timing: the sample texts,
    paired with the task's ``sample_context`` when it has one, or the batch the task's ``sample_inputs`` makes of
    them; ``left`` pads on the left, as prompts to a causal LM are."""
    import copy

    # A copy pads (with EOS when it has no pad token): padding settings stay on a fast tokenizer's backend after
    # a call, and would be saved with the exported tokenizer, which stays as trained.
    tokenizer = copy.deepcopy(tokenizer)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if left:
        tokenizer.padding_side = "left"
    if task.sample_inputs is not None:
        return dict(task.sample_inputs(tokenizer, SAMPLE_TEXTS))
    texts = list(SAMPLE_TEXTS)
    if task.sample_context is not None:
        return dict(tokenizer(texts, [task.sample_context] * len(texts), return_tensors="pt", padding=True))
    return dict(tokenizer(texts, return_tensors="pt", padding=True))


def _median_ms(fn: Callable[[], Any]) -> float:
    """Median wall time of ``fn`` on one CPU thread (torch and ONNX Runtime alike, so they compare)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fn()  # warm-up
        times = []
        for _ in range(LATENCY_RUNS):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
    finally:
        torch.set_num_threads(threads)
    return statistics.median(times)


def _torch_forward(model: Any, batch: dict[str, Any]) -> Callable[[], Any]:
    import torch

    def run() -> Any:
        with torch.inference_mode():
            if model.config.is_encoder_decoder:
                return model(**batch, decoder_input_ids=_decoder_start(model, batch["input_ids"]))
            return model(**batch)

    return run


def _decoder_start(model: Any, input_ids: Any) -> Any:
    import torch

    start = model.config.decoder_start_token_id
    start = model.config.pad_token_id if start is None else start
    return torch.full((input_ids.shape[0], 3), int(start or 0), dtype=torch.long)


def _state_bytes(model: Any) -> int:
    """Bytes of the serialized state dict (fp32 or packed int8 alike), to compare sizes fairly."""
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def _output_arrays(output: Any, names: tuple[str, ...]) -> list[Any]:
    """The logits ``names`` (a task's ``logit_outputs``) of a model output, as float arrays."""
    return [output[k].float().numpy() for k in names if k in output and output[k] is not None]


def _max_diff(a: list[Any], b: list[Any]) -> float:
    import numpy as np

    return max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))
