"""DivergenceGuard: stops on a non-finite loss or gradient norm, reusing the norm Trainer computed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from llmkit.errors import DivergedError
from llmkit.train.guards import DivergenceGuard


class LossModel(torch.nn.Module):
    """Returns a dict with a loss, as Hugging Face models do."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(3))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": (self.weight * x).sum()}


class FakeTrainer:
    """The two things the guard touches: ``model`` and ``_get_grad_norm``."""

    def __init__(self, norm: float) -> None:
        self.model = LossModel()
        self.norm = norm
        self.calls = 0

    def _get_grad_norm(self, model: torch.nn.Module, grad_norm: torch.Tensor | None = None) -> torch.Tensor:
        self.calls += 1
        return torch.tensor(self.norm)


def one_step(guard: DivergenceGuard, trainer: FakeTrainer, x: torch.Tensor) -> None:
    """What Trainer does around the guard: forward, backward, norm, then the pre-optimizer callback."""
    trainer.model.train()
    trainer.model(x)["loss"].backward()
    trainer._get_grad_norm(trainer.model)
    state = SimpleNamespace(global_step=0)
    guard.on_step_begin(None, state, None)
    guard.on_pre_optimizer_step(None, state, None, model=trainer.model)


def test_reuses_trainers_norm_instead_of_a_second_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    trainer = FakeTrainer(norm=2.0)
    guard = DivergenceGuard(lambda: None)
    guard.attach(trainer)

    def no_second_pass(*args: object, **kwargs: object) -> torch.Tensor:
        raise AssertionError("the guard computed its own gradient norm")

    monkeypatch.setattr(torch.nn.utils, "get_total_norm", no_second_pass)
    one_step(guard, trainer, torch.ones(3))
    assert trainer.calls == 1 and guard.grad_norm is None  # consumed by the check


def test_non_finite_norm_from_trainer_stops_the_run() -> None:
    trainer = FakeTrainer(norm=float("inf"))
    guard = DivergenceGuard(lambda: "checkpoint-2")
    guard.attach(trainer)
    with pytest.raises(DivergedError, match=r"step 1: non-finite loss or gradient norm.*checkpoint-2"):
        one_step(guard, trainer, torch.ones(3))


def test_non_finite_loss_with_finite_norm_names_the_loss() -> None:
    trainer = FakeTrainer(norm=1.0)
    guard = DivergenceGuard(lambda: None)
    guard.attach(trainer)
    with pytest.raises(DivergedError, match=r"non-finite loss;.*there is no valid checkpoint yet"):
        one_step(guard, trainer, torch.tensor([1.0, float("nan"), 1.0]))


def test_computes_the_norm_itself_without_trainers_method() -> None:
    trainer = SimpleNamespace(model=LossModel())
    guard = DivergenceGuard(lambda: None)
    guard.attach(trainer)
    trainer.model.train()
    trainer.model(torch.ones(3))["loss"].backward()
    trainer.model.weight.grad[0] = float("nan")
    guard.loss = None  # only the gradient is bad
    with pytest.raises(DivergedError, match="loss or gradient norm"):
        guard.on_pre_optimizer_step(None, SimpleNamespace(global_step=0), None, model=trainer.model)


def test_detach_gives_the_method_back() -> None:
    trainer = FakeTrainer(norm=1.0)
    guard = DivergenceGuard(lambda: None)
    guard.attach(trainer)
    assert "_get_grad_norm" in vars(trainer)
    guard.detach()
    assert "_get_grad_norm" not in vars(trainer) and trainer._get_grad_norm(trainer.model) == 1.0


def test_names_the_newest_valid_checkpoint_never_a_corrupt_one(tmp_path) -> None:
    from safetensors.torch import save_file

    from llmkit.train.checkpoints import commit, newest_valid

    for step in (2, 4):
        staging = tmp_path / ".llmkit-staging" / f"checkpoint-{step}"
        staging.mkdir(parents=True)
        save_file({"w": torch.zeros(16)}, staging / "model.safetensors")
        torch.save({"cpu": torch.get_rng_state()}, staging / "rng_state.pth")
        commit(staging, tmp_path / f"checkpoint-{step}", step, "h", 1)
    weights = tmp_path / "checkpoint-4" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # same size, different content
    weights.write_bytes(bytes(data))
    trainer = FakeTrainer(norm=float("nan"))
    guard = DivergenceGuard(lambda: newest_valid(tmp_path, 1))
    guard.attach(trainer)
    with pytest.raises(DivergedError) as info:
        one_step(guard, trainer, torch.ones(3))
    assert f"the last good checkpoint is {tmp_path / 'checkpoint-2'} (" in str(info.value)
