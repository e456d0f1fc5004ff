"""Text-to-text machinery shared by translation and summarization: one source text -> one target text.

Three kinds of model, told apart by the model config and the recipe:

- ``seq2seq``: any ``AutoModelForSeq2SeqLM`` (T5, BART, Marian, mBART...); ``source_prefix`` for T5-style prompts.
- ``warm-start``: an ``EncoderDecoderModel`` built from an encoder checkpoint (``model.name_or_path``) and a
  decoder checkpoint (``<task>.decoder_name_or_path``): bert2bert, bert2gpt2. Targets are tokenized with the
  decoder's tokenizer; decoder start, pad and eos ids come from it.
- ``decoder-only``: a causal LM (GPT-2 style). Source and target are joined with ``prompt_template``; the loss
  covers the target tokens only (-100 on the prompt) and evaluation generates from the prompt alone.

Evaluation features are sorted by source length so each generated batch holds texts of similar length (less
padding); ``state["order"]`` maps them back to the input order.

A task using these functions gives its recipe sections the fields they read by name: ``data.max_source_length``,
``data.max_target_length``; the task's options section ``source_prefix``, ``decoder_name_or_path`` and
``prompt_template`` (which holds ``{source}``; its other placeholders name fields of the data section, e.g.
translation's ``{source_lang}``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmkit.data.rows import Dropped
from llmkit.errors import ConfigError
from llmkit.tasks.seq2seq_eval import decode
from llmkit.tasks.spec import DataSummary, PrepareContext, Prepared

SEQ2SEQ, WARM_START, DECODER_ONLY = "seq2seq", "warm-start", "decoder-only"
EVAL_SPLITS = ("validation", "test")
# read(dataset, split) -> (sources, targets, ids, dropped): a split's usable pairs, as a task reads them.
PairReader = Callable[[Any, str], tuple[list[str], list[str], list[Any], Dropped]]


# ---------------------------------------------------------------------------------------------
# Model kinds


def model_kind(config: Any, options: Any) -> str:
    """Which of the three kinds a model config (plus the recipe's decoder option) is."""
    if getattr(config, "model_type", None) == "encoder-decoder":
        return WARM_START
    if getattr(config, "is_encoder_decoder", False):
        return SEQ2SEQ
    if options is not None and options.decoder_name_or_path:
        return WARM_START
    return DECODER_ONLY


def _decoder_section(options: Any, section: Any) -> Any:
    return section.model_copy(
        update={"name_or_path": options.decoder_name_or_path, "tokenizer_name_or_path": None, "config_overrides": {}}
    )


def target_tokenizer(tokenizer: Any, recipe: Any, config: Any) -> Any:
    """The tokenizer of the targets: the decoder's for warm-started encoder-decoders, else the model's."""
    options = recipe.options if recipe is not None else None
    if model_kind(config, options) == WARM_START and options is not None and options.decoder_name_or_path:
        from llmkit.models import load_tokenizer

        return load_tokenizer(_decoder_section(options, recipe.model))
    return tokenizer


def special_ids(tokenizer: Any, option: str = "translation.decoder_name_or_path") -> dict[str, int]:
    """Decoder start, eos and pad ids of a warm-started decoder, from its tokenizer (BERT or GPT-2 style)."""
    start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    eos = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if start is None:
        start = eos
    if eos is None or tokenizer.pad_token_id is None:
        raise ConfigError(f"{option}: the decoder's tokenizer has no eos/sep or pad token")
    return {"decoder_start_token_id": start, "eos_token_id": eos, "pad_token_id": tokenizer.pad_token_id}


def _decoder_option(recipe: Any) -> str:
    return f"{recipe.task}.decoder_name_or_path"


def _warm_started(section: Any, config: Any, recipe: Any, tokenizer: Any) -> Any:
    import warnings

    from transformers import EncoderDecoderModel

    from llmkit.models import load_config
    from llmkit.models import load_model as load

    # transformers warns on every forward that the loss moved into EncoderDecoderModel in v4.12
    warnings.filterwarnings("ignore", message="Version v4.12.0 introduces", category=FutureWarning)
    decoder_section = _decoder_section(recipe.options, section)
    decoder_tokenizer = target_tokenizer(tokenizer, recipe, config)
    decoder_config = load_config(decoder_section, decoder_tokenizer, is_decoder=True, add_cross_attention=True)
    encoder = load(section, "AutoModel", config)
    decoder = load(decoder_section, "AutoModelForCausalLM", decoder_config)
    model = EncoderDecoderModel(encoder=encoder, decoder=decoder)
    for key, value in special_ids(decoder_tokenizer, _decoder_option(recipe)).items():
        setattr(model.config, key, value)
        setattr(model.generation_config, key, value)
    return model


def load_model(section: Any, config: Any, recipe: Any = None, tokenizer: Any = None) -> Any:
    """Build the model of the recipe's kind, and set its generation defaults from the recipe."""
    from llmkit.models import load_model as load

    options = recipe.options if recipe is not None else None
    kind = model_kind(config, options)
    if kind == WARM_START and not getattr(config, "is_encoder_decoder", False):
        model = _warm_started(section, config, recipe, tokenizer)
    else:
        model = load(section, "AutoModelForCausalLM" if kind == DECODER_ONLY else "AutoModelForSeq2SeqLM", config)
    generation = model.generation_config
    if kind == DECODER_ONLY and tokenizer is not None:
        generation.eos_token_id = tokenizer.eos_token_id
        generation.pad_token_id = tokenizer.pad_token_id
    if recipe is not None:
        generation.max_new_tokens = recipe.data.max_target_length
        generation.max_length = None
        values = recipe.generate.model_dump(exclude_none=True, exclude={"stop", "seed", "num_return_sequences"})
        for key, value in values.items():
            setattr(generation, key, value)
    generation.use_cache = True
    return model


# ---------------------------------------------------------------------------------------------
# Tokenization


def _encode(tokenizer: Any, texts: list[str], max_length: int, target: bool = False) -> tuple[list, list[bool]]:
    """Token ids cut to ``max_length`` (special tokens kept) and which texts were longer.

    ``target`` tokenizes as targets (``text_target``), so tokenizers with language codes add the target's.
    """

    def run(batch: list[str], **kwargs: Any) -> list[list[int]]:
        encoded = tokenizer(text_target=batch, **kwargs) if target else tokenizer(batch, **kwargs)
        return encoded["input_ids"]

    full = run(texts)
    over = [len(ids) > max_length for ids in full]
    if any(over):  # re-tokenize only the long ones with truncation, so special tokens stay in place
        long = [i for i, flag in enumerate(over) if flag]
        for i, ids in zip(long, run([texts[i] for i in long], truncation=True, max_length=max_length), strict=True):
            full[i] = ids
    return full, over


def prompt_ids(
    tokenizer: Any, source: str, options: Any, data: Any, names: dict[str, Any] | None = None
) -> tuple[list[int], bool]:
    """Decoder-only prompt ids: the template around the source, the source cut to max_source_length.

    The template's other placeholders are filled from ``names``, by default the data section's fields.
    """
    names = dict(data) if names is None else names
    before, after = options.prompt_template.split("{source}", 1)
    head = tokenizer(before.format(**names), add_special_tokens=False)["input_ids"] if before else []
    tail = tokenizer(after.format(**names), add_special_tokens=False)["input_ids"] if after else []
    body = tokenizer((options.source_prefix or "") + source, add_special_tokens=False)["input_ids"]
    budget = max(1, data.max_source_length - len(head) - len(tail))
    return head + body[:budget] + tail, len(body) > budget


def _decoder_target_ids(tokenizer: Any, text: str, max_length: int, eos: int, leading: str = "") -> tuple[list, bool]:
    ids = tokenizer(leading + text, add_special_tokens=False)["input_ids"]
    return [*ids[: max_length - 1], eos], len(ids) > max_length - 1


def _decoder_only_pairs(
    sources: list[str], targets: list[str] | None, tokenizer: Any, recipe: Any
) -> dict[str, list[Any]]:
    data, names = recipe.data, dict(recipe.data)
    encoded = [prompt_ids(tokenizer, s, recipe.options, data, names) for s in sources]
    out: dict[str, list[Any]] = {"source_truncated": [over for _, over in encoded]}
    prompts = [ids for ids, _ in encoded]
    if targets is None:
        out["input_ids"] = prompts
        return out
    pairs = [_decoder_target_ids(tokenizer, t, data.max_target_length, tokenizer.eos_token_id, " ") for t in targets]
    out["input_ids"] = [p + t for p, (t, _) in zip(prompts, pairs, strict=True)]
    out["attention_mask"] = [[1] * len(ids) for ids in out["input_ids"]]
    out["labels"] = [[-100] * len(p) + t for p, (t, _) in zip(prompts, pairs, strict=True)]
    out["target_truncated"] = [over for _, over in pairs]
    return out


def encode_pairs(
    sources: list[str], targets: list[str] | None, kind: str, tokenizer: Any, target_tok: Any, recipe: Any
) -> dict[str, list[Any]]:
    """Features of a batch of pairs for one model kind; ``targets`` None for inputs to generate from."""
    if kind == DECODER_ONLY:
        return _decoder_only_pairs(sources, targets, tokenizer, recipe)
    data, options = recipe.data, recipe.options
    out: dict[str, list[Any]] = {}
    prefixed = [(options.source_prefix or "") + s for s in sources]
    out["input_ids"], out["source_truncated"] = _encode(tokenizer, prefixed, data.max_source_length)
    out["attention_mask"] = [[1] * len(ids) for ids in out["input_ids"]]
    if targets is None:
        return out
    if kind == WARM_START:
        eos = special_ids(target_tok, _decoder_option(recipe))["eos_token_id"]
        pairs = [_decoder_target_ids(target_tok, t, data.max_target_length, eos) for t in targets]
        out["labels"] = [ids for ids, _ in pairs]
        out["target_truncated"] = [over for _, over in pairs]
    else:
        out["labels"], out["target_truncated"] = _encode(tokenizer, targets, data.max_target_length, target=True)
    return out


# ---------------------------------------------------------------------------------------------
# Task functions


def prepare_pairs(ctx: PrepareContext, read: PairReader) -> Prepared:
    """Tokenize the pairs ``read`` returns for the model's kind; sort evaluation splits by source length.

    ``state`` holds what evaluation needs: the kind, the target tokenizer and, per split, the ids and sources
    in input order, the references in feature order and ``order`` (feature position -> input index).
    """
    from datasets import Dataset

    recipe = ctx.recipe
    kind = model_kind(ctx.model_config, recipe.options)
    target_tok = target_tokenizer(ctx.tokenizer, recipe, ctx.model_config)
    features: dict[str, Any] = {}
    summary = DataSummary(truncated={}, dropped={}, extra={"kind": kind, "overlong": {}})
    state: dict[str, Any] = {"kind": kind, "ids": {}, "sources": {}, "references": {}, "order": {}}
    state["target_tokenizer"] = target_tok
    for split, dataset in ctx.raw.items():
        sources, targets, ids, dropped = read(dataset, split)
        summary.dropped[split] = len(dropped.rows)
        encoded = encode_pairs(sources, targets, kind, ctx.tokenizer, target_tok, recipe)
        src_over, tgt_over = encoded.pop("source_truncated"), encoded.pop("target_truncated")
        summary.extra["overlong"][split] = {"source": int(sum(src_over)), "target": int(sum(tgt_over))}
        summary.truncated[split] = int(sum(a or b for a, b in zip(src_over, tgt_over, strict=True)))
        summary.rows[split] = len(sources)
        order = list(range(len(sources)))
        if split in EVAL_SPLITS:  # generate in batches of similar source length
            lengths = _source_lengths(encoded)
            order.sort(key=lambda i: (-lengths[i], i))
        features[split] = Dataset.from_dict({k: [v[i] for i in order] for k, v in encoded.items()})
        state["order"][split] = order
        state["ids"][split] = ids
        state["sources"][split] = sources
        state["references"][split] = [targets[i] for i in order]
    return Prepared(features=features, state=state, summary=summary)


def _source_lengths(encoded: dict[str, list[Any]]) -> list[int]:
    if "labels" not in encoded:
        return [len(ids) for ids in encoded["input_ids"]]
    if len(encoded["labels"][0]) == len(encoded["input_ids"][0]) and -100 in encoded["labels"][0]:
        return [sum(1 for v in labels if v == -100) for labels in encoded["labels"]]  # decoder-only prompt length
    return [len(ids) for ids in encoded["input_ids"]]


def collator(tokenizer: Any, recipe: Any, prepared: Prepared) -> Any:
    """Pad inputs with the pad token and labels with -100 (ignored by the loss), per batch."""
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100)


