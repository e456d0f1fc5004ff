"""Recipe problems as one line each: ``file:line: dotted.key: what is wrong; the fix``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from llmkit.config.paths import submodel
from llmkit.config.training import REMOVED
from llmkit.config.yamlio import KeyPath
from llmkit.errors import did_you_mean

Problem = tuple[tuple[Any, ...], str]  # (key path in the recipe data, message starting with the dotted key)


class Locator:
    """Turns a key path into the ``file:line: `` prefix of an error message."""

    def __init__(self, source: str, lines: dict[KeyPath, int], touched: set[tuple[str, ...]]):
        self.source, self.lines, self.touched = source, lines, touched

    def __call__(self, loc: tuple[Any, ...]) -> str:
        for n in range(len(loc), 0, -1):
            if tuple(loc[:n]) in self.touched:
                return "command line: "
        for n in range(len(loc), 0, -1):
            if tuple(loc[:n]) in self.lines:
                return f"{self.source}:{self.lines[tuple(loc[:n])]}: "
        return f"{self.source}: "

    def lines_of(self, problems: list[Problem]) -> list[str]:
        """The located message of each problem, in recipe order where lines are known."""
        return [f"{self(path)}{message}" for path, message in problems]


def _data_path(loc: tuple[Any, ...], data: Any, missing: bool = False) -> tuple[Any, ...]:
    """Trim pydantic's loc (which may name union members) to the path that exists in the data.

    For a ``missing`` error the absent key itself is kept, so the message names it.
    """
    path: list[Any] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        else:
            if missing and isinstance(part, str):
                path.append(part)
            break
        path.append(part)
    return tuple(path)


def _fields_at(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    for part in path:
        info = model.model_fields.get(part)
        sub = submodel(info.annotation) if info else None
        if sub is None:
            return []
        model = sub
    return list(model.model_fields)


def _unknown_key(path: tuple[Any, ...], model: type[BaseModel]) -> str:
    if path[:1] == ("training",) and len(path) == 2 and path[1] in REMOVED:
        return f"unknown key: {REMOVED[path[1]]}"
    known = _fields_at(model, path[:-1])
    hint = did_you_mean(str(path[-1]), known)
    return f"unknown key{hint}" + (f" (allowed: {', '.join(known)})" if not hint and known else "")


def describe(exc: ValidationError, data: dict[str, Any], model: type[BaseModel]) -> list[Problem]:
    """pydantic's errors as problems, one per key (several complaints about one key joined by 'or')."""
    grouped: dict[tuple[Any, ...], list[str]] = {}
    for err in exc.errors():
        kind = err["type"]
        path = _data_path(tuple(err["loc"]), data, missing=kind == "missing")
        if kind == "extra_forbidden":
            message = _unknown_key(path, model)
        elif kind == "missing":
            message = "required key is missing"
        else:
            text = err["msg"].removeprefix("Value error, ")
            shown = repr(err.get("input"))
            message = text if len(shown) > 60 or "unknown task" in text else f"{text}, got {shown}"
        grouped.setdefault(path, [])
        if message not in grouped[path]:
            grouped[path].append(message)
    return [
        (path, f"{'.'.join(str(p) for p in path) or 'recipe'}: {' or '.join(messages)}")
        for path, messages in grouped.items()
    ]
