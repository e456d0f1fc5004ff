"""Summarization: document -> summary, scored with ROUGE-1/2/L/Lsum (Google's ``rouge-score``) and gen_len.

Any text-to-text model kind works, through the machinery translation uses (``llmkit.tasks.seq2seq_common``):
an ``AutoModelForSeq2SeqLM`` (``summarization.source_prefix: "summarize: "`` for T5 checkpoints), a warm-started
``EncoderDecoderModel`` (``summarization.decoder_name_or_path``) or a decoder-only causal LM (the document and
its summary joined by ``summarization.prompt_template``, the loss on the summary tokens only). Evaluation
generates with the recipe's ``generate:`` settings in batches of documents of similar length.

ROUGE is what the Hugging Face summarization example reports: the F-measure of each metric with Porter
stemming, times 100, averaged over the examples (the example's ``evaluate`` wrapper bootstraps the same
mean). ``rougeLsum`` scores newline-separated sentences; the example splits them with nltk's punkt model,
which is not available offline, so ``split_sentences`` applies a documented rule instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, model_validator

from llmkit.config import DataSection, Section
from llmkit.data import column_values
from llmkit.data.rows import NOT_TEXT, Dropped, as_text, kept_positions, report_dropped
from llmkit.data.sentences import split_sentences
from llmkit.tasks.seq2seq_common import collator, generate_texts, load_model, prefixed_source, prepare_pairs
from llmkit.tasks.seq2seq_eval import generation_metrics, pair_rows
from llmkit.tasks.spec import DECODING, Details, Explanation, PrepareContext, Prepared, TaskSpec

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
BUILTIN_METRICS = (*ROUGE_TYPES, "gen_len")


class SummarizationData(DataSection):
    """Data section of a summarization recipe: a document column and a summary column."""

    text_column: str = Field("document", description="Column holding the document to summarize.")
    summary_column: str = Field("summary", description="Column holding the reference summary.")
    id_column: str | None = Field(None, description="Column used as example id in predictions (default: row number).")
    max_source_length: int = Field(256, gt=0, description="Longest tokenized document; longer ones are truncated.")
    max_target_length: int = Field(
        32, gt=0, description="Longest tokenized summary; longer ones are truncated; also the generation limit."
    )


class SummarizationOptions(Section):
    """Options of the summarization task."""

    source_prefix: str | None = Field(None, description="Text put before every document (T5: 'summarize: ').")
    decoder_name_or_path: str | None = Field(
        None,
        description="Warm-start an EncoderDecoderModel: model.name_or_path is the encoder, this the decoder "
        "(hub id, directory or alias, e.g. tiny-gpt2); summaries use the decoder's tokenizer.",
    )
    prompt_template: str = Field(
        "{source}\nSummary:",
        description="Decoder-only models: the prompt; the summary follows it after a space, then EOS.",
    )

    @model_validator(mode="after")
    def _template_has_source(self) -> SummarizationOptions:
        if "{source}" not in self.prompt_template:
            raise ValueError("summarization.prompt_template must contain {source}")
        return self


@dataclass(frozen=True)
class DefaultSections:
    """The recipe sections ``predict`` reads, at their defaults: for a model loaded without its recipe."""

    data: SummarizationData = field(default_factory=SummarizationData)
    options: SummarizationOptions = field(default_factory=SummarizationOptions)
    model: Any = None  # no model section: only a warm-started decoder option (never at its default) reads it
    task: str = "summarization"


# ---------------------------------------------------------------------------------------------
# ROUGE


def rouge_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE F-measures x 100 with stemming, as ``rouge_score.rouge_scorer`` computes them per pair.

    ``rougeLsum`` sees both texts with one sentence per line (``split_sentences``), as the HF example does.
    """
    from rouge_score import rouge_scorer

    if not predictions:
        return dict.fromkeys(ROUGE_TYPES, 0.0)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for prediction, reference in zip(predictions, references, strict=True):
        pred, ref = "\n".join(split_sentences(prediction)), "\n".join(split_sentences(reference))
        for name, score in scorer.score(ref, pred).items():
            totals[name] += score.fmeasure
    return {name: 100.0 * total / len(predictions) for name, total in totals.items()}


