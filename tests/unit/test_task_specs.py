"""Every task's TaskSpec facts: the values the layers above read instead of branching on task names."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

from llmkit.tasks import TASKS, get_task
from llmkit.tasks.spec import DECODING, NO_ANSWER, Distillation, Shown, TaskSpec

SPEC_FIELDS = {
    "textcls": {
        "pipeline_tag": "text-classification",
        "sample_context": None,
        "logit_outputs": ("logits",),
        "loss_kind": "ForSequenceClassification",
        "onnx_eval_gap": None,
        "distill": Distillation(shift_labels=False, match="labels"),
        "hidden_columns": ("scores",),
        "generate_options": (),
        "input_fields": ("text",),
        "generated_tokens": None,
        "peft_task_type": "SEQ_CLS",
        "corpus_column": "text_column",
    },
    "qa": {
        "pipeline_tag": "question-answering",
        "sample_context": "The cat is a small domesticated animal. It purrs and catches mice.",
        "logit_outputs": ("start_logits", "end_logits"),
        "loss_kind": "ForQuestionAnswering",
        "onnx_eval_gap": None,
        "distill": None,
        "hidden_columns": (),
        "generate_options": (),
        "input_fields": ("question", "context"),
        "generated_tokens": None,
        "peft_task_type": "QUESTION_ANS",
        "corpus_column": None,
    },
    "mlm": {
        "pipeline_tag": "fill-mask",
        "sample_context": None,
        "logit_outputs": ("logits",),
        "loss_kind": "ForMaskedLM",
        "onnx_eval_gap": None,
        "distill": None,
        "hidden_columns": (),
        "generate_options": ("top_k_fill",),
        "input_fields": ("text",),
        "generated_tokens": None,
        "peft_task_type": None,
        "corpus_column": "text_column",
    },
    "clm": {
        "pipeline_tag": "text-generation",
        "sample_context": None,
        "logit_outputs": ("logits",),
        "loss_kind": "ForCausalLM",
        "onnx_eval_gap": None,
        "distill": Distillation(shift_labels=True, match="vocabulary"),
        "hidden_columns": (),
        "generate_options": (*DECODING, "stop"),
        "input_fields": ("text",),
        "peft_task_type": "CAUSAL_LM",
        "corpus_column": "text_column",
    },
    "translation": {
        "pipeline_tag": "translation",
        "sample_context": None,
        "logit_outputs": ("logits",),
        "loss_kind": None,
        "head_loss": None,
        "onnx_eval_gap": "evaluates by generating text; ONNX Runtime scoring covers single-graph models",
        "distill": None,
        "hidden_columns": (),
        "generate_options": DECODING,
        "input_fields": ("text",),
        "generated_tokens": None,
        "peft_task_type": "SEQ_2_SEQ_LM",
        "corpus_column": None,
    },
    "summarization": {
        "pipeline_tag": "summarization",
        "sample_context": None,
        "logit_outputs": ("logits",),
        "loss_kind": None,
        "head_loss": None,
        "onnx_eval_gap": "evaluates by generating text; ONNX Runtime scoring covers single-graph models",
        "distill": None,
        "hidden_columns": (),
        "generate_options": DECODING,
        "input_fields": ("text",),
        "generated_tokens": None,
        "peft_task_type": "SEQ_2_SEQ_LM",
        "corpus_column": "text_column",
    },
    "multiple_choice": {
        "pipeline_tag": "multiple-choice",
        "sample_context": None,
        "logit_outputs": ("logits",),
        "loss_kind": None,
        "head_loss": None,
        "onnx_eval_gap": None,
        "distill": None,
        "hidden_columns": ("choices", "scores"),
        "generate_options": (),
        "input_fields": ("question", "choices"),
        "generated_tokens": None,
        "peft_task_type": "SEQ_CLS",
        "corpus_column": "question_column",
    },
}


def test_every_task_is_listed() -> None:
    # Pinned values for the tasks listed here; a new task needs no entry (it touches only its five places).
    assert set(SPEC_FIELDS) <= set(TASKS)


@pytest.mark.parametrize("name", list(SPEC_FIELDS))
def test_spec_values(name: str) -> None:
    spec = get_task(name)
    got = {key: getattr(spec, key) for key in SPEC_FIELDS[name]}
    assert got == SPEC_FIELDS[name]


@pytest.mark.parametrize("name", list(TASKS))
def test_corpus_column_names_a_data_field(name: str) -> None:
    spec = get_task(name)
    if spec.corpus_column is not None:
        assert spec.corpus_column in spec.data_model.model_fields


def test_loss_kinds_are_transformers_losses() -> None:
    from transformers.loss.loss_utils import LOSS_MAPPING

    for name in TASKS:
        spec = get_task(name)
        assert spec.loss_kind is None or spec.loss_kind in LOSS_MAPPING
        assert (spec.loss_kind is None) == (spec.head_loss is None), name


def test_every_field_is_documented() -> None:
    """Each TaskSpec field has a comment: at the end of its line, or on the line above it."""
    fields = {f.name for f in dataclasses.fields(TaskSpec)}
    lines = inspect.getsource(TaskSpec).splitlines()
    seen = set()
    for number, line in enumerate(lines):
        name = line.strip().split(":")[0]
        if name in fields and line.startswith("    ") and not line.startswith("     "):
            seen.add(name)
            assert "#" in line or lines[number - 1].strip().startswith("#"), f"TaskSpec.{name} has no comment"
    assert seen == fields


# ---------------------------------------------------------------------------------------------
# show_prediction: one row of each shape predict returns

ROWS = [
    (
        "textcls",
        {"text": "good", "label": "pos", "probability": 0.875, "scores": {"pos": 0.875}},
        ("good", "pos", 0.875, False),
    ),
    (
        "textcls",
        {"text": "both", "prediction": ["a", "b"], "scores": {"a": 0.9, "b": 0.8}},
        ("both", "['a', 'b']", None, False),
    ),
    ("textcls", {"text": "value", "prediction": 2.5}, ("value", "2.5", None, False)),
    (
        "qa",
        {"question": "who?", "answer": "the cat", "score": 0.5, "start": 0, "end": 7},
        ("who?", "the cat", 0.5, False),
    ),
    ("qa", {"question": "who?", "answer": "", "score": 1.0, "start": 0, "end": 0}, ("who?", NO_ANSWER, 1.0, False)),
    (
        "mlm",
        {"text": "a [MASK] cat", "prediction": "a small cat", "masks": [[]]},
        ("a [MASK] cat", "a small cat", None, False),
    ),
    ("clm", {"text": "Once", "prediction": " upon", "new_tokens": 1}, ("Once", " upon", None, True)),
    ("translation", {"text": "Hallo", "prediction": "Hello"}, ("Hallo", "Hello", None, False)),
    (
        "translation",
        {"text": "Hallo", "prediction": "Hi", "predictions": ["Hi", "Hello"]},
        ("Hallo", "Hi", None, False),
    ),
]


@pytest.mark.parametrize(("name", "row", "shown"), ROWS)
def test_show_prediction(name: str, row: dict, shown: tuple) -> None:
    assert get_task(name).show_prediction(row) == Shown(*shown)


def test_generated_tokens() -> None:
    rows = [{"text": "a", "prediction": "b", "new_tokens": 3}, {"text": "a", "prediction": "c", "new_tokens": 2}]
    assert get_task("clm").generated_tokens(rows) == 5


# ---------------------------------------------------------------------------------------------
# head_loss: the head's own loss, computed from its logits


def _model(auto_class: str, alias: str, **config_extra: object):
    import torch
    import transformers
    from transformers import AutoConfig

    from llmkit.models import ALIASES

    torch.manual_seed(0)
    config = AutoConfig.for_model(**{**ALIASES[alias].config, "vocab_size": 97, **config_extra})
    return getattr(transformers, auto_class).from_config(config).eval()


def _batch(vocab: int = 97):
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (2, 7), generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


CASES = [
    ("textcls", {"num_labels": 3}, lambda t, b: t.tensor([0, 2])),
    ("textcls", {"num_labels": 1}, lambda t, b: t.tensor([0.5, -1.0])),
    (
        "textcls",
        {"num_labels": 2, "problem_type": "multi_label_classification"},
        lambda t, b: t.tensor([[1.0, 0.0], [1.0, 1.0]]),
    ),
    ("mlm", {}, lambda t, b: t.where(t.arange(7) % 3 == 0, b["input_ids"], t.tensor(-100))),
    ("clm", {}, lambda t, b: b["input_ids"].clone()),
]


@pytest.mark.parametrize(("name", "extra", "labels"), CASES)
def test_head_loss_matches_the_model(name: str, extra: dict, labels) -> None:
    import torch

    spec = get_task(name)
    model = _model(spec.auto_model, "tiny-gpt2" if name == "clm" else "tiny-bert", **extra)
    batch = _batch()
    batch["labels"] = labels(torch, batch)
    with torch.no_grad():
        out = model(**batch)
        got = spec.head_loss({k: out[k] for k in spec.logit_outputs}, batch, model.config)
    assert torch.allclose(got, out.loss, atol=1e-6)
    assert spec.head_loss({k: out[k] for k in spec.logit_outputs}, {**batch, "labels": None}, model.config) is None


def test_qa_head_loss_matches_the_model() -> None:
    import torch

    spec = get_task("qa")
    model = _model(spec.auto_model, "tiny-bert")
    batch = {**_batch(), "start_positions": torch.tensor([1, 3]), "end_positions": torch.tensor([2, 6])}
    with torch.no_grad():
        out = model(**batch)
        logits = {k: out[k] for k in spec.logit_outputs}
        assert torch.allclose(spec.head_loss(logits, batch, model.config), out.loss, atol=1e-6)
        assert spec.head_loss(logits, {**batch, "end_positions": None}, model.config) is None


def test_tasks_import_no_upper_layer() -> None:
    """Task modules sit below the runner, the CLI and export: they never import them."""
    upper = ("llmkit.train", "llmkit.cli", "llmkit.export", "llmkit.ui", "llmkit.train")
    for path in Path(inspect.getfile(TaskSpec)).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            assert not [n for n in names if n.startswith(upper)], f"{path.name} imports {names}"


# ---------------------------------------------------------------------------------------------
# DataSummary: typed fields, written as today's metrics.json "data" object


def test_data_summary_to_json() -> None:
    from llmkit.tasks.spec import DataSummary

    summary = DataSummary(truncated={}, dropped={"train": 0}, extra={"kind": "seq2seq", "overlong": {}})
    summary.rows["train"] = 3
    summary.truncated["train"] = 1
    summary.extra["overlong"]["train"] = {"source": 1, "target": 0}
    assert summary.to_json() == {
        "rows": {"train": 3},
        "truncated": {"train": 1},
        "dropped": {"train": 0},
        "kind": "seq2seq",
        "overlong": {"train": {"source": 1, "target": 0}},
    }
    assert DataSummary().to_json() == {"rows": {}}  # facts a task does not count are absent


def test_translation_predict_without_a_recipe() -> None:
    """A model loaded without its recipe translates with the translation sections' defaults."""
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

    from llmkit.models import ALIASES, ASSETS
    from llmkit.tasks import translation

    tokenizer = AutoTokenizer.from_pretrained(ASSETS / "tiny-t5")
    torch.manual_seed(0)
    config = AutoConfig.for_model(**{**ALIASES["tiny-t5"].config, "vocab_size": len(tokenizer)})
    model = AutoModelForSeq2SeqLM.from_config(config)
    rows = translation.predict(
        model, tokenizer, [{"text": "Hallo Welt"}, {"text": "Ja"}], options={"max_new_tokens": 2}
    )
    assert [row["text"] for row in rows] == ["Hallo Welt", "Ja"]
    assert all(isinstance(row["prediction"], str) for row in rows)


