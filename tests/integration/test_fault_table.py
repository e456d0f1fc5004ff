"""Every bad input and fault, across tasks and commands: its exit code, one clear message, nothing lost.

Rows live in the ``fault_cases_*.py`` modules beside this file (see ``fault_table.py`` for the harness).
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
from fault_table import EXIT_KINDS, FIXTURES, Case, Env, allowed, snapshot

HERE = Path(__file__).resolve().parent


def _collect() -> list[Case]:
    cases: list[Case] = []
    for module_path in sorted(HERE.glob("fault_cases_*.py")):
        cases += importlib.import_module(module_path.stem).CASES
    ids = [case.id for case in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return cases


CASES = _collect()


@pytest.fixture(scope="session")
def clm_run(cli, tmp_path_factory) -> Path:
    """One pretrained tiny GPT-2 run, shared by the generate cases."""
    run_dir = tmp_path_factory.mktemp("runs") / "clm"
    result = cli("pretrain", FIXTURES / "clm-tiny.yaml", "training.num_train_epochs=1", "--output-dir", run_dir)
    assert result.exit_code == 0, result.stdout + result.stderr
    return run_dir


def test_table_is_large_enough():
    assert len(CASES) >= 60, len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fault(case: Case, cli, request, tmp_path, monkeypatch):
    env = Env(tmp=tmp_path / "case", runs=_LazyRuns(request))
    env.tmp.mkdir()
    monkeypatch.chdir(env.tmp)
    request.addfinalizer(lambda: [cleanup() for cleanup in reversed(env.cleanups)])
    argv = case.setup(env)
    for key, value in env.environ.items():
        monkeypatch.setenv(key, value)
    for target, value in env.patches:
        monkeypatch.setattr(target, value)
    before = snapshot(env.tmp)
    fixtures_before = snapshot(FIXTURES)
    result = cli(*argv)
    output = result.stdout + result.stderr
    assert result.exit_code == case.code, output
    assert "Traceback" not in output, output
    assert "internal error" not in output, output
    kinds = EXIT_KINDS.get(case.code, ())
    assert any(line.startswith(f"{kind}:") for line in result.stderr.splitlines() for kind in kinds), output
    for fragment in case.fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    after = snapshot(env.tmp)
    for relative, digest in before.items():
        if allowed(relative, case.may_write):
            continue
        assert after.get(relative) == digest, f"{relative} was changed or removed"
    for relative in set(after) - set(before):
        assert allowed(relative, case.may_write), f"{relative} was created"
        assert os.path.getsize(env.tmp / relative) > 0 or relative.endswith(".lock"), f"{relative} is empty"
    assert snapshot(FIXTURES) == fixtures_before, "a fixture file was changed"
    if case.check is not None:
        case.check(env)


class _LazyRuns(dict):
    """Session runs built only when a case asks for one."""

    def __init__(self, request):
        super().__init__()
        self.request = request

    def __missing__(self, task: str) -> Path:
        self[task] = self.request.getfixturevalue(f"{task}_run")
        return self[task]
