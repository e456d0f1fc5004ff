"""A huge but finite loss finishes the run: perplexity is reported as inf, metrics.json and report.html exist."""

from __future__ import annotations

import json
import math


def test_a_huge_finite_loss_reports_inf_perplexity_and_writes_the_run(cli, fixtures, tmp_path):
    run = tmp_path / "run"
    result = cli(
        "pretrain",
        fixtures / "clm-tiny.yaml",
        "training.learning_rate=1e4",
        "training.max_grad_norm=0",
        "training.max_steps=4",
        "--output-dir",
        run,
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    validation = metrics["validation"]
    assert math.isfinite(validation["loss"]) and validation["loss"] > 709  # exp() of it overflows a float
    assert validation["perplexity"] == math.inf
    assert metrics["samples"]["validation"][0]["prediction"] == math.inf
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "perplexity" in page and ">inf<" in page
