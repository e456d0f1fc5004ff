"""Where the test data lives, written once.

A plain module rather than a fixture because some test modules need these paths at collection time
(module-level constants, ``parametrize`` lists, the fault table). ``conftest.py`` puts ``tests/`` on
``sys.path`` (pytest's default import mode), so every test module can ``from paths import FIXTURES``.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"


def fixture_recipe(task: str) -> Path:
    """The tiny recipe of a task under tests/fixtures (``textcls`` -> ``textcls-tiny.yaml``)."""
    return FIXTURES / f"{task}-tiny.yaml"
