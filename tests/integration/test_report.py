"""report.html of a real run: one self-contained file with grouped charts, a confusion matrix and mistakes."""

from __future__ import annotations

import base64
import json
import re
import shutil


def _images(page: str) -> list[str]:
    return re.findall(r"<img src='([^']+)'", page)


def test_report_is_one_self_contained_file_without_network_references(textcls_run, tmp_path):
    page = (textcls_run / "report.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page
    sources = re.findall(r"""(?:src|href)=['"]?([^'" >]+)""", page)
    assert sources and all(source.startswith("data:image/") for source in sources)
    alone = tmp_path / "mailed" / "report.html"  # copied alone: nothing it needs is left behind
    alone.parent.mkdir()
    shutil.copy(textcls_run / "report.html", alone)
    assert _images(alone.read_text()) == _images(page)


def test_related_curves_share_a_chart_with_labels_and_integer_step_ticks(textcls_run):
    page = (textcls_run / "report.html").read_text()
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", page)
    assert any(c.startswith("train_loss, eval_loss against") for c in captions), captions
    losses = _images(page)[next(i for i, c in enumerate(captions) if c.startswith("train_loss"))]
    svg = base64.b64decode(losses.split(",", 1)[1]).decode()
    assert "optimizer step" in svg and ">loss<" in svg  # axis labels, as text
    ticks = re.findall(r'<g id="xtick_\d+">.*?<text[^>]*>([^<]*)</text>', svg, re.S)
    assert ticks and all(re.fullmatch(r"[−-]?\d+", t.strip()) for t in ticks), ticks
    log = [json.loads(line) for line in (textcls_run / "metrics.jsonl").read_text().splitlines()]
    accuracies = {row["eval_accuracy"] for row in log if "eval_accuracy" in row}
    if len(accuracies) == 1:  # a flat line says nothing: it is named instead of drawn
        assert "Constant over the run" in page and not any("eval_accuracy" in c for c in captions)
    else:
        assert any("eval_accuracy, eval_f1, eval_precision, eval_recall" in c for c in captions)


def test_confusion_matrix_per_class_table_and_mistakes(textcls_run):
    page = (textcls_run / "report.html").read_text()
    metrics = json.loads((textcls_run / "metrics.json").read_text())
    matrix = metrics["confusion"]["validation"]
    rows = metrics["data"]["rows"]["validation"]
    assert sum(map(sum, matrix["matrix"])) == rows
    correct = sum(matrix["matrix"][i][i] for i in range(len(matrix["labels"])))
    assert correct == round(metrics["validation"]["accuracy"] * rows)
    assert "<table class=confusion>" in page and "Per class" in page
    wrong = metrics["mistakes"]["validation"]
    assert len(wrong) == min(10, rows - correct)
    assert all(row["prediction"] != row["reference"] for row in wrong)
    assert f"Mistakes (first {len(wrong)} wrong predictions)" in page and "First rows" in page
    assert "class='bad'" in page  # the wrong predictions stand out
    assert '{"device"' not in page and "<h3>Environment</h3>" in page  # tables, not raw JSON
    assert re.search(r"<th>peak rss</th><td class='num'>[\d,.]+ (MiB|GiB)</td>", page)
    assert re.search(r"<th>wall time</th><td class='num'>[\d.]+ s</td>", page)
