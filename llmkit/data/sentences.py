"""Sentence splitting by a documented rule, shared by summarization's ROUGE-Lsum and NSP's sentence pairs.

A sentence ends at ``.``, ``!`` or ``?`` (closing quotes and brackets may follow) before white space and a
capital letter, a digit or an opening quote or bracket; a line break always ends one. Not after the common
abbreviations below (``e.g.``, ``Dr.``...) nor after a single letter (initials: "J. Smith"). This is the part
of nltk's punkt that matters for English prose, without its trained model, which is not available offline.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset({"e.g", "i.e", "etc", "al", "vs", "cf", "mr", "mrs", "ms", "dr", "prof", "st", "no", "fig"})


def split_sentences(text: str) -> list[str]:
    """The sentences of a text, each line on its own, by the rule above; empty ones dropped."""
    sentences: list[str] = []
    for line in text.splitlines():
        start = 0
        for match in _SENTENCE_END.finditer(line):
            words = line[start : match.start()].split()
            last = words[-1].lstrip("([\"'“‘").lower() if words else ""
            if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
                continue
            sentences.append(line[start : match.end()].strip())
            start = match.end()
        sentences.append(line[start:].strip())
    return [sentence for sentence in sentences if sentence]


def split_paragraph_sentences(text: str) -> list[str]:
    """The sentences of wrapped prose: a blank line ends a paragraph (and its last sentence), other line
    breaks are spaces; inside a paragraph, ``split_sentences``."""
    found: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        found += split_sentences(" ".join(paragraph.split()))
    return found
