"""Translation: source sentence -> target sentence, scored with corpus BLEU and chrF (sacrebleu).

Three kinds of model, told apart by the model config and the recipe:

- ``seq2seq``: any ``AutoModelForSeq2SeqLM`` (T5, BART, Marian, mBART...). ``translation.source_prefix``
  for T5-style prompts; ``translation.source_lang_code``/``target_lang_code`` for multilingual models
  that need language codes and a forced first token (mBART-50, M2M100, NLLB).
- ``warm-start``: an ``EncoderDecoderModel`` built from an encoder checkpoint (``model.name_or_path``)
  and a decoder checkpoint (``translation.decoder_name_or_path``): bert2bert, bert2gpt2. Targets are
  tokenized with the decoder's tokenizer; decoder start, pad and eos ids come from it.
- ``decoder-only``: a causal LM (GPT-2 style). Source and target are joined with
  ``translation.prompt_template``; the loss covers the target tokens only (-100 on the prompt) and
  evaluation generates from the prompt alone, stopping at EOS.

Evaluation features are sorted by source length so each generated batch holds sentences of similar
length (less padding); ``details`` maps the predictions back to the input order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, model_validator

from llmkit.config import DataSection, Section
from llmkit.data import column_values
from llmkit.data.rows import Dropped, kept_positions, key_of, kind_of, report_dropped, where
from llmkit.errors import ConfigError, DataError
from llmkit.tasks.spec import DECODING, DataSummary, PrepareContext, Prepared, TaskSpec
from llmkit.tasks.translation_eval import decode, details, metrics

SEQ2SEQ, WARM_START, DECODER_ONLY = "seq2seq", "warm-start", "decoder-only"
EVAL_SPLITS = ("validation", "test")


class TranslationData(DataSection):
    """Data section of a translation recipe: WMT-style pairs or two text columns."""

    source_lang: str = Field("en", description="Source language: key inside the translation column (any string).")
    target_lang: str = Field("de", description="Target language: key inside the translation column (any string).")
    translation_column: str = Field(
        "translation", description="Column of {source_lang: text, target_lang: text} objects (WMT style)."
    )
    source_column: str | None = Field(None, description="Two-column files: the column holding the source text.")
    target_column: str | None = Field(None, description="Two-column files: the column holding the target text.")
    id_column: str | None = Field(None, description="Column used as example id in predictions (default: row number).")
    max_source_length: int = Field(128, gt=0, description="Longest tokenized source; longer sources are truncated.")
    max_target_length: int = Field(
        128, gt=0, description="Longest tokenized target; longer targets are truncated; also the generation limit."
    )

    @model_validator(mode="after")
    def _columns_together(self) -> TranslationData:
        if (self.source_column is None) != (self.target_column is None):
            raise ValueError("set both data.source_column and data.target_column, or neither (WMT-style data)")
        return self


class TranslationOptions(Section):
    """Options of the translation task."""

    source_prefix: str | None = Field(
        None, description="Text put before every source (T5: 'translate English to German: ')."
    )
    decoder_name_or_path: str | None = Field(
        None,
        description="Warm-start an EncoderDecoderModel: model.name_or_path is the encoder, this the decoder "
        "(hub id, directory or alias, e.g. tiny-gpt2); targets use the decoder's tokenizer.",
    )
    source_lang_code: str | None = Field(None, description="Source language code of multilingual models (en_XX).")
    target_lang_code: str | None = Field(
        None, description="Target language code (de_DE); its token is forced as the first generated token."
    )
    prompt_template: str = Field(
        "{source_lang}: {source}\n{target_lang}:",
        description="Decoder-only models: the prompt; the target follows it after a space, then EOS.",
    )

    @model_validator(mode="after")
    def _template_has_source(self) -> TranslationOptions:
        if "{source}" not in self.prompt_template:
            raise ValueError("translation.prompt_template must contain {source}")
        return self


@dataclass(frozen=True)
class DefaultSections:
    """The recipe sections ``predict`` reads, at their defaults: for a model loaded without its recipe."""

    data: TranslationData = field(default_factory=TranslationData)
    options: TranslationOptions = field(default_factory=TranslationOptions)
    model: Any = None  # no model section: only a warm-started decoder option (never at its default) reads it


# ---------------------------------------------------------------------------------------------
# Model kinds


def model_kind(config: Any, options: TranslationOptions | None) -> str:
    """Which of the three kinds a model config (plus the recipe's decoder option) is."""
    if getattr(config, "model_type", None) == "encoder-decoder":
        return WARM_START
    if getattr(config, "is_encoder_decoder", False):
        return SEQ2SEQ
    if options is not None and options.decoder_name_or_path:
        return WARM_START
    return DECODER_ONLY


def _decoder_section(options: TranslationOptions, section: Any) -> Any:
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


def _special_ids(tokenizer: Any) -> dict[str, int]:
    """Decoder start, eos and pad ids of a warm-started decoder, from its tokenizer (BERT or GPT-2 style)."""
    start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    eos = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if start is None:
        start = eos
    if eos is None or tokenizer.pad_token_id is None:
        raise ConfigError("translation.decoder_name_or_path: the decoder's tokenizer has no eos/sep or pad token")
    return {"decoder_start_token_id": start, "eos_token_id": eos, "pad_token_id": tokenizer.pad_token_id}


def load_model(section: Any, config: Any, recipe: Any = None, tokenizer: Any = None) -> Any:
    """Build the model of the recipe's kind, and set its generation defaults from the recipe."""
    from llmkit.models import load_config
    from llmkit.models import load_model as load

    options = recipe.options if recipe is not None else None
    kind = model_kind(config, options)
    if kind == WARM_START and not getattr(config, "is_encoder_decoder", False):
        import warnings

        from transformers import EncoderDecoderModel

        # transformers warns on every forward that the loss moved into EncoderDecoderModel in v4.12
        warnings.filterwarnings("ignore", message="Version v4.12.0 introduces", category=FutureWarning)

        decoder_section = _decoder_section(options, section)
        decoder_tokenizer = target_tokenizer(tokenizer, recipe, config)
        decoder_config = load_config(decoder_section, decoder_tokenizer, is_decoder=True, add_cross_attention=True)
        encoder = load(section, "AutoModel", config)
        decoder = load(decoder_section, "AutoModelForCausalLM", decoder_config)
        model = EncoderDecoderModel(encoder=encoder, decoder=decoder)
        for key, value in _special_ids(decoder_tokenizer).items():
            setattr(model.config, key, value)
            setattr(model.generation_config, key, value)
    else:
        model = load(section, "AutoModelForCausalLM" if kind == DECODER_ONLY else "AutoModelForSeq2SeqLM", config)
    generation = model.generation_config
    if kind == DECODER_ONLY and tokenizer is not None:
        generation.eos_token_id = tokenizer.eos_token_id
        generation.pad_token_id = tokenizer.pad_token_id
    if options is not None and options.target_lang_code and tokenizer is not None:
        code = tokenizer.convert_tokens_to_ids(options.target_lang_code)
        if code is None or code == tokenizer.unk_token_id:
            raise ConfigError(f"translation.target_lang_code: '{options.target_lang_code}' is not a token of the model")
        generation.forced_bos_token_id = model.config.forced_bos_token_id = code
        if getattr(model.config, "decoder_start_token_id", None) is None:  # mBART-25 starts from the language code
            generation.decoder_start_token_id = model.config.decoder_start_token_id = code
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


def _set_lang_codes(tokenizer: Any, options: TranslationOptions) -> None:
    if options.source_lang_code and hasattr(tokenizer, "src_lang"):
        tokenizer.src_lang = options.source_lang_code
    if options.target_lang_code and hasattr(tokenizer, "tgt_lang"):
        tokenizer.tgt_lang = options.target_lang_code


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
    tokenizer: Any, source: str, options: TranslationOptions, data: TranslationData
) -> tuple[list[int], bool]:
    """Decoder-only prompt ids: the template around the source, the source cut to max_source_length."""
    before, after = options.prompt_template.split("{source}", 1)
    names = {"source_lang": data.source_lang, "target_lang": data.target_lang}
    head = tokenizer(before.format(**names), add_special_tokens=False)["input_ids"] if before else []
    tail = tokenizer(after.format(**names), add_special_tokens=False)["input_ids"] if after else []
    body = tokenizer((options.source_prefix or "") + source, add_special_tokens=False)["input_ids"]
    budget = max(1, data.max_source_length - len(head) - len(tail))
    return head + body[:budget] + tail, len(body) > budget


