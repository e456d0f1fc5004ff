"""Cache keys for mapped datasets: the source of every module a mapped function reads.

``llmkit.data.cached_map`` hashes the source file of the function it maps. A mapped function that calls
into another module (textcls's ``encode`` -> ``textcls_labels.label_values``; lm's ``tokenize`` -> the
task's ``encode``) would reuse a stale cache after that module changed, so the call sites add those
modules' hashes to the ``key`` they pass.
"""

from __future__ import annotations

import hashlib
import inspect
from functools import lru_cache
from pathlib import Path
from typing import Any


def code_hash(*objects: Any) -> str:
    """One sha256 over the source files of ``objects`` (modules, or functions and classes: their module)."""
    files = [inspect.getsourcefile(obj) for obj in objects]
    return hashlib.sha256("".join(_file_hash(f) for f in files if f).encode()).hexdigest()


@lru_cache(maxsize=64)
def _file_hash(path: str) -> str:
    # Per process: the source files of an installed package do not change while it runs.
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
