"""Text generation for `llmkit generate`: decoding options, batched generation, streaming, chat prompts.

Everything is a thin layer over ``model.generate`` so that greedy output is token for token what
``model.generate(..., do_sample=False)`` gives and the overhead stays negligible. Batches are
left-padded and formed from prompts of similar length (less padding); results come back in input order.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from llmkit.errors import UsageError, did_you_mean

log = logging.getLogger(__name__)

DEFAULT_MAX_NEW_TOKENS = 50
SAMPLING_KEYS = ("temperature", "top_k", "top_p")
NOT_FOR_GENERATE = ("stop", "seed", "top_k_fill", "batch_size")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("cpu", "cuda", "cuda:N", "mps")
# option -> (allowed?, the allowed range in words); checked on the command line's values before a model loads
RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_new_tokens": (lambda v: v >= 1, "at least 1"),
    "top_p": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "top_k": (lambda v: v >= 0, "0 (no top-k filter) or more"),
    "num_beams": (lambda v: v >= 1, "at least 1"),
    "num_return_sequences": (lambda v: v >= 1, "at least 1"),
    "repetition_penalty": (lambda v: v > 0, "greater than 0 (1.0 = no penalty)"),
    "batch_size": (lambda v: v >= 1, "at least 1"),
    "top_k_fill": (lambda v: v >= 1, "at least 1"),
    "temperature": (lambda v: v > 0, "greater than 0"),
}


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


def option_name(key: str) -> str:
    """The command-line spelling of a decoding option: ``top_p`` -> ``--top-p``."""
    return "--" + key.replace("_", "-")


def is_sampling(options: dict[str, Any]) -> bool:
    """Whether these options sample (``--sample``, or a sampling knob without ``--greedy``)."""
    if options.get("do_sample") is not None:
        return bool(options["do_sample"])
    return any(options.get(k) is not None for k in SAMPLING_KEYS)


def option_problems(options: dict[str, Any]) -> list[str]:
    """Every out-of-range decoding option, one line each naming the option and what it accepts."""
    problems = []
    for key, (allowed, words) in RANGES.items():
        value = options.get(key)
        if value is None or (key == "temperature" and not is_sampling(options)):
            continue
        finite = not isinstance(value, float) or math.isfinite(value)
        if not (finite and allowed(value)):
            extra = "; pass --greedy for deterministic decoding" if key == "temperature" else ""
            when = " when sampling" if key == "temperature" else ""
            problems.append(f"{option_name(key)}: {value} is out of range; it must be {words}{when}{extra}")
    beams, count = options.get("num_beams"), options.get("num_return_sequences")
    if beams is not None and count is not None and 1 < beams < count:
        problems.append(
            f"--num-return-sequences: {count} is more than --num-beams {beams}; beam search returns at most "
            "num_beams sequences"
        )
    return problems


def check_options(options: dict[str, Any]) -> None:
    """Raise UsageError (exit 2) listing every out-of-range decoding option."""
    problems = option_problems(options)
    if problems:
        raise UsageError("\n".join(problems))


def check_dtype(dtype: str | None) -> None:
    """``--dtype`` must name one of :data:`DTYPES`."""
    if dtype is not None and dtype not in DTYPES:
        raise UsageError(f"--dtype: '{dtype}' is not one of {', '.join(DTYPES)}{did_you_mean(dtype, DTYPES)}")


def check_device(device: str | None) -> None:
    """``--device`` must name a device kind torch has here: cpu, cuda, cuda:N (N < GPUs) or mps."""
    if device is None:
        return
    kind, colon, index = device.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (colon and (kind != "cuda" or not index.isdigit())):
        raise UsageError(f"--device: '{device}' is not one of {', '.join(DEVICES)}{did_you_mean(device, DEVICES)}")
    import torch

    if kind == "cuda":
        if not torch.cuda.is_available():
            why = "this torch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise UsageError(f"--device {device}: {why}; use --device cpu, or leave --device out for the best one")
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise UsageError(f"--device {device}: only {count} CUDA device(s) here (cuda:0 to cuda:{count - 1})")
    mps = getattr(torch.backends, "mps", None)
    if kind == "mps" and not (mps is not None and mps.is_available()):
        raise UsageError(f"--device {device}: Apple MPS is not available here; use --device cpu")


def context_size(model: Any) -> int | None:
    """How many positions the model reads (``max_position_embeddings``/``n_positions``), None when unbounded."""
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def prompt_budget(model: Any, kwargs: dict[str, Any]) -> int | None:
    """Prompt tokens that fit beside ``max_new_tokens`` in the model's context; UsageError when none do."""
    context = context_size(model)
    if context is None:
        return None
    new = int(kwargs["max_new_tokens"])
    if new >= context:
        raise UsageError(
            f"--max-new-tokens: {new} leaves no room for a prompt in the model's {context}-token context "
            f"(its config.json); use at most {context - 1}"
        )
    return context - new


def fit_prompts(rows: list[list[int]], budget: int | None, new_tokens: int) -> list[list[int]]:
    """Keep the last ``budget`` tokens of each prompt (the most recent text), with one warning for all cut."""
    if budget is None:
        return rows
    cut = [i for i, row in enumerate(rows) if len(row) > budget]
    context = budget + new_tokens
    room = f"the {budget} tokens that fit beside {new_tokens} new tokens in the model's {context}-token context"
    if len(cut) == 1:
        log.warning(
            "prompt %d has %d tokens, more than %s: kept its last %d", cut[0] + 1, len(rows[cut[0]]), room, budget
        )
    elif cut:
        which = ", ".join(str(i + 1) for i in cut[:5]) + (", ..." if len(cut) > 5 else "")
        log.warning(
            "prompts %s (%d of %d) are longer than %s: kept the last %d tokens of each",
            which,
            len(cut),
            len(rows),
            room,
            budget,
        )
    return [row[-budget:] if len(row) > budget else row for row in rows]


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


def _token_rows(tokenizer: Any, prompts: list[str], special: bool = True) -> list[list[int]]:
    """Token ids of each prompt; an empty prompt starts from the BOS token.

    ``special=False`` for chat prompts, whose template already holds the special tokens.
    """
    rows = [list(tokenizer(p, add_special_tokens=special)["input_ids"]) for p in prompts]
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return [row if row else [start] for row in rows]


def _pad_left(tokenizer: Any, rows: list[list[int]], device: Any) -> dict[str, Any]:
    """Left-padded ids and attention mask of a batch."""
    import torch

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
    budget = prompt_budget(model, kwargs)
    rows_ids = fit_prompts(_token_rows(tokenizer, prompts, special), budget, int(kwargs["max_new_tokens"]))
    order = sorted(range(len(prompts)), key=lambda i: len(rows_ids[i]))
    found: dict[int, Generated] = {}
    eos = tokenizer.eos_token_id
    model.eval()
    _seed(options)
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        batch = _pad_left(tokenizer, [rows_ids[i] for i in chosen], model.device)
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
    budget = prompt_budget(model, kwargs)
    rows = fit_prompts(_token_rows(tokenizer, [prompt], special), budget, int(kwargs["max_new_tokens"]))
    batch = _pad_left(tokenizer, rows, model.device)
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