def _decoder_target_ids(tokenizer: Any, text: str, max_length: int, eos: int, leading: str = "") -> tuple[list, bool]:
    ids = tokenizer(leading + text, add_special_tokens=False)["input_ids"]
    return [*ids[: max_length - 1], eos], len(ids) > max_length - 1


def encode_pairs(
    sources: list[str], targets: list[str] | None, kind: str, tokenizer: Any, target_tok: Any, recipe: Any
) -> dict[str, list[Any]]:
    """Features of a batch of pairs for one model kind; ``targets`` None for inputs to translate."""
    data, options = recipe.data, recipe.options
    out: dict[str, list[Any]] = {}
    if kind == DECODER_ONLY:
        encoded = [prompt_ids(tokenizer, s, options, data) for s in sources]
        out["source_truncated"] = [over for _, over in encoded]
        prompts = [ids for ids, _ in encoded]
        if targets is None:
            out["input_ids"] = prompts
            return out
        pairs = [
            _decoder_target_ids(tokenizer, t, data.max_target_length, tokenizer.eos_token_id, " ") for t in targets
        ]
        out["input_ids"] = [p + t for p, (t, _) in zip(prompts, pairs, strict=True)]
        out["attention_mask"] = [[1] * len(ids) for ids in out["input_ids"]]
        out["labels"] = [[-100] * len(p) + t for p, (t, _) in zip(prompts, pairs, strict=True)]
        out["target_truncated"] = [over for _, over in pairs]
        return out
    prefixed = [(options.source_prefix or "") + s for s in sources]
    out["input_ids"], out["source_truncated"] = _encode(tokenizer, prefixed, data.max_source_length)
    out["attention_mask"] = [[1] * len(ids) for ids in out["input_ids"]]
    if targets is None:
        return out
    if kind == WARM_START:
        eos = _special_ids(target_tok)["eos_token_id"]
        pairs = [_decoder_target_ids(target_tok, t, data.max_target_length, eos) for t in targets]
        out["labels"] = [ids for ids, _ in pairs]
        out["target_truncated"] = [over for _, over in pairs]
    else:
        out["labels"], out["target_truncated"] = _encode(tokenizer, targets, data.max_target_length, target=True)
    return out


