"""Recipes back to data and YAML (secrets redacted), and validated copies with changed keys."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from llmkit.config.messages import Locator, describe
from llmkit.config.sections import Recipe
from llmkit.config.yamlio import dump_yaml
from llmkit.errors import ConfigError

_SECRET_KEY = re.compile(r"(?:^|_)(?:token|key|secret|password|auth|api_key)$", re.I)
REDACTED = "<redacted>"


def recipe_to_dict(recipe: Recipe, redact: bool = True) -> dict[str, Any]:
    """Plain data for YAML: every section in full, ``training`` with only the keys that are set."""
    data = recipe.model_dump(mode="json")
    data["training"] = recipe.training.model_dump(mode="json", exclude_unset=True)
    return _redact(data) if redact else data


def _redact(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (REDACTED if isinstance(v, str) and v and _SECRET_KEY.search(str(k)) else _redact(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_redact(v) for v in node]
    return node


def redact_argv(tokens: list[str]) -> list[str]:
    """Command-line tokens with the values of secret-looking ``key=value`` overrides hidden."""
    out = []
    for token in tokens:
        key, sep, value = token.partition("=")
        secret = sep and value and _SECRET_KEY.search(key.rsplit(".", 1)[-1])
        out.append(f"{key}={REDACTED}" if secret else token)
    return out


def recipe_to_yaml(recipe: Recipe, redact: bool = True) -> str:
    """The recipe as YAML text, secrets redacted."""
    return dump_yaml(recipe_to_dict(recipe, redact=redact))


def updated(recipe: Recipe, changes: dict[str, Any]) -> Recipe:
    """A copy of ``recipe`` with dotted keys changed, validated again (recipes are frozen).

    The copy is validated by the recipe's own class, which ``llmkit.recipe`` composed for its task.
    """
    data = recipe_to_dict(recipe, redact=False)
    for dotted, value in changes.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    schema = type(recipe)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(Locator("<recipe>", {}, set()).lines_of(describe(exc, data, schema))) from None
