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

The model kinds, tokenization, collation and generation are ``llmkit.tasks.seq2seq_common``'s (shared with
summarization); this module adds the pair formats, the language codes and BLEU/chrF.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, model_validator

from llmkit.config import DataSection, Section
from llmkit.data import column_values
from llmkit.data.rows import NOT_TEXT, Dropped, as_text, kept_positions, key_of, kind_of, report_dropped, where
from llmkit.errors import ConfigError, DataError
from llmkit.tasks.seq2seq_common import (
    DECODER_ONLY,
    SEQ2SEQ,
    WARM_START,
    collator,
    generate_texts,
    model_kind,
    prefixed_source,
    prepare_pairs,
    prompt_ids,
    special_ids,
)
from llmkit.tasks.seq2seq_common import load_model as seq2seq_load_model
from llmkit.tasks.spec import DECODING, Explanation, PrepareContext, Prepared, TaskSpec
from llmkit.tasks.translation_eval import details, metrics

# the shared names translation has always offered (tests and users import them from here)
__all__ = ["DECODER_ONLY", "SEQ2SEQ", "TASK", "WARM_START", "load_model", "model_kind", "prepare", "prompt_ids"]


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
    task: str = "translation"


# ---------------------------------------------------------------------------------------------
# Language codes of multilingual models (the rest of the model and tokenization is seq2seq_common's)


def _set_lang_codes(tokenizer: Any, options: TranslationOptions) -> None:
    if options.source_lang_code and hasattr(tokenizer, "src_lang"):
        tokenizer.src_lang = options.source_lang_code
    if options.target_lang_code and hasattr(tokenizer, "tgt_lang"):
        tokenizer.tgt_lang = options.target_lang_code


def _special_ids(tokenizer: Any) -> dict[str, int]:
    """Decoder start, eos and pad ids of a warm-started decoder (``translation.decoder_name_or_path``)."""
    return special_ids(tokenizer, "translation.decoder_name_or_path")


def load_model(section: Any, config: Any, recipe: Any = None, tokenizer: Any = None) -> Any:
    """The shared text-to-text model of the recipe's kind, with the target language code forced first."""
    model = seq2seq_load_model(section, config, recipe=recipe, tokenizer=tokenizer)
    options = recipe.options if recipe is not None else None
    if options is not None and options.target_lang_code and tokenizer is not None:
        generation = model.generation_config
        code = tokenizer.convert_tokens_to_ids(options.target_lang_code)
        if code is None or code == tokenizer.unk_token_id:
            raise ConfigError(f"translation.target_lang_code: '{options.target_lang_code}' is not a token of the model")
        generation.forced_bos_token_id = model.config.forced_bos_token_id = code
        if getattr(model.config, "decoder_start_token_id", None) is None:  # mBART-25 starts from the language code
            generation.decoder_start_token_id = model.config.decoder_start_token_id = code
    return model


# ---------------------------------------------------------------------------------------------
# Task functions


def _pair_columns(data: TranslationData) -> dict[str, str | None]:
    if data.source_column:
        return {"source_column": data.source_column, "target_column": data.target_column, "id_column": data.id_column}
    return {"translation_column": data.translation_column, "id_column": data.id_column}


def read_pairs(
    dataset: Any, data: TranslationData, split: str, sources: dict[str, str]
) -> tuple[list[str | None], list[str | None]]:
    """Source and target texts of a split, None where a row has no text on that side."""
    if data.source_column:
        return (
            [as_text(v) for v in column_values(dataset, data.source_column)],
            [as_text(v) for v in column_values(dataset, data.target_column)],
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
        [as_text(pair.get(data.source_lang)) if pair else None for pair in pairs],
        [as_text(pair.get(data.target_lang)) if pair else None for pair in pairs],
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
    dropped.add(f"a source that is not text ({sides[0]})", [i for i, text in enumerate(sources) if text is NOT_TEXT])
    dropped.add(f"a target that is not text ({sides[1]})", [i for i, text in enumerate(targets) if text is NOT_TEXT])
    report_dropped(len(dataset), dropped, ctx.sources, split, ctx.strict)
    keep = kept_positions(len(dataset), dropped)
    all_ids = column_values(dataset, data.id_column) if data.id_column else list(range(len(dataset)))
    return [sources[i] for i in keep], [targets[i] for i in keep], [all_ids[i] for i in keep], dropped


def prepare(ctx: PrepareContext) -> Prepared:
    """Read pairs, tokenize for the model's kind, sort evaluation splits by source length."""
    from llmkit.data import require_columns

    _set_lang_codes(ctx.tokenizer, ctx.recipe.options)

    def read(dataset: Any, split: str) -> tuple[list[str], list[str], list[Any], Dropped]:
        require_columns(dataset, _pair_columns(ctx.recipe.data), ctx.sources.get(split, split))
        return _pairs_to_keep(dataset, split, ctx)

    return prepare_pairs(ctx, read)


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
    from llmkit.generation import decoding_options

    merged = decoding_options(recipe, dict(options or {}))
    sections = recipe if recipe is not None else DefaultSections()
    _set_lang_codes(tokenizer, sections.options)
    sources = [str(item.get("text", "")) for item in inputs]
    return generate_texts(model, tokenizer, sources, sections, merged, on_batch)


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
    explain=Explanation("generated_tokens", source=prefixed_source),
)
