"""Trailing ``a.b=value`` command-line overrides, applied to the recipe before validation."""

from __future__ import annotations

import copy
from typing import Any

from llmkit.config.yamlio import parse_scalar
from llmkit.errors import UsageError


def parse_override(token: str) -> tuple[tuple[str, ...], Any]:
    """Split ``training.learning_rate=1e-5`` into a key path and a YAML-parsed value."""
    key, sep, raw = token.partition("=")
    if not sep and token.endswith((".yaml", ".yml")):
        raise UsageError(f"override '{token}': only one RECIPE is read; what follows it must be KEY=VALUE overrides")
    if not sep:
        raise UsageError(f"override '{token}': no '='; expected KEY=VALUE, e.g. {token.strip() or 'training.seed'}=...")
    if not key.strip():
        raise UsageError(f"override '{token}': empty key before '='; expected KEY=VALUE, e.g. training.seed=1")
    parts = tuple(part.strip() for part in key.strip().split("."))
    if any(not part for part in parts):
        raise UsageError(f"override '{token}': empty part in key '{key}'")
    try:
        value = parse_scalar(raw)
    except UsageError as exc:
        raise UsageError(f"override '{token}': value is not valid YAML ({exc})") from None
    return parts, value


def apply_overrides(data: dict[str, Any], tokens: list[str]) -> tuple[dict[str, Any], set[tuple[str, ...]]]:
    """Return a copy of ``data`` with each override applied, and the set of key paths they set."""
    result = copy.deepcopy(data)
    touched: set[tuple[str, ...]] = set()
    for token in tokens:
        parts, value = parse_override(token)
        node = result
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                prefix = ".".join(parts[: depth + 1])
                raise UsageError(f"override '{token}': '{prefix}' is a value, not a section")
            node = child
        node[parts[-1]] = value
        touched.add(parts)
    return result, touched
