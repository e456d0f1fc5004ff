"""Trainer callbacks that stop a run safely: on SIGINT/SIGTERM, and on a non-finite loss or gradient.

Imported by the train layer only (it needs transformers). Both are plain callbacks; the divergence guard
also puts a forward hook on the model (for the loss) and wraps the trainer's gradient-norm method
(to reuse the norm), so neither needs a Trainer subclass.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

import torch
from transformers import TrainerCallback

from llmkit.errors import DivergedError
from llmkit.train import faults, trainer_api

log = logging.getLogger(__name__)

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class StopOnSignal(TrainerCallback):
    """First SIGINT/SIGTERM: finish the step, save a checkpoint, stop. Second: abort at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.stopped_at: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """Take over SIGINT/SIGTERM (main thread only)."""
        for sig in EXIT_CODES:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Give the signals back to whoever had them."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            self.restore()
            raise KeyboardInterrupt  # second signal: abort without committing a partial checkpoint
        self.signum = signum
        log.warning(
            "%s received: finishing this step and saving a checkpoint (send it again to abort without saving)",
            signal.Signals(signum).name,
        )

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM."""
        return EXIT_CODES.get(self.signum or signal.SIGINT, 130)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        faults.at_step_end(state.global_step)
        requested = self.signum is not None
        if args.world_size > 1:
            requested = _any_rank(requested)
            if requested and self.signum is None:
                self.signum = signal.SIGTERM  # another rank was told to stop
        if requested:
            self.stopped_at = state.global_step
            control.should_save = True
            control.should_training_stop = True
            control.should_evaluate = False
        return control

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.stopped_at is not None:  # already saved at the step; no epoch-end evaluation or second save
            control.should_save = False
            control.should_evaluate = False
        return control


def _any_rank(flag: bool) -> bool:
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


class DivergenceGuard(TrainerCallback):
    """Stops before the optimizer step when the loss or the gradient norm is not finite (exit 5).

    The loss is read by a forward hook on the model (training mode only) and checked together with
    the gradient norm in ``on_pre_optimizer_step``: one host sync per optimizer step, which replaces
    the one Trainer's ``logging_nan_inf_filter`` would do (llmkit turns that filter off so that logs
    show NaN rather than hiding it). The norm is the one Trainer has just computed for clipping (it
    computes one every step, clipping or not), shared by ``trainer_api.share_grad_norm``: a second pass
    over every gradient cost 9 ms of each 0.35 s MiniLM step on 2 CPU cores. Where that method is
    missing (another transformers version) the guard computes the norm itself.
    """

    def __init__(self, last_checkpoint: Any) -> None:
        # callable -> the newest checkpoint that passes validation (checkpoints.newest_valid), or None
        self.last_checkpoint = last_checkpoint
        self.step = 0
        self.loss: torch.Tensor | None = None
        self.grad_norm: Any = None  # Trainer's norm for the coming optimizer step, when it shares it
        self.handle: Any = None
        self._trainer: Any = None

    def attach(self, trainer: Any) -> None:
        """Watch the trainer's training losses and the gradient norms it computes."""
        self.handle = trainer.model.register_forward_hook(self._hook)
        if trainer_api.share_grad_norm(trainer, self._take_norm):
            self._trainer = trainer

    def _take_norm(self, norm: Any) -> None:
        self.grad_norm = norm

    def detach(self) -> None:
        """Stop watching."""
        if self.handle is not None:
            self.handle.remove()
            self.handle = None
        if self._trainer is not None:
            trainer_api.unshare_grad_norm(self._trainer)
            self._trainer = None

    def _hook(self, module: Any, inputs: Any, output: Any) -> Any:
        if not module.training:
            return None
        loss = output.get("loss") if isinstance(output, dict) else getattr(output, "loss", None)
        if not isinstance(loss, torch.Tensor):
            return None
        if faults.poison_loss(self.step):
            loss = loss * float("nan")
            output["loss"] = loss
        detached = loss.detach().float().sum()
        self.loss = detached if self.loss is None else self.loss + detached
        return output

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.step = state.global_step + 1
        return control

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> Any:
        checks = []
        if self.grad_norm is not None:
            checks.append(torch.as_tensor(self.grad_norm, dtype=torch.float32).reshape(1))
        elif model is not None:
            grads = [p.grad for p in model.parameters() if p.grad is not None]
            if grads:
                checks.append(torch.nn.utils.get_total_norm(grads).float().reshape(1))
        self.grad_norm = None
        has_norm = bool(checks)
        if self.loss is not None:
            checks.append(self.loss.float().reshape(1).to(checks[0].device if checks else self.loss.device))
        self.loss = None
        if checks and not bool(torch.isfinite(torch.cat(checks)).all()):
            what = "loss" if has_norm and torch.isfinite(checks[0]).all() else "loss or gradient norm"
            last = self.last_checkpoint()
            where = f"the last good checkpoint is {last}" if last else "there is no valid checkpoint yet"
            raise DivergedError(
                f"training diverged at step {self.step}: non-finite {what}; nothing was saved from this step, "
                f"{where} (try a lower training.learning_rate, training.max_grad_norm, or bf16 instead of fp16)"
            )
        return control
