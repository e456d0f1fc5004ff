"""The run directory keeps what the user put there, and every end of a run leaves a final status."""

from __future__ import annotations

import json
import os

from llmkit.train.lock import LOCK_FILE, RunLock

QUICK = [
    "training.max_steps=4",
    "training.save_strategy=steps",
    "training.save_steps=2",
    "training.eval_strategy=no",
    "training.logging_steps=1",
]


def _recipe(fixtures):
    return fixtures / "textcls-tiny.yaml"


def test_overwrite_removes_exactly_the_manifest(cli, fixtures, tmp_path):
    run = tmp_path / "run"
    assert cli("finetune", _recipe(fixtures), "-o", run, *QUICK).exit_code == 0
    manifest = set(json.loads((run / "run.json").read_text())["files"])
    assert {"run.json", "recipe.yaml", "metrics.json", "model.safetensors", "checkpoint-4"} <= manifest
    assert LOCK_FILE not in manifest and not (run / LOCK_FILE).exists()  # released and removed at the end
    # Names that look like llmkit's own but were made by the user:
    (run / "checkpoint-5-keep").mkdir()
    (run / "checkpoint-5-keep" / "weights.bin").write_bytes(b"mine")
    (run / ".llmkit-notes").write_text("mine")
    (run / "notes.txt").write_text("mine")
    result = cli("finetune", _recipe(fixtures), "-o", run, *QUICK, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert (run / "checkpoint-5-keep" / "weights.bin").read_bytes() == b"mine"
    assert (run / ".llmkit-notes").read_text() == "mine"
    assert (run / "notes.txt").read_text() == "mine"
    files = set(json.loads((run / "run.json").read_text())["files"])
    assert not {"checkpoint-5-keep", ".llmkit-notes", "notes.txt"} & files
    # A second --overwrite still leaves them alone (they never joined the manifest).
    assert cli("finetune", _recipe(fixtures), "-o", run, *QUICK, "--overwrite").exit_code == 0
    assert (run / "checkpoint-5-keep" / "weights.bin").is_file()


def test_a_died_run_is_listed_as_died_and_resumes(cli, fixtures, tmp_path, monkeypatch):
    run = tmp_path / "run"
    monkeypatch.setenv("LLMKIT_TEST_FAULTS", "1")
    monkeypatch.setenv("LLMKIT_FAULTS", "raise@3")
    assert cli("finetune", _recipe(fixtures), "-o", run, *QUICK).exit_code == 1
    monkeypatch.delenv("LLMKIT_FAULTS")
    # As after kill -9: the record still says running and the lock file is left behind, held by nobody.
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and "injected failure" in record["error"]
    record["status"] = "running"
    (run / "run.json").write_text(json.dumps(record))
    (run / LOCK_FILE).write_text(json.dumps({"pid": 999999, "host": "elsewhere", "started": "then"}))
    listed = cli("runs", tmp_path, "--json")
    assert json.loads(listed.stdout)["status"] == "died"
    refused = cli("finetune", _recipe(fixtures), "-o", run, *QUICK)
    assert refused.exit_code == 2 and "died" in refused.stderr and "pid 999999" in refused.stderr
    resumed = cli("finetune", _recipe(fixtures), "-o", run, *QUICK, "--resume")
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert json.loads(cli("runs", tmp_path, "--json").stdout)["status"] == "finished"


def test_an_exception_from_an_integration_leaves_status_failed(cli, fixtures, tmp_path, monkeypatch):
    from llmkit.train.runlog import MetricsLog

    def broken_backend(self, *args, **kwargs):
        raise ConnectionError("logging backend unreachable")

    monkeypatch.setattr(MetricsLog, "on_log", broken_backend)
    run = tmp_path / "run"
    result = cli("finetune", _recipe(fixtures), "-o", run, *QUICK)
    assert result.exit_code == 1
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and "unreachable" in record["error"]
    assert not (run / LOCK_FILE).exists()


def test_a_run_that_failed_before_saving_anything_reruns_plainly(cli, fixtures, tmp_path, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "recipe.yaml")

    run = tmp_path / "run"
    monkeypatch.setattr("llmkit.train.run.write_atomic", full)
    assert cli("finetune", _recipe(fixtures), "-o", run, *QUICK).exit_code == 6
    monkeypatch.undo()
    (run / "mine.txt").write_text("mine")
    result = cli("finetune", _recipe(fixtures), "-o", run, *QUICK)
    assert result.exit_code == 0, result.stderr
    assert (run / "mine.txt").read_text() == "mine"


def test_the_lock_names_its_holder_and_is_released(tmp_path):
    first = RunLock(tmp_path / "run").acquire()
    holder = json.loads((tmp_path / "run" / LOCK_FILE).read_text())
    assert holder["pid"] == os.getpid()
    try:
        RunLock(tmp_path / "run").acquire()
    except Exception as exc:
        assert f"pid {os.getpid()}" in str(exc) and getattr(exc, "exit_code", None) == 2
    else:
        raise AssertionError("a second lock was granted")
    first.release()
    again = RunLock(tmp_path / "run").acquire()
    assert again.stale is None
    again.release()