# ---------------------------------------------------------------------------------------------
# Task functions


def _pair_columns(data: TranslationData) -> dict[str, str | None]:
    if data.source_column:
        return {"source_column": data.source_column, "target_column": data.target_column, "id_column": data.id_column}
    return {"translation_column": data.translation_column, "id_column": data.id_column}


def _text(value: Any) -> str | None:
    """A source or target text, None when the row has none (absent, null or blank)."""
    return None if value is None or not str(value).strip() else str(value)


def read_pairs(
    dataset: Any, data: TranslationData, split: str, sources: dict[str, str]
) -> tuple[list[str | None], list[str | None]]:
    """Source and target texts of a split, None where a row has no text on that side."""
    if data.source_column:
        return (
            [_text(v) for v in column_values(dataset, data.source_column)],
            [_text(v) for v in column_values(dataset, data.target_column)],
        )
    column = data.translation_column
    pairs = column_values(dataset, column)
    wrong = [i for i, pair in enumerate(pairs) if pair is not None and not isinstance(pair, dict)]
    if wrong:
        raise DataError(
            f"{key_of(sources, split)}: column '{column}' must hold {{'{data.source_lang}': ..., "
            f"'{data.target_lang}': ...}} objects, not {kind_of(pairs[wrong[0]])}s ({where(sources, split, wrong)})"
        )
    found = sorted({key for pair in pairs if pair for key in pair})
    if data.source_lang not in found or data.target_lang not in found:
        raise DataError(
            f"{key_of(sources, split)}: column '{column}' needs keys '{data.source_lang}' (data.source_lang) and "
            f"'{data.target_lang}' (data.target_lang), found: {', '.join(found)}"
        )
    return (
        [_text(pair.get(data.source_lang)) if pair else None for pair in pairs],
        [_text(pair.get(data.target_lang)) if pair else None for pair in pairs],
    )


def _pairs_to_keep(dataset: Any, split: str, ctx: PrepareContext) -> tuple[list[str], list[str], list[Any], Dropped]:
    """The split's pairs with text on both sides, their ids, and the rows left out (``--strict``: an error)."""
    data = ctx.recipe.data
    sources, targets = read_pairs(dataset, data, split, ctx.sources)
    if data.source_column:
        sides = (f"'{data.source_column}'", f"'{data.target_column}'")
    else:
        sides = (f"'{data.source_lang}' in '{data.translation_column}'", f"'{data.target_lang}'")
    dropped = Dropped()
    dropped.add(f"no source text ({sides[0]})", [i for i, text in enumerate(sources) if text is None])
    dropped.add(f"no target text ({sides[1]})", [i for i, text in enumerate(targets) if text is None])
    report_dropped(len(dataset), dropped, ctx.sources, split, ctx.strict)
    keep = kept_positions(len(dataset), dropped)
    all_ids = column_values(dataset, data.id_column) if data.id_column else list(range(len(dataset)))
    return [sources[i] for i in keep], [targets[i] for i in keep], [all_ids[i] for i in keep], dropped


