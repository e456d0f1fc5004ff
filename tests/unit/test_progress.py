"""Training progress: the bar only on a terminal; plain lines with throughput and ETA elsewhere."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from llmkit.cli import progress


def test_the_bar_is_for_terminals_and_plain_lines_for_files(monkeypatch):
    monkeypatch.setattr(progress, "err", Console(file=io.StringIO(), force_terminal=True))
    assert isinstance(progress.progress_callback(), progress.RichProgress)
    monkeypatch.setattr(progress, "err", Console(file=io.StringIO()))
    assert isinstance(progress.progress_callback(), progress.LineProgress)


def test_a_step_line_counts_throughput_and_eta_from_where_this_session_started(monkeypatch):
    printed = io.StringIO()
    monkeypatch.setattr(progress, "err", Console(file=printed, width=300))
    clock = iter([100.0, 110.0])  # train begin, then the log 10 s later
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    args = SimpleNamespace(logging_steps=10, per_device_train_batch_size=8, gradient_accumulation_steps=2, world_size=1)
    state = SimpleNamespace(is_world_process_zero=True, global_step=40, max_steps=1040, epoch=0.5)
    callback = progress.LineProgress()
    callback.on_train_begin(args, state, None)  # resumed at step 40
    state.global_step, state.epoch = 60, 0.75
    callback.on_log(args, state, None, logs={"loss": 0.25, "learning_rate": 3e-5})
    lines = printed.getvalue().splitlines()
    assert lines[0] == "train: 1040 steps, logging every 10"
    # 20 steps in 10 s: 2 steps/s, 32 samples/s; 980 steps left: 490 s.
    assert lines[1] == "step 60/1040  epoch 0.75  loss 0.2500  lr 3.00e-05  2.00 steps/s (32.0 samples/s)  eta 0:08:10"


def test_evaluation_logs_become_one_line_without_timings():
    state = SimpleNamespace(global_step=20, epoch=1.0)
    logs = {"eval_loss": 0.5, "eval_accuracy": 0.75, "eval_runtime": 1.2, "eval_samples_per_second": 99.0}
    assert progress.eval_line(logs, state) == "eval step 20 (epoch 1.00): loss 0.5000  accuracy 0.7500"
    assert progress.eval_line({"loss": 0.5}, state) is None
