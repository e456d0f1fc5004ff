"""What a training run prints when its output is a file, and `llmkit runs` at 80 columns."""

from __future__ import annotations

import re
import shutil

from typer.testing import CliRunner

from llmkit.cli import app

STEP_LINE = re.compile(
    r"^step (\d+)/10  epoch \d+\.\d\d  loss \d+\.\d{4}  lr \d\.\d\de[-+]\d\d  "
    r"\d+\.\d\d steps/s \(\d+\.\d samples/s\)  eta \d+:\d\d:\d\d$"
)


def test_a_run_that_is_not_on_a_terminal_logs_one_plain_line_per_logging_step(textcls_result):
    # CliRunner's stderr is not a TTY, like nohup, SLURM or CI: no progress bar, plain lines as training goes.
    _, result = textcls_result
    lines = result.stderr.splitlines()
    steps = [int(match.group(1)) for match in map(STEP_LINE.match, lines) if match]
    assert steps == [2, 4, 6, 8, 10], result.stderr  # logging_steps: 2 of 10 steps
    assert "train: 10 steps, logging every 2" in lines
    evals = [line for line in lines if line.startswith("eval step ")]
    assert len(evals) == 2 and all("accuracy " in line for line in evals)
    assert not any(char in result.stderr for char in "━╸")  # no bar drawn at the end either


def test_the_run_summary_says_where_tensorboard_events_are_and_how_to_view_them(textcls_result):
    run_dir, result = textcls_result
    assert f"tensorboard --logdir {run_dir / 'runs'}" in result.stdout
    assert list((run_dir / "runs").glob("*/events.out.tfevents.*"))


def test_runs_fits_80_columns_and_keeps_whole_run_names(textcls_run, tmp_path):
    long_name = "textcls-minilm-l6-lr3e-5-warmup0.1-seed42"
    shutil.copytree(textcls_run, tmp_path / "experiments" / long_name)
    shutil.copytree(textcls_run, tmp_path / "qa")

    def listed(columns: int) -> list[str]:
        result = CliRunner().invoke(app, ["runs", str(tmp_path)], env={"COLUMNS": str(columns)})
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()

    narrow = listed(80)
    assert all(len(line) <= 80 for line in narrow), narrow
    assert len(narrow) == 4  # title, header, one line per run: nothing wrapped
    row = next(line for line in narrow if long_name in line)
    assert row.startswith(f"experiments/{long_name} ") and "accuracy 0." in row and row.endswith("finished")
    assert "…" not in "".join(narrow)  # dropped columns rather than cut values
    wide = listed(200)
    assert wide[1].split() == ["run", "task", "model", "metric", "status", "date"]
    assert re.search(r"tiny-bert\s+accuracy 0\.\d{4} \(test\)\s+finished\s+\d{4}-\d\d-\d\d \d\d:\d\d$", wide[2])