# ---------------------------------------------------------------------------------------------
# llmkit generate


def _batch_tensors(encoded: list[list[int]], chosen: list[int], pad: int, left: bool) -> tuple[Any, Any]:
    """Padded ids and mask of one batch; ``left`` pads on the left (decoder-only prompts end together)."""
    import torch

    width = max(len(encoded[i]) for i in chosen)
    ids = torch.full((len(chosen), width), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, i in enumerate(chosen):
        seq = encoded[i]
        if left:
            ids[row, width - len(seq) :], mask[row, width - len(seq) :] = torch.tensor(seq), 1
        else:
            ids[row, : len(seq)], mask[row, : len(seq)] = torch.tensor(seq), 1
    return ids, mask


def generate_texts(
    model: Any, tokenizer: Any, sources: list[str], sections: Any, options: dict[str, Any], on_batch: Any = None
) -> list[dict[str, Any]]:
    """Generate from raw sources in batches sorted by length.

    ``sections`` is the recipe, or the task's defaults for a model loaded without one; ``options`` the decoding
    options already merged (``llmkit.generation.decoding_options``). One ``{"text", "prediction"}`` row per
    source in input order (plus ``predictions`` when several sequences are returned).
    """
    import torch

    options = dict(options)
    batch_size = int(options.pop("batch_size", None) or 32)
    kind = model_kind(model.config, sections.options)
    target_tok = target_tokenizer(tokenizer, sections, model.config)
    encoded = encode_pairs(sources, None, kind, tokenizer, target_tok, sections)["input_ids"]
    seed = options.pop("seed", None)
    for unused in ("stop", "top_k_fill"):
        options.pop(unused, None)
    if seed is not None:
        torch.manual_seed(seed)
    kwargs = {k: v for k, v in options.items() if v is not None}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(sources)), key=lambda i: (-len(encoded[i]), i))
    results: list[dict[str, Any]] = [{}] * len(sources)
    model.eval()
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        ids, mask = _batch_tensors(encoded, chosen, pad, left=kind == DECODER_ONLY)
        with torch.inference_mode():
            generated = model.generate(input_ids=ids.to(model.device), attention_mask=mask.to(model.device), **kwargs)
        if kind == DECODER_ONLY:  # the continuation starts right after every (left-padded) prompt
            generated = generated[:, ids.shape[1] :]
        per_input = generated.shape[0] // len(chosen)
        texts = decode(generated.cpu().numpy(), target_tok)
        for row, i in enumerate(chosen):
            outputs = texts[row * per_input : (row + 1) * per_input]
            results[i] = {"text": sources[i], "prediction": outputs[0]}
            if per_input > 1:
                results[i]["predictions"] = outputs
        if on_batch is not None:
            on_batch(len(chosen))
    return results


def prefixed_source(recipe: Any, text: str) -> str:
    """The source `llmkit explain` feeds the encoder: the text behind the recipe's ``source_prefix`` (T5 prompts)."""
    options = getattr(recipe, "options", None) if recipe is not None else None
    return (getattr(options, "source_prefix", None) or "") + text