# ---------------------------------------------------------------------------------------------
# Dataset cache keys follow the code of every module a mapped function reads


def test_code_hash_changes_with_a_helper_module(tmp_path, monkeypatch) -> None:
    import importlib

    from llmkit.tasks import caching

    helper = tmp_path / "t_helper_mod.py"
    helper.write_text("def label_values(v):\n    return [v]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("t_helper_mod")
    before = caching.code_hash(module, module.label_values)
    helper.write_text("def label_values(v):\n    return [str(v)]\n")
    caching._file_hash.cache_clear()  # a new process: the edited file is read again
    assert caching.code_hash(module) != before
    assert caching.code_hash(module.label_values) == caching.code_hash(module)  # a function: its module


def test_cache_keys_name_the_helper_modules(monkeypatch) -> None:
    """textcls's encode reads textcls_labels, lm's tokenize reads the task's encode: both in the key."""
    import datasets

    from llmkit import data
    from llmkit.config import ModelSection
    from llmkit.models import load_tokenizer
    from llmkit.recipe import load_recipe_data
    from llmkit.tasks import clm, textcls, textcls_labels
    from llmkit.tasks.caching import code_hash
    from llmkit.tasks.spec import PrepareContext

    keys = []
    real = data.cached_map

    def spy(dataset, function, *, key, **kwargs):
        keys.append(key)
        return real(dataset, function, key=key, **kwargs)

    monkeypatch.setattr(data, "cached_map", spy)
    tokenizer = load_tokenizer(ModelSection(name_or_path="tiny-gpt2"))
    for task, rows in (
        ("textcls", [{"text": "a b", "label": "x"}, {"text": "c", "label": "y"}]),
        ("clm", [{"text": "a b c d"}] * 8),
    ):
        extra = {"data": {"block_size": 4}} if task == "clm" else {}
        recipe = load_recipe_data({"task": task, "model": {"name_or_path": "tiny-gpt2"}, **extra}).recipe
        raw = {"train": datasets.Dataset.from_list(rows)}
        get_task(task).prepare(
            PrepareContext(recipe=recipe, raw=raw, tokenizer=tokenizer, model_config=None, training=True)
        )
    assert keys[0]["code"] == code_hash(textcls_labels) and textcls.TASK.name == "textcls"
    assert keys[1]["encode"] == code_hash(clm)