def prepare(ctx: PrepareContext) -> Prepared:
    """Read pairs, tokenize for the model's kind, sort evaluation splits by source length."""
    from datasets import Dataset

    from llmkit.data import require_columns

    recipe = ctx.recipe
    data, options = recipe.data, recipe.options
    kind = model_kind(ctx.model_config, options)
    tokenizer = ctx.tokenizer
    _set_lang_codes(tokenizer, options)
    target_tok = target_tokenizer(tokenizer, recipe, ctx.model_config)
    features: dict[str, Any] = {}
    summary = DataSummary(truncated={}, dropped={}, extra={"kind": kind, "overlong": {}})
    state: dict[str, Any] = {"kind": kind, "ids": {}, "sources": {}, "references": {}, "order": {}}
    state["target_tokenizer"] = target_tok
    for split, dataset in ctx.raw.items():
        require_columns(dataset, _pair_columns(data), ctx.sources.get(split, split))
        sources, targets, ids, dropped = _pairs_to_keep(dataset, split, ctx)
        summary.dropped[split] = len(dropped.rows)
        encoded = encode_pairs(sources, targets, kind, tokenizer, target_tok, recipe)
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


def predict(
    model: Any,
    tokenizer: Any,
    inputs: list[dict[str, Any]],
    recipe: Any = None,
    options: dict | None = None,
    on_batch: Any = None,
    **_: Any,
) -> list[dict[str, Any]]:
    """Translate raw source sentences in batches sorted by length; CLI options override the recipe's."""
    import torch

    from llmkit.generation import decoding_options

    options = decoding_options(recipe, dict(options or {}))
    batch_size = int(options.pop("batch_size", None) or 32)
    if recipe is None:
        recipe = DefaultSections()
    kind = model_kind(model.config, recipe.options)
    target_tok = target_tokenizer(tokenizer, recipe, model.config)
    _set_lang_codes(tokenizer, recipe.options)
    sources = [str(item.get("text", "")) for item in inputs]
    encoded = encode_pairs(sources, None, kind, tokenizer, target_tok, recipe)["input_ids"]
    seed = options.pop("seed", None)
    options.pop("stop", None)
    options.pop("top_k_fill", None)
    if seed is not None:
        torch.manual_seed(seed)
    kwargs = {k: v for k, v in options.items() if v is not None}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(sources)), key=lambda i: (-len(encoded[i]), i))
    results: list[dict[str, Any]] = [{}] * len(sources)
    model.eval()
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        width = max(len(encoded[i]) for i in chosen)
        ids = torch.full((len(chosen), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(chosen):
            seq = encoded[i]
            if kind == DECODER_ONLY:  # left padding: the continuation starts right after every prompt
                ids[row, width - len(seq) :], mask[row, width - len(seq) :] = torch.tensor(seq), 1
            else:
                ids[row, : len(seq)], mask[row, : len(seq)] = torch.tensor(seq), 1
        with torch.inference_mode():
            generated = model.generate(input_ids=ids.to(model.device), attention_mask=mask.to(model.device), **kwargs)
        if kind == DECODER_ONLY:
            generated = generated[:, width:]
        per_input = generated.shape[0] // len(chosen)
        texts = decode(generated.cpu().numpy(), target_tok)
        for row, i in enumerate(chosen):
            outputs = texts[row * per_input : (row + 1) * per_input]
            result: dict[str, Any] = {"text": sources[i], "prediction": outputs[0]}
            if per_input > 1:
                result["predictions"] = outputs
            results[i] = result
        if on_batch is not None:
            on_batch(len(chosen))
    return results


TASK = TaskSpec(
    name="translation",
    summary="Translation with encoder-decoder or decoder-only models (BLEU, chrF)",
    commands=("finetune",),
    data_model=TranslationData,
    options_model=TranslationOptions,
    auto_model="AutoModelForSeq2SeqLM",
    key_metric="bleu",
    greater_is_better=True,
    architectures=("ForConditionalGeneration", "MTModel", "EncoderDecoderModel"),
    prepare=prepare,
    collator=collator,
    metrics=metrics,
    details=details,
    predict=predict,
    seq2seq=True,
    load_model=load_model,
    pipeline_tag="translation",
    onnx_eval_gap="evaluates by generating text; ONNX Runtime scoring covers single-graph models",
    generate_options=DECODING,
    peft_task_type="SEQ_2_SEQ_LM",
)
