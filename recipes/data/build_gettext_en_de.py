"""Build `gettext-en-de/`: real English -> German sentence pairs from the German translations of free software.

Debian ships each program's message catalogue (`/usr/share/locale/de/LC_MESSAGES/<domain>.mo`): the
English message and its German translation, written by the German translation teams. This script
keeps the plain-sentence messages of the packages listed in PACKAGES (no format specifiers, markup,
shortcuts or line breaks; 3 to 14 words), removes duplicates, and splits them deterministically by a
hash of the English text. Re-running it with the same package versions rebuilds the same files.

    apt-get install git coreutils tar dpkg apt bash sed grep findutils diffutils make libc-l10n \
        gnupg-l10n libglib2.0-data libgtk2.0-common systemd shared-mime-info appstream
    python recipes/data/build_gettext_en_de.py
"""

from __future__ import annotations

import gettext
import hashlib
import json
import re
from pathlib import Path

LOCALE = Path("/usr/share/locale/de/LC_MESSAGES")
OUT = Path(__file__).resolve().parent / "gettext-en-de"
# gettext domain -> (Debian package, license of its translations)
PACKAGES = {
    "apt": ("apt", "GPL-2+"),
    "bash": ("bash", "GPL-3+"),
    "coreutils": ("coreutils", "GPL-3+"),
    "diffutils": ("diffutils", "GPL-3+"),
    "dpkg": ("dpkg", "GPL-2+"),
    "findutils": ("findutils", "GPL-3+"),
    "git": ("git", "GPL-2"),
    "glib20": ("libglib2.0-data", "LGPL-2.1+"),
    "gnupg2": ("gnupg-l10n", "GPL-3+"),
    "grep": ("grep", "GPL-3+"),
    "gtk20": ("libgtk2.0-common", "LGPL-2+"),
    "libc": ("libc-l10n", "LGPL-2.1+"),
    "make": ("make", "GPL-3+"),
    "sed": ("sed", "GPL-3+"),
    "shared-mime-info": ("shared-mime-info", "GPL-2+"),
    "systemd": ("systemd", "LGPL-2.1+"),
    "tar": ("tar", "GPL-3+"),
    "appstream": ("appstream", "LGPL-2.1+"),
}
SIZES = {"validation": 250, "test": 250}  # the rest is training data
MARKUP = re.compile(r"[%{}<>\\_&@$|`\"\[\]=*#~^]|\.\.\.|--|\s-\w")


def usable(english: str, german: str) -> bool:
    """Plain one-line sentences only: no placeholders, markup, option names or untranslated copies."""
    if not english or not german or english == german or "\n" in english + german or "\t" in english + german:
        return False
    if MARKUP.search(english) or MARKUP.search(german):
        return False
    return 3 <= len(english.split()) <= 14 and english[0].isupper()


def pairs() -> dict[str, dict[str, str]]:
    """English text -> row, the first package (in PACKAGES order) that has the message wins."""
    found: dict[str, dict[str, str]] = {}
    for domain, (package, _license) in PACKAGES.items():
        with (LOCALE / f"{domain}.mo").open("rb") as handle:
            catalog = gettext.GNUTranslations(handle)._catalog
        for english, german in sorted((k, v) for k, v in catalog.items() if isinstance(k, str)):
            english, german = english.strip(), german.strip()
            if "\x04" in english or not usable(english, german) or english in found:
                continue
            found[english] = {"translation": {"en": english, "de": german}, "package": package}
    return found


def main() -> None:
    rows = sorted(pairs().values(), key=lambda r: hashlib.sha256(r["translation"]["en"].encode()).hexdigest())
    OUT.mkdir(parents=True, exist_ok=True)
    start = 0
    for split in ("validation", "test", "train"):
        end = start + SIZES[split] if split in SIZES else len(rows)
        with (OUT / f"{split}.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows[start:end]:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(split, end - start)
        start = end


if __name__ == "__main__":
    main()
