"""Fault-table rows: corrupt, tampered and unreadable checkpoints and weights (exit 4, or 5 after a fallback).

The resume rows share one tiny-bert run with checkpoint-2 and checkpoint-4, trained once per session
through the CLI itself and copied into each case; each row then damages its copy.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from pathlib import Path

from fault_table import FIXTURES, Case, Env

RECIPE = FIXTURES / "textcls-tiny.yaml"
STEPS = ["training.max_steps=4", "training.save_strategy=steps", "training.save_steps=2"]
PAYLOAD = "pwned-by-pickle"  # the file a malicious pickle creates when it is (wrongly) loaded unsafely


class Payload:
    """A pickle that runs a shell command when loaded with a plain ``torch.load``."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.target}",))


@functools.cache
def _checkpointed_run() -> Path:
    from typer.testing import CliRunner

    from llmkit.cli import app

    run_dir = Path(tempfile.mkdtemp(prefix="llmkit-fault-ckpt-")) / "run"
    result = CliRunner().invoke(app, ["finetune", str(RECIPE), *STEPS, "--output-dir", str(run_dir)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (run_dir / "checkpoint-2").is_dir() and (run_dir / "checkpoint-4").is_dir()
    return run_dir


def _run_copy(env: Env) -> Path:
    target = env.tmp / "run"
    shutil.copytree(_checkpointed_run(), target)
    return target


def _resume(*extra: str) -> list:
    return ["finetune", RECIPE, *STEPS, *extra, "--resume", "-o", "run"]


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _reseal(checkpoint: Path) -> None:
    """Rewrite the completion marker to match the files as they are: a checkpoint written that way."""
    from llmkit.train.checkpoints import MARKER, file_sizes, fingerprint_file

    marker = json.loads((checkpoint / MARKER).read_text(encoding="utf-8"))
    marker["files"] = file_sizes(checkpoint)
    marker["sha256"] = {name: fingerprint_file(checkpoint / name) for name in marker["files"]}
    (checkpoint / MARKER).write_text(json.dumps(marker), encoding="utf-8")


def _malicious(path: Path, env: Env) -> None:
    import torch

    torch.save({"state": Payload(env.tmp / PAYLOAD)}, path)


def _payload_never_ran(env: Env) -> None:
    assert not (env.tmp / PAYLOAD).exists(), "a pickle ran code while being loaded"


def all_corrupt(env: Env) -> list:
    run = _run_copy(env)
    _flip_middle_byte(run / "checkpoint-4" / "model.safetensors")  # same size: only the hash can tell
    _flip_middle_byte(run / "checkpoint-2" / "optimizer.pt")
    return _resume()


def malicious_optimizer(env: Env) -> list:
    run = _run_copy(env)
    _malicious(run / "checkpoint-4" / "optimizer.pt", env)
    _reseal(run / "checkpoint-4")  # hashes match: only the safe load stands between the pickle and a shell
    return _resume()


def garbage_rng_under_old_marker(env: Env) -> list:
    run = _run_copy(env)
    shutil.rmtree(run / "checkpoint-2")  # only checkpoint-4 left
    marker_file = run / "checkpoint-4" / "llmkit-checkpoint.json"
    marker = json.loads(marker_file.read_text(encoding="utf-8"))
    del marker["sha256"]  # a marker from before content hashes: sizes only
    marker_file.write_text(json.dumps(marker), encoding="utf-8")
    rng = run / "checkpoint-4" / "rng_state.pth"
    rng.write_bytes(b"\0" * rng.stat().st_size)  # same size, so the size check passes
    return _resume()


def diverges_after_falling_back(env: Env) -> list:
    run = _run_copy(env)
    _flip_middle_byte(run / "checkpoint-4" / "model.safetensors")
    env.environ.update(LLMKIT_TEST_FAULTS="1", LLMKIT_FAULTS="nan@3")
    return _resume()


def _model_dir(env: Env) -> Path:
    """A plain save_pretrained folder (config, tokenizer, weights) copied from the session's tiny run."""
    model = env.tmp / "model"
    model.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors"):
        shutil.copyfile(env.runs["textcls"] / name, model / name)
    return model


def malicious_pickle_model(env: Env) -> list:
    model = _model_dir(env)
    (model / "model.safetensors").unlink()
    _malicious(model / "pytorch_model.bin", env)
    recipe = env.recipe(**{"name_or_path: tiny-bert": "name_or_path: model\n  allow_pickle_weights: true"})
    return ["finetune", recipe, "-o", "out"]


def truncated_safetensors_model(env: Env) -> list:
    model = _model_dir(env)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # an interrupted download
    return ["finetune", env.recipe(**{"name_or_path: tiny-bert": "name_or_path: model"}), "-o", "out"]


def garbage_pickle_model(env: Env) -> list:
    model = _model_dir(env)
    (model / "model.safetensors").unlink()
    (model / "pytorch_model.bin").write_text("<html><body>Rate limit exceeded</body></html>\n")  # a bad download
    recipe = env.recipe(**{"name_or_path: tiny-bert": "name_or_path: model\n  allow_pickle_weights: true"})
    return ["finetune", recipe, "-o", "out"]


def malicious_rng_state(env: Env) -> list:
    run = _run_copy(env)
    _malicious(run / "checkpoint-4" / "rng_state.pth", env)  # loaded under Trainer's numpy allowlist
    _reseal(run / "checkpoint-4")
    return _resume()


CASES = [
    Case(
        "checkpoint-resume-every-checkpoint-corrupt",
        all_corrupt,
        4,
        [
            "no usable checkpoint",
            "checkpoint-4: file model.safetensors is corrupt: same size but different content",
            "checkpoint-2: file optimizer.pt is corrupt",
        ],
    ),
    Case(
        "checkpoint-resume-malicious-optimizer",
        malicious_optimizer,
        4,
        ["checkpoint-4/optimizer.pt: it asks for posix.system, which a safe load refuses", "older checkpoint"],
        check=_payload_never_ran,
    ),
    Case(
        "checkpoint-resume-garbage-rng-old-marker",
        garbage_rng_under_old_marker,
        4,
        ["checkpoint-4/rng_state.pth: it is not a PyTorch file", "only checkpoint"],
    ),
    Case(
        "checkpoint-diverge-after-fallback-names-valid",
        diverges_after_falling_back,
        5,
        ["not resuming from checkpoint-4", "training diverged at step 3", "checkpoint-2 (try a lower"],
        may_write=["run/**"],
    ),
    Case(
        "checkpoint-model-malicious-pickle-weights",
        malicious_pickle_model,
        4,
        ["model/pytorch_model.bin: it asks for posix.system", "nothing in it was run"],
        check=_payload_never_ran,
    ),
    Case(
        "checkpoint-model-truncated-safetensors",
        truncated_safetensors_model,
        4,
        ["model/model.safetensors: it is not a readable safetensors file", "not fully covered"],
    ),
    Case(
        "checkpoint-model-garbage-pickle-weights",
        garbage_pickle_model,
        4,
        ["model/pytorch_model.bin: it is not a PyTorch file", "starts with b'<htm'"],
    ),
    Case(
        "checkpoint-resume-malicious-rng-state",
        malicious_rng_state,
        4,
        ["checkpoint-4/rng_state.pth: it asks for posix.system"],
        check=_payload_never_ran,
    ),
]
