"""Pruning logic on a small random BERT: the slicing removes exactly what the head gates would zero, the head
ranking and FFN selection, magnitude sparsity, settings that exit 2, and the loader of a head-pruned folder."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

from llmkit.errors import UsageError
from llmkit.models.pruning import encoder_layers, load_pruned, pruned_heads_of, remove_ffn_neurons, remove_heads
from llmkit.prune import METHODS, SCOPES, check_settings
from llmkit.prune.importance import heads_to_remove, measure_importance, neurons_to_keep
from llmkit.prune.magnitude import magnitude_prune, prunable_linears


def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=48, num_labels=3
    )
    return BertForSequenceClassification(config).eval()


INPUTS = {"input_ids": torch.randint(1, 50, (2, 7)), "attention_mask": torch.ones(2, 7, dtype=torch.long)}


def gated_logits(model, heads: dict[int, list[int]], neurons: dict[int, list[int]] | None = None):
    """Logits with the given heads' outputs (and FFN neurons not in ``neurons``) multiplied by 0."""
    hooks = []
    for i, block in enumerate(encoder_layers(model)):
        size = block.attention.self.attention_head_size
        gate = torch.ones(block.attention.self.num_attention_heads)
        gate[heads.get(i, [])] = 0
        scale = gate.repeat_interleave(size)
        hooks.append(block.attention.output.dense.register_forward_pre_hook(lambda m, a, s=scale: (a[0] * s,)))
        if neurons is not None:
            mask = torch.zeros(block.intermediate.dense.out_features)
            mask[neurons[i]] = 1
            hooks.append(block.output.dense.register_forward_pre_hook(lambda m, a, s=mask: (a[0] * s,)))
    with torch.no_grad():
        logits = model(**INPUTS).logits
    for hook in hooks:
        hook.remove()
    return logits


def test_removing_heads_equals_zeroing_their_outputs_and_shrinks_the_projections():
    model = tiny_bert()
    heads = {0: [1, 3], 2: [0]}
    expected = gated_logits(model, heads)
    before = sum(p.numel() for p in model.parameters())
    remove_heads(model, heads)
    with torch.no_grad():
        assert torch.allclose(model(**INPUTS).logits, expected, atol=1e-5)
    layer0 = encoder_layers(model)[0]
    assert layer0.attention.self.query.weight.shape == (16, 32)  # 2 heads of 8 left
    assert layer0.attention.output.dense.weight.shape == (32, 16)
    # 3 heads x (q, k, v rows with bias + output columns): 3 * (3 * (8 * 32 + 8) + 8 * 32)
    assert before - sum(p.numel() for p in model.parameters()) == 3 * (3 * (8 * 32 + 8) + 8 * 32)
    assert pruned_heads_of(model.config) == {0: [1, 3], 2: [0]}


def test_a_second_pruning_records_heads_by_their_original_numbers():
    model = tiny_bert()
    remove_heads(model, {0: [0]})
    remove_heads(model, {0: [0]})  # the layer's heads are now 1, 2, 3: its first is the original head 1
    assert pruned_heads_of(model.config) == {0: [0, 1]}


def test_the_last_head_of_a_layer_is_never_removed():
    with pytest.raises(UsageError, match="at least one"):
        remove_heads(tiny_bert(), {1: [0, 1, 2, 3]})


def test_removing_ffn_neurons_equals_zeroing_them_and_sets_intermediate_size():
    model = tiny_bert()
    keep = {i: list(range(i, 48, 2))[:20] for i in range(3)}
    expected = gated_logits(model, {}, keep)
    remove_ffn_neurons(model, keep)
    with torch.no_grad():
        assert torch.allclose(model(**INPUTS).logits, expected, atol=1e-5)
    assert model.config.intermediate_size == 20


def test_a_head_pruned_folder_loads_with_its_config_and_gives_the_same_logits(tmp_path):
    model = tiny_bert()
    remove_heads(model, {0: [2], 1: [0, 1]})
    remove_ffn_neurons(model, {i: list(range(30)) for i in range(3)})
    model.save_pretrained(tmp_path)
    config = AutoConfig.from_pretrained(tmp_path)  # the plain config round trip keeps the record
    assert pruned_heads_of(config) == {0: [2], 1: [0, 1]} and config.intermediate_size == 30
    loaded = load_pruned(AutoModelForSequenceClassification, tmp_path, config)
    with torch.no_grad():
        assert torch.allclose(loaded(**INPUTS).logits, model(**INPUTS).logits, atol=1e-6)
    assert sum(p.numel() for p in loaded.parameters()) == sum(p.numel() for p in model.parameters())


