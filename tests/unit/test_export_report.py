"""`llmkit export` pieces without a model: what the checks compare and how the results read."""

import numpy as np

from llmkit.export import OnnxCheck, Quantized, check_text, quantized_lines
from llmkit.export.graphs import _real_diff
from llmkit.export.onnx_eval import _onnx_eval_gap
from llmkit.tasks import get_task


def test_causal_lm_check_compares_real_tokens_only():
    """Left padding: the padded rows' outputs are arbitrary; the check must see real tokens' gaps, not those."""
    mask = np.array([[0, 0, 1, 1], [1, 1, 1, 1]])
    ids = np.zeros((2, 1))  # one new token: logits of the last position only
    logits = np.zeros((2, 1, 5))
    present = np.zeros((2, 2, 4, 3))  # batch, heads, total length, head dim
    garbage = present.copy()
    garbage[0, :, :2] = 7.0  # at the padding of row 0
    names = ["logits", "present.0.key"]
    inputs = {"input_ids": ids, "attention_mask": mask}
    assert _real_diff(names, [logits, present], [logits, garbage], inputs) == 0.0
    garbage[0, 1, 2, 0] = 0.5  # a real token of row 0
    assert _real_diff(names, [logits, present], [logits, garbage], inputs) == 0.5
    shifted = logits.copy()
    shifted[1, 0, 3] = 0.25
    assert _real_diff(names, [logits, present], [shifted, present], inputs) == 0.25


def test_seq2seq_onnx_metric_is_not_measured_and_says_why():
    checks = [OnnxCheck("encoder.onnx", 0.0, 1e-4), OnnxCheck("decoder.onnx", 0.0, 1e-4)]
    reason = _onnx_eval_gap(None, get_task("translation"), checks)
    assert reason is not None and "translation" in reason and "generating" in reason
    quantized = Quantized("m", 2_000_000, 1_000_000, 2.0, 1.0, metric_note=reason)
    lines = quantized_lines(quantized)
    assert f"- validation metric: not measured ({reason})" in lines
    assert not any(line.startswith("- validation translation") for line in lines)
    measured = Quantized("m", 2_000_000, 1_000_000, 2.0, 1.0, metric="accuracy", metric_before=0.9, metric_after=0.85)
    assert "- validation accuracy: 0.9 -> 0.85" in quantized_lines(measured)


def test_check_text_adds_what_else_was_compared():
    plain = OnnxCheck("model.onnx", 1.5e-7, 1e-4)
    assert check_text(plain) == "max abs difference 1.50e-07 (tolerance 0.0001)"
    steps = OnnxCheck("model_with_past.onnx", 1.5e-7, 1e-4, detail="also over 4 cached greedy steps")
    assert check_text(steps).endswith("(tolerance 0.0001); also over 4 cached greedy steps")


def test_model_card_takes_pipeline_tag_and_loader_from_the_task_spec(tmp_path):
    from llmkit.export import ExportResult, write_model_card

    for name in ("qa", "textcls"):
        spec = get_task(name)
        write_model_card(str(tmp_path), tmp_path, spec, ExportResult(tmp_path, "model", 0, []))
        card = (tmp_path / "README.md").read_text()
        assert f"pipeline_tag: {spec.pipeline_tag}\n" in card and f"A `{name}` model" in card
        assert f"model = {spec.auto_model}.from_pretrained" in card


class _RecordingTokenizer:
    """Stands in for a tokenizer: records what it was asked to encode."""

    pad_token, eos_token, unk_token, padding_side = "[PAD]", None, None, "right"

    def __call__(self, *texts, **kwargs):
        return {"texts": texts, "padding_side": self.padding_side}


def test_sample_inputs_pair_the_texts_with_the_tasks_sample_context():
    from llmkit.export import SAMPLE_TEXTS, sample_inputs

    qa = get_task("qa")
    pairs = sample_inputs(qa, _RecordingTokenizer())["texts"]
    assert pairs == (list(SAMPLE_TEXTS), [qa.sample_context] * len(SAMPLE_TEXTS))
    left = sample_inputs(get_task("clm"), _RecordingTokenizer(), left=True)
    assert left == {"texts": (list(SAMPLE_TEXTS),), "padding_side": "left"}


def test_onnx_eval_gap_without_a_single_graph_or_a_known_loss():
    class NoHead:
        loss_function = None

    checks = [OnnxCheck("encoder.onnx", 0.0, 1e-4)]
    assert "single-graph" in _onnx_eval_gap(NoHead(), get_task("textcls"), checks)
    reason = _onnx_eval_gap(NoHead(), get_task("textcls"), [OnnxCheck("model.onnx", 0.0, 1e-4)])
    assert reason == "the ONNX Runtime evaluation does not know the loss of NoHead"
