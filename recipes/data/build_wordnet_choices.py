"""Build the multiple-choice data set shipped in recipes/data/wordnet-choices/.

Each row is a real WordNet 3.0 definition (the definition part of a gloss, its quoted usage examples removed)
and four words of the same part of speech and topic (WordNet's lexicographer file: noun.animal, verb.motion,
adj.all...): the word it defines and three others, in a shuffled order. The task is to pick the defined word:
a reverse dictionary with distractors close enough that the topic alone does not tell them apart.

Words are common ones (sense-tagged in WordNet's SemCor counts), single, lower-case words; each definition is
the word's most frequent sense, does not contain the word itself, and no distractor shares a synset with the
answer. Reads Debian's `wordnet-base` package:

    apt-get install wordnet-base
    python recipes/data/build_wordnet_choices.py

The output is deterministic (fixed seed), so re-running it reproduces the shipped files.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
OUT = Path(__file__).resolve().parent / "wordnet-choices"
POS = ("noun", "verb", "adj", "adv")  # data.POS and index.POS files
SPLITS = {"train": 3000, "validation": 400, "test": 400}
CHOICES = 4
SEED = 1234
# lexicographer file number -> name (WordNet's lexnames(5WN))
LEXNAMES = (
    "adj.all",
    "adj.pert",
    "adv.all",
    "noun.Tops",
    "noun.act",
    "noun.animal",
    "noun.artifact",
    "noun.attribute",
    "noun.body",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.food",
    "noun.group",
    "noun.location",
    "noun.motive",
    "noun.object",
    "noun.person",
    "noun.phenomenon",
    "noun.plant",
    "noun.possession",
    "noun.process",
    "noun.quantity",
    "noun.relation",
    "noun.shape",
    "noun.state",
    "noun.substance",
    "noun.time",
    "verb.body",
    "verb.change",
    "verb.cognition",
    "verb.communication",
    "verb.competition",
    "verb.consumption",
    "verb.contact",
    "verb.creation",
    "verb.emotion",
    "verb.motion",
    "verb.perception",
    "verb.possession",
    "verb.social",
    "verb.stative",
    "verb.weather",
    "adj.ppl",
)


@dataclass(frozen=True)
class Synset:
    offset: str
    topic: str
    words: tuple[str, ...]
    definition: str


def definition_of(gloss: str) -> str:
    """The definition part of a gloss, without its quoted usage examples."""
    definition = gloss.split('; "')[0].split(';"')[0].split('"')[0].strip().rstrip(";").strip()
    return re.sub(r"\s+", " ", definition)


def read_synsets(pos: str) -> dict[str, Synset]:
    synsets = {}
    for line in (WORDNET / f"data.{pos}").read_text(encoding="utf-8").splitlines():
        if line.startswith("  ") or "|" not in line:
            continue  # license header
        fields, gloss = line.split("|", 1)
        parts = fields.split()
        offset, lex_file, count = parts[0], int(parts[1]), int(parts[3], 16)
        words = tuple(re.sub(r"\(.*?\)$", "", parts[4 + 2 * i]).lower() for i in range(count))
        synsets[offset] = Synset(offset, LEXNAMES[lex_file], words, definition_of(gloss))
    return synsets


def read_index(pos: str) -> dict[str, tuple[list[str], int]]:
    """word -> (its synset offsets, most frequent sense first; its sense-tagged count)."""
    index = {}
    for line in (WORDNET / f"index.{pos}").read_text(encoding="utf-8").splitlines():
        if line.startswith("  "):
            continue
        parts = line.split()
        word, synset_count, pointer_count = parts[0], int(parts[2]), int(parts[3])
        tagged = int(parts[5 + pointer_count])
        index[word] = (parts[-synset_count:], tagged)
    return index


def common(word: str, index: dict[str, tuple[list[str], int]]) -> bool:
    return word.isalpha() and word.islower() and word in index and index[word][1] > 0


def rows_of(pos: str) -> list[dict]:
    """One candidate row per common word whose first sense has a usable definition."""
    synsets, index = read_synsets(pos), read_index(pos)
    pool: dict[str, list[str]] = {}  # topic -> common words whose first sense is in that topic
    answers = []
    for word in sorted(index):
        if not common(word, index):
            continue
        first = synsets[index[word][0][0]]
        pool.setdefault(first.topic, []).append(word)
        words = len(first.definition.split())
        if 3 <= words <= 25 and not re.search(rf"\b{re.escape(word)}", first.definition.lower()):
            answers.append((word, first))
    candidates = []
    for word, synset in answers:
        related = {w for offset in index[word][0] for w in synsets[offset].words} | set(synset.words)
        others = [w for w in pool[synset.topic] if w not in related and w not in synset.definition.lower().split()]
        if len(others) >= CHOICES - 1:
            candidates.append({"word": word, "synset": synset, "others": others})
    return candidates


def main() -> None:
    rng = random.Random(SEED)
    candidates = [c for pos in POS for c in rows_of(pos)]
    rng.shuffle(candidates)
    OUT.mkdir(parents=True, exist_ok=True)
    start = 0
    for split, count in SPLITS.items():
        with (OUT / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for number, item in enumerate(candidates[start : start + count]):
                synset = item["synset"]
                choices = [item["word"], *rng.sample(item["others"], CHOICES - 1)]
                rng.shuffle(choices)
                row = {
                    "id": f"{split}-{number}",
                    "question": synset.definition,
                    "choices": choices,
                    "label": choices.index(item["word"]),
                    "topic": synset.topic,
                }
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{split}: {count} rows")
        start += count
    print(f"{len(candidates)} candidates, {start} used")


if __name__ == "__main__":
    main()
