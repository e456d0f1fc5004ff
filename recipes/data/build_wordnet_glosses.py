"""Build the pretraining corpus shipped in recipes/data/wordnet-glosses/ (used by clm.yaml and mlm.yaml).

Each line is one WordNet 3.0 synset written as a dictionary entry: its first lemma, a colon and its
gloss (definition plus quoted usage examples), e.g. ``kill: the destruction of an enemy plane or
ship or tank or missile; "the pilot reported two kills during the mission"``. Reads Debian's
`wordnet-base` package:

    apt-get install wordnet-base
    python recipes/data/build_wordnet_glosses.py

The output is deterministic (fixed seed), so re-running it reproduces the shipped files.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
OUT = Path(__file__).resolve().parent / "wordnet-glosses"
SPLITS = {"train": 24_000, "validation": 1_000}  # lines
SEED = 1234


def entries() -> list[str]:
    """Every synset as ``lemma: gloss``, sorted (the shuffle below is what picks the subset)."""
    found = set()
    for pos in ("noun", "verb", "adj", "adv"):
        for line in (WORDNET / f"data.{pos}").read_text(encoding="utf-8").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue  # license header
            fields, gloss = line.split("|", 1)
            lemma = fields.split()[4]
            lemma = re.sub(r"\(.*\)$", "", lemma).replace("_", " ")  # adjective markers like (a), (p)
            gloss = re.sub(r"\s+", " ", gloss).strip()
            if gloss:
                found.add(f"{lemma}: {gloss}")
    return sorted(found)


def main() -> None:
    lines = entries()
    random.Random(SEED).shuffle(lines)
    OUT.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, count in SPLITS.items():
        (OUT / f"{split}.txt").write_text("\n".join(lines[start : start + count]) + "\n", encoding="utf-8")
        start += count
        print(split, count, "lines")


if __name__ == "__main__":
    main()