def test_an_ffn_only_pruned_folder_loads_with_plain_from_pretrained(tmp_path):
    model = tiny_bert()
    remove_ffn_neurons(model, {i: list(range(0, 48, 3)) for i in range(3)})
    model.save_pretrained(tmp_path)
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        assert torch.allclose(plain(**INPUTS).logits, model(**INPUTS).logits, atol=1e-6)


def test_heads_are_ranked_across_layers_and_no_layer_loses_its_last():
    scores = [torch.tensor([0.1, 0.9]), torch.tensor([0.2, 0.3]), torch.tensor([0.05, 0.8])]
    assert heads_to_remove(scores, 0.5) == {0: [0], 1: [0], 2: [0]}  # 0.3 would leave layer 1 empty
    assert heads_to_remove(scores, 1 / 6) == {2: [0]}
    assert heads_to_remove(scores, 0.0) == {}


def test_neurons_to_keep_drops_the_lowest_scores_in_each_layer_equally():
    scores = [torch.tensor([0.5, 0.1, 0.9, 0.2]), torch.tensor([0.0, 0.4, 0.3, 0.8])]
    assert neurons_to_keep(scores, 0.5) == {0: [0, 2], 1: [1, 3]}


def test_importance_is_the_gradient_of_the_loss_with_respect_to_the_gates():
    model = tiny_bert()
    batch = {**INPUTS, "labels": torch.tensor([0, 2])}
    importance = measure_importance(model, [batch, batch])
    assert importance.batches == 2
    assert [len(h) for h in importance.heads] == [4, 4, 4]
    assert [len(n) for n in importance.neurons] == [48, 48, 48]
    for scores in importance.heads:  # normalised per layer
        assert float(scores.norm()) == pytest.approx(1.0)
    assert all(p.requires_grad for p in model.parameters())  # left as found
    # A head whose output is already zero cannot change the loss: its importance is 0.
    zeroed = tiny_bert()
    own = encoder_layers(zeroed)[0].attention.self
    with torch.no_grad():
        own.value.weight[8:16] = 0
        own.value.bias[8:16] = 0
    assert float(measure_importance(zeroed, [batch]).heads[0][1]) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("sparsity", [0.5, 0.9])
def test_magnitude_pruning_reaches_the_sparsity_exactly(scope, sparsity):
    model = tiny_bert()
    embeddings = model.get_input_embeddings().weight.detach().clone()
    share = magnitude_prune(model, sparsity, scope)
    linears = prunable_linears(model)
    total = sum(m.weight.numel() for m in linears)
    zeros = sum(int((m.weight == 0).sum()) for m in linears)
    assert zeros == pytest.approx(sparsity * total, abs=len(linears))  # rounding, per layer at most
    assert share == zeros / total
    if scope == "layer":
        for module in linears:
            assert int((module.weight == 0).sum()) == round(sparsity * module.weight.numel())
    assert not any(hasattr(m, "weight_mask") for m in linears)  # made permanent
    assert torch.equal(model.get_input_embeddings().weight, embeddings)  # embeddings untouched


def test_an_output_layer_tied_to_the_embeddings_is_not_pruned():
    from transformers import BertForMaskedLM

    model = BertForMaskedLM(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4))
    assert model.get_output_embeddings() not in prunable_linears(model)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("magnitude", 1.5, "global", None, None, 0), "--sparsity: 1.5 is not a share"),
        (("magnitude", None, "global", None, None, 0), "needs --sparsity"),
        (("heads", None, "global", -0.1, None, 0), "--amount: -0.1"),
        (("heads", None, "global", None, None, 0), "needs --amount"),
        (("heads", 0.5, "global", 0.25, None, 0), "--sparsity does not apply"),
        (("magnitude", 0.5, "global", None, None, -3), "--finetune-steps"),
        (("structured", 0.5, "global", None, None, 0), "unknown method"),
    ],
)
def test_bad_settings_are_usage_errors(args, message):
    with pytest.raises(UsageError, match=message):
        check_settings(*args)


def test_the_cli_choices_are_the_methods_and_scopes():
    from llmkit.cli.commands.prune import Method, Scope

    assert tuple(m.value for m in Method) == METHODS
    assert tuple(s.value for s in Scope) == SCOPES


def test_recovery_keeps_the_zeroed_weights_at_zero():
    from types import SimpleNamespace

    from llmkit.prune.magnitude import keep_zeros

    model = tiny_bert()
    magnitude_prune(model, 0.5, "global")
    callback = keep_zeros()
    callback.on_train_begin(None, None, None, model=model)
    with torch.no_grad():  # an optimizer step moves every weight
        for module in prunable_linears(model):
            module.weight.add_(0.01)
    callback.on_step_end(None, SimpleNamespace(), None)
    linears = prunable_linears(model)
    zeros = sum(int((m.weight == 0).sum()) for m in linears)
    assert zeros == pytest.approx(0.5 * sum(m.weight.numel() for m in linears), abs=1)
