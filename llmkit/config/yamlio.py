"""Strict, safe YAML reading: no tags that build objects, no duplicate keys, ``1e-5`` is a float,
``no`` is a string.

It also records the line of every key so that validation errors can point at ``file:line``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from llmkit.errors import ConfigError

KeyPath = tuple[str | int, ...]

# YAML 1.1 wants a dot in floats ("1.0e-5"); people write "1e-5". Accept both.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with a float rule that accepts ``1e-5``; never mutates SafeLoader itself."""


# YAML 1.1 also reads yes/no/on/off as booleans, which turns `eval_strategy: no` into False.
# Like YAML 1.2, only true/false are booleans here.
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_REPLACED = ("tag:yaml.org,2002:float", "tag:yaml.org,2002:bool")

StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "-+0123456789.":
    StrictLoader.yaml_implicit_resolvers.setdefault(_first, []).append(("tag:yaml.org,2002:float", _FLOAT))
for _first in "tTfF":
    StrictLoader.yaml_implicit_resolvers.setdefault(_first, []).append(("tag:yaml.org,2002:bool", _BOOL))


def _collect_lines(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                dotted = ".".join(str(p) for p in (*path, key))
                raise ConfigError(f"{source}:{line}: {dotted}: duplicate key (first set on line {seen[key]})")
            seen[key] = line
            lines[(*path, key)] = line
            _collect_lines(value_node, (*path, key), lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _collect_lines(item, (*path, index), lines, source)


def parse_yaml(text: str, source: str = "<string>") -> tuple[Any, dict[KeyPath, int]]:
    """Parse YAML text safely; return the data and a map from key path to line number."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[KeyPath, int] = {}
        if node is None:
            return None, lines
        _collect_lines(node, (), lines, source)
        return loader.construct_document(node), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = exc.problem or str(exc)
        if "could not determine a constructor" in problem:
            problem = f"unsafe or unknown YAML tag ({problem.split('tag ')[-1].strip()}); llmkit reads plain YAML only"
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: malformed YAML: {exc}") from None
    finally:
        loader.dispose()


def read_yaml(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Read a YAML file strictly (see :func:`parse_yaml`): a UTF-8 text file, not a folder."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a YAML file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read recipe: {exc.strerror or exc}") from None
    return parse_yaml(decode_utf8(data, str(path)), str(path))


def decode_utf8(data: bytes, source: str) -> str:
    """Text of a file that must be UTF-8; otherwise one line naming the first bad byte and its line."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ConfigError(f"{source}: the file is UTF-16 text; save it as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        binary = b"\x00" in data[:8192]
        what = "a binary file, not YAML text" if binary else "not UTF-8 text; save it as UTF-8"
        raise ConfigError(
            f"{source}:{line}: {what} (byte 0x{data[exc.start]:02x} at offset {exc.start} is not valid UTF-8)"
        ) from None


def parse_scalar(text: str) -> Any:
    """Parse one override value the way a YAML value would be read (``1e-5`` -> float, ``[a, b]`` -> list)."""
    if text == "":
        return ""
    data, _ = parse_yaml(text, "<override>")
    return data


def dump_yaml(data: Any) -> str:
    """Dump plain data as block-style YAML, keys in insertion order."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
