"""Build the text-classification data set shipped in recipes/data/wordnet-topics/.

Each row is a real WordNet 3.0 noun definition (gloss) and the topic of its synset, taken from
WordNet's lexicographer files (noun.animal, noun.food, ...). Reads Debian's `wordnet-base` package:

    apt-get install wordnet-base
    python recipes/data/build_wordnet_topics.py

The output is deterministic (fixed seed), so re-running it reproduces the shipped files.
"""

from __future__ import annotations

import csv
import random
import re
from pathlib import Path

WORDNET = Path("/usr/share/wordnet/data.noun")
OUT = Path(__file__).resolve().parent / "wordnet-topics"
# lexicographer file number -> label (see WordNet's lexnames(5WN))
TOPICS = {5: "animal", 6: "artifact", 13: "food", 18: "person", 20: "plant"}
SPLITS = {"train": 300, "validation": 60, "test": 60}  # rows per topic
SEED = 1234


def gloss_definition(gloss: str) -> str:
    """The definition part of a gloss, without its quoted usage examples."""
    definition = gloss.split('; "')[0].split(';"')[0].strip().rstrip(";").strip()
    return re.sub(r"\s+", " ", definition)


def read_definitions() -> dict[str, list[str]]:
    by_topic: dict[str, set[str]] = {label: set() for label in TOPICS.values()}
    for line in WORDNET.read_text(encoding="utf-8").splitlines():
        if line.startswith("  ") or "|" not in line:
            continue  # license header
        fields, gloss = line.split("|", 1)
        lex_file = int(fields.split()[1])
        if lex_file not in TOPICS:
            continue
        text = gloss_definition(gloss)
        if 4 <= len(text.split()) <= 30 and not text.startswith("("):
            by_topic[TOPICS[lex_file]].add(text)
    return {label: sorted(texts) for label, texts in by_topic.items()}


def main() -> None:
    rng = random.Random(SEED)
    definitions = read_definitions()
    rows: dict[str, list[tuple[str, str]]] = {split: [] for split in SPLITS}
    for label, texts in definitions.items():
        rng.shuffle(texts)
        start = 0
        for split, count in SPLITS.items():
            rows[split] += [(text, label) for text in texts[start : start + count]]
            start += count
    OUT.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        rng.shuffle(items)
        with (OUT / f"{split}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(items)
        print(f"{split}: {len(items)} rows")


if __name__ == "__main__":
    main()
