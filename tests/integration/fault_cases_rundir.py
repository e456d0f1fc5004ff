"""Fault-table rows: the run directory (lock, manifest, policy) and faults while a run writes (disk, signals)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest
from fault_table import Case, Env

from llmkit.train.lock import LOCK_FILE, RunLock

QUICK = [
    "training.max_steps=4",
    "training.save_strategy=steps",
    "training.save_steps=2",
    "training.eval_strategy=no",
    "training.logging_steps=1",
]


def _held(env: Env, run: Path) -> None:
    env.held.append(RunLock(run).acquire())


def live_lock(extra: list[str]):
    def setup(env: Env) -> list:
        run = env.finished_run("textcls")
        _held(env, run)
        return ["finetune", env.recipe(), "-o", run, *extra]

    return setup


def _died(env: Env) -> Path:
    """A run whose process was killed: run.json says running, the lock file names a pid that is gone."""
    run = env.finished_run("textcls")
    record = json.loads((run / "run.json").read_text())
    record["status"] = "running"
    (run / "run.json").write_text(json.dumps(record))
    (run / LOCK_FILE).write_text(json.dumps({"pid": 2**22 + 17, "host": "gone", "started": "2026-01-01T00:00:00"}))
    return run


def _check_runs_says_died(env: Env) -> None:
    from typer.testing import CliRunner

    from llmkit.cli import app

    listed = CliRunner().invoke(app, ["runs", str(env.tmp), "--json"])
    assert listed.exit_code == 0, listed.stderr
    assert [json.loads(line)["status"] for line in listed.stdout.splitlines()] == ["died"]


def _tmpfs(env: Env, size: str, ballast: bool = False) -> Path:
    """A small tmpfs under the case folder (root only), optionally filled up by a user file."""
    disk = env.tmp / "disk"
    disk.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)]).returncode
    ):
        pytest.skip("needs root and tmpfs to fill a real disk")
    env.cleanups.append(lambda: subprocess.run(["umount", "-l", str(disk)], check=False))
    if ballast:  # a user's file that fills the disk to the last block
        fd = os.open(disk / "ballast.bin", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
    return disk


def disk_full_at_start(env: Env) -> list:
    disk = _tmpfs(env, "256k", ballast=True)
    return ["finetune", env.recipe(), "-o", disk / "run", *QUICK]


def _status(run: str, expected: str):
    def check(env: Env) -> None:
        record = json.loads((env.tmp / run / "run.json").read_text())
        assert record["status"] == expected, record
        assert not [p for p in (env.tmp / run).rglob("*") if p.is_file() and p.stat().st_size == 0]

    return check


def disk_full_mid_training(env: Env) -> list:
    disk = _tmpfs(env, "3m")
    return ["finetune", env.recipe(), "-o", disk / "run", *QUICK]


def _enospc(name: str):
    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)

    return fail


def _torn_save(self, output_dir=None, **kwargs):
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    (Path(output_dir) / "model.safetensors").write_bytes(b"half a model")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(Path(output_dir) / "model.safetensors"))


def patched(target: str, value, *extra: str):
    def setup(env: Env) -> list:
        env.patches.append((target, value))
        return ["finetune", env.recipe(), "-o", "run", *QUICK, *extra]

    return setup


def faulted(spec: str, task: str = "textcls", command: str = "finetune"):
    def setup(env: Env) -> list:
        env.environ.update(LLMKIT_TEST_FAULTS="1", LLMKIT_FAULTS=spec)
        return [command, env.recipe(task), "-o", "run", *QUICK]

    return setup


def _no_final_weights(env: Env) -> None:
    _status("run", "failed")(env)
    assert not (env.tmp / "run" / "model.safetensors").exists()
    assert not (env.tmp / "run" / ".llmkit-final").exists()


def _checkpoint_2_intact(env: Env) -> None:
    _status("run", "failed")(env)
    assert (env.tmp / "run" / "checkpoint-2" / "llmkit-checkpoint.json").is_file()
    assert not (env.tmp / "run" / "checkpoint-4").exists()


RUN = ["run/**"]

CASES = [
    Case("rundir-live-lock-overwrite", live_lock(["--overwrite"]), 2, ["is in use", f"pid {os.getpid()}"]),
    Case("rundir-live-lock-resume", live_lock(["--resume"]), 2, ["is in use", "running llmkit process"]),
    Case(
        "rundir-died-plain-rerun",
        lambda env: ["finetune", env.recipe(), "-o", _died(env)],
        2,
        ["process died", "--resume", "--overwrite"],
        check=_check_runs_says_died,
    ),
    Case(
        "rundir-finished-plain-rerun",
        lambda env: ["finetune", env.recipe(), "-o", env.finished_run("textcls")],
        2,
        ["already holds a finished llmkit run", "--overwrite"],
    ),
    Case(
        "rundir-overwrite-foreign-dir",
        lambda env: [env.write("mine/notes.txt", "my notes"), "finetune", env.recipe(), "-o", "mine", "--overwrite"][
            1:
        ],
        2,
        ["holds files llmkit did not write"],
    ),
    Case(
        "rundir-output-is-a-file",
        lambda env: ["finetune", env.recipe(), "-o", env.write("results.txt", "keep me")],
        2,
        ["exists and is not a directory"],
    ),
    Case(
        "rundir-resume-and-overwrite",
        lambda env: ["finetune", env.recipe(), "-o", env.finished_run("textcls"), "--resume", "--overwrite"],
        2,
        ["contradict"],
    ),
    Case("rundir-resume-nothing", lambda env: ["finetune", env.recipe(), "-o", "new", "--resume"], 2, ["no run"]),
    Case("disk-full-at-start", disk_full_at_start, 6, ["out of disk space"]),
    Case(
        "disk-full-mid-training",
        disk_full_mid_training,
        6,
        ["out of disk space"],
        may_write=["disk/run/**"],
        check=_status("disk/run", "failed"),
    ),
    Case(
        "disk-full-checkpoint-commit",
        faulted("disk_full=optimizer.pt@4"),
        6,
        ["out of disk space", "optimizer.pt"],
        may_write=RUN,
        check=_checkpoint_2_intact,
    ),
    Case(
        "disk-full-recipe-file",
        patched("llmkit.train.run.write_atomic", _enospc("recipe.yaml")),
        6,
        ["out of disk space", "recipe.yaml"],
        may_write=RUN,
        check=_status("run", "failed"),
    ),
    Case(
        "disk-full-final-save",
        patched("transformers.Trainer.save_model", _torn_save),
        6,
        ["out of disk space", "model.safetensors"],
        may_write=RUN,
        check=_no_final_weights,
    ),
    Case(
        "disk-full-metrics-json",
        patched("llmkit.train.finish.write_json", _enospc("metrics.json")),
        6,
        ["out of disk space", "metrics.json"],
        may_write=RUN,
        check=_status("run", "failed"),
    ),
    Case(
        "disk-full-report",
        patched("llmkit.train.report.build_report", _enospc("report.html")),
        6,
        ["out of disk space", "report.html"],
        may_write=RUN,
        check=_status("run", "failed"),
    ),
    Case(
        "fault-nan-loss-clm",
        faulted("nan@2", task="clm", command="pretrain"),
        5,
        ["step 2"],
        may_write=RUN,
        check=_status("run", "diverged"),
    ),
    Case(
        "fault-sigterm-textcls",
        faulted("signal=TERM@3"),
        143,
        ["--resume"],
        may_write=RUN,
        check=_status("run", "interrupted"),
    ),
]
