"""Build the extractive QA set shipped in recipes/data/wordnet-qa/ (SQuAD v2.0 layout).

Each context is a short dictionary passage of three real WordNet 3.0 noun entries of one topic (acts, animals,
artifacts, food, people, places, states...): the word, what it is a kind of (its hypernym), its definition and
one of its usage examples, all verbatim from WordNet. Each entry gets one question whose answer is a span of the
passage; each context also gets one unanswerable question about a word of the same topic that the passage
does not mention (SQuAD v2.0 ``is_impossible``). Reads Debian's `wordnet-base` package:

    apt-get install wordnet-base
    python recipes/data/build_wordnet_qa.py

The output is deterministic (fixed seed), so re-running it reproduces the shipped files.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

WORDNET = Path("/usr/share/wordnet/data.noun")
OUT = Path(__file__).resolve().parent / "wordnet-qa"
# lexicographer file numbers (see WordNet's lexnames(5WN)) -> topic
TOPICS = {
    4: "act",
    5: "animal",
    6: "artifact",
    7: "attribute",
    9: "cognition",
    10: "communication",
    13: "food",
    14: "group",
    15: "location",
    18: "person",
    20: "plant",
    26: "state",
}
SPLITS = {"train": 240, "validation": 40, "test": 40}  # contexts per split
ENTRIES_PER_CONTEXT = 3
SEED = 1234


@dataclass(frozen=True)
class Entry:
    offset: str
    topic: str
    word: str
    hypernym: str
    definition: str
    example: str


def _lemma(raw: str) -> str:
    return re.sub(r"\(.*?\)$", "", raw).replace("_", " ")


def read_entries() -> tuple[list[Entry], dict[str, list[str]]]:
    """Noun synsets with a short definition, a usage example and a hypernym; all words per topic."""
    synsets: dict[str, tuple[int, list[str], str | None, str]] = {}
    for line in WORDNET.read_text(encoding="utf-8").splitlines():
        if line.startswith("  ") or "|" not in line:
            continue  # license header
        fields, gloss = line.split("|", 1)
        parts = fields.split()
        offset, lex_file, count = parts[0], int(parts[1]), int(parts[3], 16)
        words = [_lemma(parts[4 + 2 * i]) for i in range(count)]
        rest = parts[4 + 2 * count :]
        pointers = rest[1 : 1 + 4 * int(rest[0])]
        hypernym = next((pointers[i + 1] for i in range(0, len(pointers), 4) if pointers[i] == "@"), None)
        synsets[offset] = (lex_file, words, hypernym, gloss.strip())
    entries, words_by_topic = [], {t: [] for t in TOPICS.values()}
    for offset, (lex_file, words, hypernym, gloss) in synsets.items():
        if lex_file not in TOPICS:
            continue
        topic = TOPICS[lex_file]
        words_by_topic[topic] += words
        examples = re.findall(r'"([^"]+)"', gloss)
        definition = re.sub(r"\s+", " ", gloss.split('"')[0]).strip().rstrip(";").strip()
        word = words[0]
        # Prefer an example that uses the word itself; any short example of the synset will do.
        good_example = sorted(
            (e for e in examples if 4 <= len(e.split()) <= 20), key=lambda e: word.lower() not in e.lower()
        )
        if hypernym not in synsets or not good_example or not 4 <= len(definition.split()) <= 25:
            continue
        if definition.startswith("(") or len(word.split()) > 2 or not word.isascii():
            continue
        hyper_word = synsets[hypernym][1][0]
        entries.append(Entry(offset, topic, word, hyper_word, definition, good_example[0]))
    return sorted(entries, key=lambda e: e.offset), words_by_topic


def render(entry: Entry) -> tuple[str, dict[str, int]]:
    """One entry as text, with the character offset of each part inside it."""
    head = f"{entry.word} (a kind of "
    text = f'{head}{entry.hypernym}): {entry.definition}; for example, "{entry.example}".'
    starts = {
        "word": 0,
        "hypernym": len(head),
        "definition": len(head) + len(entry.hypernym) + 3,
        "example": text.index(f'"{entry.example}"') + 1,
    }
    return text, starts


QUESTIONS = {
    "word": "Which word means {definition}?",
    "hypernym": "What is {article} {word} a kind of?",
    "definition": "What does the word {word} mean?",
    "example": "How is the word {word} used in a sentence?",
}


def _article(word: str) -> str:
    return "an" if word[0].lower() in "aeiou" else "a"


def _mentions(text: str, word: str) -> bool:
    return re.search(rf"\b{re.escape(word.lower())}\b", text.lower()) is not None


def build_context(entries: list[Entry], rng: random.Random, others: list[Entry], qid: str) -> dict:
    pieces, qas, position = [], [], 0
    rendered = [render(e) for e in entries]
    context = " ".join(text for text, _ in rendered)
    for n, (entry, (text, starts)) in enumerate(zip(entries, rendered, strict=True)):
        kind = rng.choice(sorted(QUESTIONS))
        question = QUESTIONS[kind].format(definition=entry.definition, word=entry.word, article=_article(entry.word))
        answer = getattr(entry, kind)
        start = position + starts[kind]
        assert context[start : start + len(answer)] == answer
        qas.append({"id": f"{qid}-{n}", "question": question, "answers": [{"text": answer, "answer_start": start}]})
        pieces.append(text)
        position += len(text) + 1
    absent = next(o for o in rng.sample(others, len(others)) if not _mentions(context, o.word))
    kind = rng.choice(["word", "hypernym", "definition"])
    question = QUESTIONS[kind].format(definition=absent.definition, word=absent.word, article=_article(absent.word))
    qas.append({"id": f"{qid}-x", "question": question, "answers": [], "is_impossible": True})
    return {"context": context, "qas": qas}


def main() -> None:
    rng = random.Random(SEED)
    entries, _ = read_entries()
    by_topic: dict[str, list[Entry]] = {}
    for entry in entries:
        by_topic.setdefault(entry.topic, []).append(entry)
    for items in by_topic.values():
        rng.shuffle(items)
    topics = sorted(by_topic)
    used = {t: 0 for t in topics}
    OUT.mkdir(parents=True, exist_ok=True)
    for split, contexts in SPLITS.items():
        articles = {t: [] for t in topics}
        for c in range(contexts):
            # Round-robin over the topics while each has entries left, then the topics that still have some.
            ready = [t for t in topics if len(by_topic[t]) - used[t] >= ENTRIES_PER_CONTEXT + 20]
            topic = ready[c % len(ready)]
            pool = by_topic[topic]
            chosen = pool[used[topic] : used[topic] + ENTRIES_PER_CONTEXT]
            used[topic] += ENTRIES_PER_CONTEXT
            others = [e for e in pool if e not in chosen]
            articles[topic].append(build_context(chosen, rng, others, f"{split}-{c:03d}"))
        data = [{"title": t, "paragraphs": articles[t]} for t in topics]
        questions = sum(len(p["qas"]) for a in data for p in a["paragraphs"])
        with (OUT / f"{split}.json").open("w", encoding="utf-8") as handle:
            json.dump({"version": "v2.0", "data": data}, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
        print(f"{split}: {contexts} contexts, {questions} questions")


if __name__ == "__main__":
    main()
