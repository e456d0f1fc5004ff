"""The distillation loss: its two terms, their weights, and the causal LM shift."""

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from llmkit.train.distill import distillation_loss


def test_alpha_zero_is_cross_entropy_and_alpha_one_is_scaled_kl():
    torch.manual_seed(0)
    student, teacher = torch.randn(6, 5), torch.randn(6, 5)
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    ce = distillation_loss(student, teacher, labels, temperature=2.0, alpha=0.0, shift=False)
    assert ce == pytest.approx(F.cross_entropy(student, labels).item(), rel=1e-5)
    kl = distillation_loss(student, teacher, labels, temperature=2.0, alpha=1.0, shift=False)
    expected = F.kl_div(
        F.log_softmax(student / 2, -1), F.log_softmax(teacher / 2, -1), log_target=True, reduction="batchmean"
    )
    assert kl == pytest.approx(4 * expected.item(), rel=1e-5)
    assert distillation_loss(teacher, teacher, labels, 2.0, 1.0, False) == pytest.approx(0.0, abs=1e-6)


def test_causal_shift_and_ignored_tokens():
    torch.manual_seed(0)
    student, teacher = torch.randn(2, 4, 7), torch.randn(2, 4, 7)
    labels = torch.tensor([[1, 2, 3, -100], [4, 5, -100, -100]])
    got = distillation_loss(student, teacher, labels, 1.0, 0.0, shift=True)
    s, y = student[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1)
    assert got == pytest.approx(F.cross_entropy(s, y, ignore_index=-100).item(), rel=1e-5)
    summed = distillation_loss(student, teacher, labels, 1.0, 0.0, shift=True, num_items_in_batch=torch.tensor(6))
    assert summed == pytest.approx(got.item() * 3 / 6, rel=1e-5)  # 3 kept tokens, normalized by 6
