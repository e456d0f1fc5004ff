"""`llmkit explain` end to end on tiny models: completeness, the JSON shape, the HTML page, other task kinds, errors.

The classification case reuses the session's tiny-bert textcls run; the other heads load from the built-in tiny
checkpoints with ``--task`` (a freshly initialised head is enough to check what is attributed and the shapes).
"""

from __future__ import annotations

import json
import re

import pytest

PROMPT = "a small animal that purrs"


def explained(cli, *args):
    result = cli("explain", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_textcls_integrated_gradients_is_complete_and_has_one_attribution_per_token(cli, textcls_run):
    found = explained(cli, "--model", textcls_run, "--prompt", PROMPT, "--steps", "32")
    assert found["method"] == "integrated-gradients" and found["task"] == "textcls"
    assert found["tokens"][0] == "[CLS]" and found["tokens"][-1] == "[SEP]" and "animal" in found["tokens"]
    assert len(found["attributions"]) == len(found["tokens"])
    [target] = found["targets"]
    assert target["label"] == found["prediction"] and target["score"] == pytest.approx(found["score"], rel=1e-4)
    gap = target["score"] - target["baseline_score"]
    assert gap != 0
    # completeness: the attributions add up to f(input) - f(baseline), up to the reported delta
    assert sum(found["attributions"]) - gap == pytest.approx(found["convergence_delta"], abs=1e-7)
    assert abs(found["convergence_delta"]) <= 0.01 * abs(gap)


def test_a_chosen_label_and_the_attention_methods(cli, textcls_run):
    labels = json.loads((textcls_run / "config.json").read_text())["id2label"].values()
    other = sorted(labels)[-1]
    chosen = explained(
        cli, "--model", textcls_run, "--prompt", PROMPT, "--target", other, "--method", "gradient-x-input"
    )
    assert chosen["targets"][0]["label"] == other and chosen["convergence_delta"] is None
    rolled = explained(cli, "--model", textcls_run, "--prompt", PROMPT, "--method", "rollout")
    assert len(rolled["attributions"]) == len(rolled["tokens"])
    assert sum(rolled["attributions"]) == pytest.approx(1.0, abs=1e-4)  # a rolled-out row is a distribution


def test_the_html_page_is_self_contained_and_never_overwritten_silently(cli, textcls_run, tmp_path):
    page = tmp_path / "page.html"
    result = cli("explain", "--model", textcls_run, "--prompt", PROMPT, "--method", "attention", "--output", page)
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert "animal" in text and "<script" not in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "http://" not in text and "https://" not in text
    config = json.loads((textcls_run / "config.json").read_text())
    maps = config["num_hidden_layers"] * config["num_attention_heads"]
    assert text.count('<img src="data:image/png;base64,') == maps  # the layer x head grid
    again = cli("explain", "--model", textcls_run, "--prompt", PROMPT, "--output", page)
    assert again.exit_code == 2 and "--overwrite" in again.output
    assert page.read_text() == text


def test_token_classification_explains_one_word_with_a_sizeable_complete_gap(cli):
    found = explained(
        cli, "--model", "tiny-bert", "--task", "tokencls", "--prompt", "John lives in Paris", "--target", "Paris"
    )
    [target] = found["targets"]
    assert target["label"].startswith("Paris=")
    gap = target["score"] - target["baseline_score"]
    assert abs(found["convergence_delta"]) <= 0.01 * abs(gap)


def test_causal_lm_next_token_and_a_chosen_token(cli):
    found = explained(cli, "--model", "tiny-gpt2", "--task", "clm", "--prompt", "The cat sat on the")
    assert len(found["attributions"]) == len(found["tokens"]) == 5
    assert found["targets"][0]["name"] == "token"
    chosen = explained(
        cli, "--model", "tiny-gpt2", "--task", "clm", "--prompt", "The cat sat on the", "--target", " cat"
    )
    assert chosen["targets"][0]["label"] == "Ġcat" == found["tokens"][1]
    too_long = cli("explain", "--model", "tiny-gpt2", "--task", "clm", "--prompt", "The cat", "--target", "the big mat")
    assert too_long.exit_code == 2 and "not one token" in too_long.output


def test_question_answering_explains_the_start_and_the_end_of_the_span(cli):
    context = "the cat purrs on the mat all day long"
    args = ("--model", "tiny-bert", "--task", "qa", "--question", "where does the cat purr?", "--context", context)
    found = explained(cli, *args, "--method", "gradient-x-input")
    assert [t["name"] for t in found["targets"]] == ["start", "end"]
    assert found["prediction"] and found["prediction"] in context
    start, end = found["targets"]
    assert found["attributions"] == pytest.approx(
        [a + b for a, b in zip(start["attributions"], end["attributions"], strict=True)]
    )
    chosen = explained(cli, *args, "--target", "the mat", "--method", "attention")
    assert chosen["prediction"] == "the mat"


def test_seq2seq_explains_each_generated_token_with_its_cross_attention(cli):
    args = ("--model", "tiny-t5", "--task", "translation", "--prompt", "the cat sat", "--target", "die Katze")
    found = explained(cli, *args, "--method", "gradient-x-input")
    assert found["prediction"] == "die Katze"
    assert len(found["targets"]) >= 2
    for target in found["targets"]:
        assert len(target["attributions"]) == len(target["cross_attention"]) == len(found["tokens"])
        assert sum(target["cross_attention"]) == pytest.approx(1.0, abs=1e-4)


def test_usage_and_model_errors(cli, textcls_run, tmp_path):
    typo = cli("explain", "--model", textcls_run, "--prompt", PROMPT, "--method", "integrated-gradiants")
    assert typo.exit_code == 2 and "did you mean 'integrated-gradients'" in typo.output
    label = cli("explain", "--model", textcls_run, "--prompt", PROMPT, "--target", "animl")
    assert label.exit_code == 2 and "did you mean 'animal'" in label.output
    missing = cli("explain", "--model", tmp_path / "nope", "--prompt", PROMPT)
    assert missing.exit_code == 4
    no_mask = cli("explain", "--model", "tiny-bert", "--task", "mlm", "--prompt", "no mask here")
    assert no_mask.exit_code == 2 and "[MASK]" in no_mask.output
    choice = cli("explain", "--model", "tiny-bert", "--task", "multiple_choice", "--prompt", PROMPT)
    assert choice.exit_code == 2 and "does not handle multiple_choice" in choice.output


def test_attributions_equal_captums_layer_integrated_gradients_on_the_embedding_layer(textcls_run):
    # llmkit integrates on the embedding output (inputs_embeds); Captum's LayerIntegratedGradients hooks the
    # embedding layer instead. Same baseline, same steps: the same attribution per token.
    import torch
    from captum.attr import LayerIntegratedGradients

    from llmkit.explain import Request, explain_loaded
    from llmkit.train import load_for_inference

    loaded = load_for_inference(str(textcls_run), device="cpu")
    found = explain_loaded(loaded, Request(prompt=PROMPT), "integrated-gradients", steps=32)
    model, tokenizer = loaded.model, loaded.tokenizer
    encoded = tokenizer(PROMPT, return_tensors="pt")
    ids = encoded["input_ids"]
    special = torch.tensor(tokenizer.all_special_ids)
    baseline = torch.where(torch.isin(ids, special), ids, torch.full_like(ids, tokenizer.pad_token_id))
    index = model.config.label2id[found.prediction]

    def forward(input_ids):
        mask = encoded["attention_mask"].expand(input_ids.shape[0], -1)
        return model(input_ids=input_ids, attention_mask=mask).logits.softmax(-1)[:, index]

    layer_ig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    expected = layer_ig.attribute(ids, baselines=baseline, n_steps=32).sum(-1)[0]
    assert found.attributions == pytest.approx(expected.tolist(), abs=1e-6)
