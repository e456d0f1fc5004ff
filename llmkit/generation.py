"""Text generation for `llmkit generate`: decoding options, batched generation, streaming, chat prompts.

Everything is a thin layer over ``model.generate`` so that greedy output is token for token what
``model.generate(..., do_sample=False)`` gives and the overhead stays negligible. Batches are
left-padded and formed from prompts of similar length (less padding); results come back in input order.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from llmkit.errors import UsageError

DEFAULT_MAX_NEW_TOKENS = 50
SAMPLING_KEYS = ("temperature", "top_k", "top_p")
NOT_FOR_GENERATE = ("stop", "seed", "top_k_fill", "batch_size")


@dataclass
class Generated:
    """The continuations of one prompt and how many new tokens each took."""

    prompt: str
    texts: list[str]
    new_tokens: list[int]


def decoding_options(recipe: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The recipe's ``generate:`` defaults under the command-line options (the model's generation_config
    sits below both: ``model.generate`` applies it to whatever is not set here)."""
    defaults = recipe.generate.model_dump(exclude_none=True) if recipe is not None else {}
    return {**defaults, **{k: v for k, v in options.items() if v is not None}}


def generate_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``model.generate`` from llmkit's decoding options."""
    kwargs = {k: v for k, v in options.items() if k not in NOT_FOR_GENERATE}
    kwargs.setdefault("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)
    if kwargs.get("do_sample") is None:
        kwargs["do_sample"] = any(k in options for k in SAMPLING_KEYS)
    count = int(kwargs.get("num_return_sequences") or 1)
    if count > 1 and not kwargs["do_sample"] and int(kwargs.get("num_beams") or 1) < count:
        kwargs["num_beams"] = count  # greedy decoding returns one sequence; beams return several
    return kwargs


def cut_at_stop(text: str, stop: list[str] | None) -> str:
    """The text up to the first stop string (exclusive)."""
    cuts = [text.index(s) for s in stop or [] if s and s in text]
    return text[: min(cuts)] if cuts else text


def _seed(options: dict[str, Any]) -> None:
    if options.get("seed") is not None:
        import transformers

        transformers.set_seed(int(options["seed"]))


def _pad_id(tokenizer: Any) -> int | None:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _encode(tokenizer: Any, prompts: list[str], device: Any, special: bool = True) -> dict[str, Any]:
    """Left-padded ids of a batch; an empty prompt starts from the BOS token.

    ``special=False`` for chat prompts, whose template already holds the special tokens.
    """
    import torch

    rows = [tokenizer(p, add_special_tokens=special)["input_ids"] for p in prompts]
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    rows = [row if row else [start] for row in rows]
    width = max(len(r) for r in rows)
    pad = _pad_id(tokenizer) or 0
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
    return {"input_ids": ids, "attention_mask": mask}


def _stop_kwargs(tokenizer: Any, options: dict[str, Any]) -> dict[str, Any]:
    stop = [s for s in options.get("stop") or [] if s]
    return {"stop_strings": stop, "tokenizer": tokenizer} if stop else {}


def generate_batch(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    options: dict[str, Any],
    batch_size: int = 8,
    on_batch: Callable[[int], None] | None = None,
    special: bool = True,
) -> list[Generated]:
    """Continue every prompt, ``batch_size`` at a time, similar lengths together; results in input order.

    Generation stops at EOS, ``max_new_tokens`` or a stop string (cut from the text).
    """
    import torch

    kwargs = generate_kwargs(options)
    count = int(kwargs.get("num_return_sequences") or 1)
    lengths = [len(tokenizer(p, add_special_tokens=special)["input_ids"]) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: lengths[i])
    found: dict[int, Generated] = {}
    eos = tokenizer.eos_token_id
    model.eval()
    _seed(options)
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        batch = _encode(tokenizer, [prompts[i] for i in chosen], model.device, special)
        with torch.inference_mode():
            output = model.generate(
                **batch, pad_token_id=_pad_id(tokenizer), **_stop_kwargs(tokenizer, options), **kwargs
            )
        new = output[:, batch["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new, skip_special_tokens=True)
        for row, index in enumerate(chosen):
            rows = range(row * count, (row + 1) * count)
            found[index] = Generated(
                prompt=prompts[index],
                texts=[cut_at_stop(texts[r], options.get("stop")) for r in rows],
                new_tokens=[_count_new(new[r], eos, _pad_id(tokenizer)) for r in rows],
            )
        if on_batch is not None:
            on_batch(len(chosen))
    return [found[i] for i in range(len(prompts))]


def _count_new(row: Any, eos: int | None, pad: int | None) -> int:
    """Generated tokens in one output row: up to and including the first EOS, padding after it not counted."""
    values = row.tolist()
    if eos is not None and eos in values:
        return values.index(eos) + 1
    if pad is not None and pad != eos:
        return sum(1 for v in values if v != pad)
    return len(values)


def can_stream(options: dict[str, Any]) -> bool:
    """Streaming shows one sequence as it grows: no beam search, one sequence per prompt."""
    kwargs = generate_kwargs(options)
    return int(kwargs.get("num_beams") or 1) == 1 and int(kwargs.get("num_return_sequences") or 1) == 1


def stream_text(
    model: Any, tokenizer: Any, prompt: str, options: dict[str, Any], special: bool = True
) -> Iterator[str]:
    """Yield the continuation of one prompt piece by piece as tokens are produced.

    The pieces join to exactly the text :func:`generate_batch` returns for the same prompt and options
    (same seed, same tokens). Text that might be the start of a stop string is held back until it is not.
    """
    import torch
    from transformers import TextIteratorStreamer

    if not can_stream(options):
        raise UsageError("streaming needs --num-beams 1 and --num-return-sequences 1 (use --json for beams)")
    kwargs = generate_kwargs(options)
    stop = [s for s in options.get("stop") or [] if s]
    batch = _encode(tokenizer, [prompt], model.device, special)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            with torch.inference_mode():
                model.generate(
                    **batch,
                    pad_token_id=_pad_id(tokenizer),
                    streamer=streamer,
                    **_stop_kwargs(tokenizer, options),
                    **kwargs,
                )
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)
            streamer.end()

    model.eval()
    _seed(options)
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    held, done = "", False
    for piece in streamer:
        if done:
            continue  # drain the queue so the generating thread can finish
        held += piece
        cut = cut_at_stop(held, stop)
        if cut != held:
            yield cut
            held, done = "", True
            continue
        keep = _longest_stop_prefix(held, stop)
        if len(held) > keep:
            yield held[: len(held) - keep]
            held = held[len(held) - keep :]
    thread.join()
    if failure:
        raise failure[0]
    if held and not done:
        yield held


def _longest_stop_prefix(text: str, stop: list[str]) -> int:
    """Length of the longest end of ``text`` that begins some stop string (must be held back)."""
    best = 0
    for s in stop:
        for n in range(min(len(s) - 1, len(text)), 0, -1):
            if s.startswith(text[-n:]):
                best = max(best, n)
                break
    return best


def chat_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text for a conversation, through the tokenizer's chat template."""
    if not getattr(tokenizer, "chat_template", None):
        raise UsageError("--chat: this model's tokenizer has no chat template; use plain --prompt")
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def pick_device() -> str:
    """CUDA, then Apple MPS, then CPU."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"
