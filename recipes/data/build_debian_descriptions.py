"""Build `debian-descriptions/`: real document -> summary pairs from the descriptions of Debian packages.

Every Debian package describes itself in `debian/control`: a one-line synopsis and a long description
of one or more paragraphs, written by its maintainer. The synopsis is a human summary of the long
description, so (long description -> synopsis) is a small, real abstractive summarization corpus.
Debian ships all English descriptions of an archive section in its `Translation-en` index; this
script reads that index and the `Packages` index of Debian 12 (bookworm) main, keeps one package per
source package (the one named like the source, else the first by name) so that near-identical
descriptions of one family (`libfoo1`, `libfoo-dev`...) never land in two splits, keeps prose only
(verbatim lines such as bullet lists are left out), and splits by a hash of the source package name.
Re-running it on the same index files rebuilds the same files.

    apt-get update -o Acquire::Languages=en -o Dir::State::Lists=/tmp/apt-en/lists   # mkdir -p .../partial
    python recipes/data/build_debian_descriptions.py /tmp/apt-en/lists
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "debian-descriptions"
RELEASE = "deb.debian.org_debian_dists_bookworm_main"
SIZES = {"validation": 200, "test": 200, "train": 2400}
SUMMARY_WORDS = (3, 10)
DOCUMENT_WORDS = (25, 90)
NOT_A_SUMMARY = re.compile(r"transitional|dummy|metapackage|meta-package|virtual package|\(|\)|;|https?:", re.I)


def read_index(path: Path) -> str:
    """An apt index file as text; apt-helper decompresses whatever compression apt stored it with."""
    return subprocess.run(
        ["/usr/lib/apt/apt-helper", "cat-file", str(path)], check=True, capture_output=True, text=True
    ).stdout


def stanzas(text: str) -> list[dict[str, str]]:
    """deb822 paragraphs -> dicts; continuation lines stay in the value, joined with newlines."""
    records = []
    for block in text.split("\n\n"):
        record: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and key is not None:
                record[key] += "\n" + line
            elif ":" in line:
                key, value = line.split(":", 1)
                record[key] = value.strip()
        if record:
            records.append(record)
    return records


def document_of(long_lines: list[str]) -> str | None:
    """The prose of a long description as one line: paragraph lines joined, verbatim lines dropped."""
    words = []
    for line in long_lines:
        if line == " ." or line.startswith("  "):  # paragraph break, or a verbatim line (lists, code)
            continue
        words.extend(line.split())
    text = " ".join(words)
    if not DOCUMENT_WORDS[0] <= len(words) <= DOCUMENT_WORDS[1] or "\t" in text:
        return None
    return text


def usable(package: str, description: str) -> dict[str, str] | None:
    """A row from one Description-en value, or None when it is no plain prose summary of plain prose."""
    synopsis, *long_lines = description.split("\n")
    synopsis = synopsis.strip()
    if not SUMMARY_WORDS[0] <= len(synopsis.split()) <= SUMMARY_WORDS[1] or NOT_A_SUMMARY.search(synopsis):
        return None
    document = document_of(long_lines)
    if document is None or synopsis.lower() in document.lower():
        return None  # a copy of the synopsis inside the document would make it a span-extraction task
    return {"package": package, "document": document, "summary": synopsis}


def rows(lists: Path) -> list[dict[str, str]]:
    """One row per source package, duplicates of a document removed (the first source by name keeps it)."""
    texts = {}
    for record in stanzas(read_index(next(lists.glob(f"{RELEASE}_i18n_Translation-en*")))):
        texts[(record["Package"], record.get("Description-md5"))] = record.get("Description-en", "")
    source_of = {}
    for record in stanzas(read_index(next(lists.glob(f"{RELEASE}_binary-amd64_Packages*")))):
        key = (record["Package"], record.get("Description-md5"))
        if key in texts:
            source_of[key] = record.get("Source", record["Package"]).split()[0]
    by_source: dict[str, list[str]] = {}
    for (package, md5), source in sorted(source_of.items()):
        by_source.setdefault(source, []).append((package, md5))
    chosen, seen = [], set()
    for source in sorted(by_source):
        candidates = sorted(by_source[source], key=lambda key: (key[0] != source, key[0]))
        for package, md5 in candidates:
            row = usable(package, texts[(package, md5)])
            if row is not None and row["document"] not in seen:
                seen.add(row["document"])
                chosen.append({"id": source, **row})
                break
    return chosen


def main() -> None:
    lists = Path(sys.argv[1] if len(sys.argv) > 1 else "/var/lib/apt/lists")
    found = sorted(rows(lists), key=lambda r: hashlib.sha256(r["id"].encode()).hexdigest())
    OUT.mkdir(parents=True, exist_ok=True)
    start = 0
    for split in ("validation", "test", "train"):
        end = start + SIZES[split]
        with (OUT / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for row in found[start:end]:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{split}: {len(found[start:end])} rows")
        start = end
    print(f"usable source packages: {len(found)}")


if __name__ == "__main__":
    main()