# ---------------------------------------------------------------------------------------------
# Task functions


def _read(dataset: Any, split: str, ctx: PrepareContext) -> tuple[list[str], list[str], list[Any], Dropped]:
    """The split's rows with a document and a summary, their ids, and the rows left out (``--strict``: an error)."""
    from llmkit.data import require_columns

    data = ctx.recipe.data
    columns = {"text_column": data.text_column, "summary_column": data.summary_column, "id_column": data.id_column}
    require_columns(dataset, columns, ctx.sources.get(split, split))
    documents = [as_text(v, sentences=True) for v in column_values(dataset, data.text_column)]
    summaries = [as_text(v, sentences=True) for v in column_values(dataset, data.summary_column)]
    dropped = Dropped()
    for what, column, values in (
        ("document", data.text_column, documents),
        ("summary", data.summary_column, summaries),
    ):
        dropped.add(f"no {what} ('{column}')", [i for i, text in enumerate(values) if text is None])
        dropped.add(f"a {what} that is not text ('{column}')", [i for i, text in enumerate(values) if text is NOT_TEXT])
    report_dropped(len(dataset), dropped, ctx.sources, split, ctx.strict)
    keep = kept_positions(len(dataset), dropped)
    all_ids = column_values(dataset, data.id_column) if data.id_column else list(range(len(dataset)))
    return [documents[i] for i in keep], [summaries[i] for i in keep], [all_ids[i] for i in keep], dropped


def prepare(ctx: PrepareContext) -> Prepared:
    """Read (document, summary) rows and tokenize them for the model's kind (``prepare_pairs``)."""
    return prepare_pairs(ctx, lambda dataset, split: _read(dataset, split, ctx))


def metrics(recipe: Any, prepared: Prepared, split: str) -> Any:
    """A ``compute_metrics`` closure: ROUGE against the raw reference summaries, and gen_len."""
    return generation_metrics(recipe, prepared, split, BUILTIN_METRICS, rouge_scores)


def details(recipe: Any, prepared: Prepared, split: str, output: Any) -> Details:
    """Per-example ``{id, prediction, reference}`` rows in input order."""
    return Details(rows=pair_rows(prepared, split, output, source_key=None))


def predict(
    model: Any,
    tokenizer: Any,
    inputs: list[dict[str, Any]],
    recipe: Any = None,
    options: dict | None = None,
    on_batch: Any = None,
    **_: Any,
) -> list[dict[str, Any]]:
    """Summarize raw documents in batches sorted by length; CLI options override the recipe's."""
    from llmkit.generation import decoding_options

    merged = decoding_options(recipe, dict(options or {}))
    sections = recipe if recipe is not None else DefaultSections()
    documents = [str(item.get("text", "")) for item in inputs]
    return generate_texts(model, tokenizer, documents, sections, merged, on_batch)


TASK = TaskSpec(
    name="summarization",
    summary="Summarization with encoder-decoder or decoder-only models (ROUGE)",
    commands=("finetune",),
    data_model=SummarizationData,
    options_model=SummarizationOptions,
    auto_model="AutoModelForSeq2SeqLM",
    key_metric="rougeL",
    greater_is_better=True,
    prepare=prepare,
    collator=collator,
    metrics=metrics,
    details=details,
    predict=predict,
    seq2seq=True,
    load_model=load_model,
    pipeline_tag="summarization",
    onnx_eval_gap="evaluates by generating text; ONNX Runtime scoring covers single-graph models",
    generate_options=DECODING,
    peft_task_type="SEQ_2_SEQ_LM",
    corpus_column="text_column",
    explain=Explanation("generated_tokens", source=prefixed_source),
)
