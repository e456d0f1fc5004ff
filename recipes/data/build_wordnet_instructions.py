"""Build the instruction and preference data shipped in recipes/data/wordnet-instructions/ (sft.yaml, dpo.yaml).

Every example is made of real WordNet 3.0 text, taken from the shipped pretraining corpus
(recipes/data/wordnet-glosses/, built by build_wordnet_glosses.py from Debian's `wordnet-base`): each line
there is ``lemma: definition; "usage example"; ...``.

- ``train.jsonl`` / ``validation.jsonl`` / ``test.jsonl`` (sft): conversations. The user asks what a word means
  (three phrasings); the assistant answers with its WordNet definition. When the entry has a usage example,
  half of the conversations go on: "Use it in a sentence." and the assistant quotes the example.
  train and validation come from wordnet-glosses/train.txt (entries the ``clm`` recipe's model was pretrained
  on; disjoint words), test from wordnet-glosses/validation.txt (entries it never saw).
- ``preferences-train.jsonl`` / ``preferences-validation.jsonl`` (dpo): the same question as a one-turn
  conversation; ``chosen`` is the word's definition, ``rejected`` the definition of another, random word.
  Train pairs use the sft train words, validation pairs the sft validation words.

    python recipes/data/build_wordnet_instructions.py

The output is deterministic (fixed seed), so re-running it reproduces the shipped files.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
GLOSSES = HERE / "wordnet-glosses"
OUT = HERE / "wordnet-instructions"
SEED = 2024
SIZES = {"train": 4000, "validation": 200, "test": 200}
PREFERENCES = {"train": 2000, "validation": 200}
QUESTIONS = ("What does {word} mean?", "Define {word}.", "What is the meaning of {word}?")
MAX_WORDS = 24  # definitions longer than this are left out: short examples keep the shipped runs quick


def entries(path: Path) -> list[tuple[str, str, list[str]]]:
    """(word, definition, usage examples) of every corpus line with a definition of 2 to MAX_WORDS words."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, gloss = line.partition(": ")
        definition = gloss.split('; "')[0].strip().rstrip(";")
        examples = re.findall(r'"([^"]+)"', gloss[len(definition) :])
        if word and 2 <= len(definition.split()) <= MAX_WORDS:
            found.append((word, definition, [e for e in examples if word.lower() in e.lower()]))
    return found


def conversation(rng: random.Random, word: str, definition: str, examples: list[str]) -> dict:
    """One sft row: a definition question, and sometimes a usage follow-up."""
    messages = [
        {"role": "user", "content": rng.choice(QUESTIONS).format(word=word)},
        {"role": "assistant", "content": definition},
    ]
    if examples and rng.random() < 0.5:
        messages += [
            {"role": "user", "content": "Use it in a sentence."},
            {"role": "assistant", "content": examples[0]},
        ]
    return {"messages": messages}


def preference(rng: random.Random, entry: tuple, others: list[tuple]) -> dict:
    """One dpo row: the right definition over another word's."""
    word, definition, _ = entry
    other = rng.choice(others)
    while other[0] == word:
        other = rng.choice(others)
    return {
        "prompt": [{"role": "user", "content": rng.choice(QUESTIONS).format(word=word)}],
        "chosen": [{"role": "assistant", "content": definition}],
        "rejected": [{"role": "assistant", "content": other[1]}],
    }


def write(name: str, rows: list[dict]) -> None:
    with (OUT / name).open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(name, len(rows), "rows")


def main() -> None:
    rng = random.Random(SEED)
    seen, unseen = entries(GLOSSES / "train.txt"), entries(GLOSSES / "validation.txt")
    seen = list({word: (word, d, e) for word, d, e in seen}.values())  # one entry per word: disjoint splits
    rng.shuffle(seen)
    rng.shuffle(unseen)
    train = seen[: SIZES["train"]]
    validation = seen[SIZES["train"] : SIZES["train"] + SIZES["validation"]]
    test = [e for e in unseen if e[0] not in {w for w, _, _ in seen}][: SIZES["test"]]
    OUT.mkdir(parents=True, exist_ok=True)
    for split, chosen in (("train", train), ("validation", validation), ("test", test)):
        write(f"{split}.jsonl", [conversation(rng, *entry) for entry in chosen])
    write("preferences-train.jsonl", [preference(rng, e, train) for e in train[: PREFERENCES["train"]]])
    write("preferences-validation.jsonl", [preference(rng, e, validation) for e in validation])


if __name__ == "__main__":
    main()
