"""report.html copes with the numbers a diverging run writes: inf, nan, values past float32."""

from __future__ import annotations

import json
import math
import re

from llmkit.train.report import build_report, curves, finite_points


def test_finite_points_leave_out_what_a_plot_cannot_draw():
    points = [(1, 2.0), (2, math.inf), (3, math.nan), (4, 1e300), (5, 3.0)]
    assert finite_points(points) == ([(1, 2.0), (5, 3.0)], 3)


def test_report_of_a_run_with_infinite_perplexity(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"task": "clm", "model": "gpt2", "status": "finished"}))
    metrics = {
        "task": "clm",
        "validation": {"perplexity": math.inf, "loss": 1.7e9, "tokens": 2418.0},
        "samples": {"validation": [{"id": 0, "nll": 5.7e10, "prediction": math.inf}]},
        "data": {"rows": {"train": 3}, "dropped": {"train": 1}},
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))  # writes Infinity, as json.dumps does
    log = [
        {"kind": "train", "step": 1, "loss": 9.5},
        {"kind": "train", "step": 2, "loss": 1.5e9},
        {"kind": "eval", "step": 2, "eval_loss": 1.7e9, "eval_perplexity": "inf"},  # as runlog writes it
        {"kind": "eval", "step": 3, "eval_loss": 1.8e9, "eval_perplexity": math.inf},
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in log))
    assert curves(log)["eval_perplexity"] == [(3, math.inf)]
    page = build_report(tmp_path).read_text(encoding="utf-8")
    assert "<td class=num>inf</td>" in page
    assert "dropped" in page
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", page)
    assert any(c.startswith("train_loss, eval_loss") for c in captions)  # the losses on one chart
    assert not any("eval_perplexity" in c for c in captions)  # nothing finite to draw
