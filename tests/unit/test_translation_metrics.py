"""BLEU and chrF against sacrebleu: its Python API on fixed strings, and once its command-line tool."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmkit.metrics import translation_scores, translation_signatures

HYPOTHESES = [
    "The cat sat on the mat.",
    "Das System wurde neu gestartet.",
    "a completely wrong output",
    "Ein kleiner Test, mit Satzzeichen!",
]
REFERENCES = [
    "The cat sat on a mat.",
    "Das System wird neu gestartet.",
    "the expected translation here",
    "Ein kleiner Test, mit Satzzeichen!",
]


def test_bleu_and_chrf_equal_sacrebleu_defaults():
    from sacrebleu.metrics import BLEU, CHRF

    scores = translation_scores(HYPOTHESES, REFERENCES)
    assert scores["bleu"] == pytest.approx(BLEU().corpus_score(HYPOTHESES, [REFERENCES]).score, abs=1e-9)
    assert scores["chrf"] == pytest.approx(CHRF().corpus_score(HYPOTHESES, [REFERENCES]).score, abs=1e-9)
    assert 0 < scores["bleu"] < 100 and 0 < scores["chrf"] < 100


def test_perfect_and_empty_hypotheses():
    assert translation_scores(REFERENCES, REFERENCES)["bleu"] == pytest.approx(100.0)
    assert translation_scores(["", ""], ["a b c d", "e f g h"]) == {"bleu": 0.0, "chrf": 0.0}


def test_signatures_name_the_standard_settings():
    signatures = translation_signatures(HYPOTHESES, REFERENCES)
    assert "tok:13a" in signatures["bleu"] and "smooth:exp" in signatures["bleu"] and "nrefs:1" in signatures["bleu"]
    assert "nc:6" in signatures["chrf"] and "nw:0" in signatures["chrf"]


def test_bleu_equals_the_sacrebleu_command_line(tmp_path):
    """The number llmkit prints is the one `sacrebleu REF -i HYP -b` prints (one process, the tool itself)."""
    tool = Path(sys.executable).with_name("sacrebleu")
    if not tool.exists():
        pytest.skip("sacrebleu command-line tool not installed next to this Python")
    hyp, ref = tmp_path / "hyp.txt", tmp_path / "ref.txt"
    hyp.write_text("\n".join(HYPOTHESES) + "\n", encoding="utf-8")
    ref.write_text("\n".join(REFERENCES) + "\n", encoding="utf-8")
    done = subprocess.run(
        [str(tool), str(ref), "-i", str(hyp), "-m", "bleu", "chrf", "-w", "4"],
        capture_output=True,
        text=True,
        check=True,
    )
    printed = {entry["name"]: entry for entry in json.loads(done.stdout)}
    scores = translation_scores(HYPOTHESES, REFERENCES)
    signatures = translation_signatures(HYPOTHESES, REFERENCES)
    assert round(scores["bleu"], 4) == printed["BLEU"]["score"]
    assert round(scores["chrf"], 4) == printed["chrF2"]["score"]
    assert signatures == {"bleu": printed["BLEU"]["signature"], "chrf": printed["chrF2"]["signature"]}
