"""Relative paths in a recipe: one rule for every field that names a file, a folder or a local model.

The rule (README, "Recipes"): a relative path written in a recipe file is read from the recipe's folder;
if it does not exist there but exists under the working directory, it is read from the working directory.
A path given as a command-line override is read from the working directory. Paths are made absolute here,
so the rest of llmkit (and the ``recipe.yaml`` saved in a run) never depends on the working directory again.

Two kinds of field follow it:

- file fields (``PathField``: data files, ``training.output_dir``, DeepSpeed/FSDP JSON files): always a path;
  a path that exists in neither place is read from the recipe's folder (``output_dir`` is created there);
- model references (``model.name_or_path``, ``model.tokenizer_name_or_path``, ``distill.teacher``,
  ``translation.decoder_name_or_path``: fields marked ``{"path": "ref"}`` or named ``*name_or_path``), which
  may also be a hub id or a built-in alias: resolved only when it exists in one of the two places; otherwise
  it is kept as written, and the model loader reports a missing folder or an unknown hub id in those words.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

KeyPath = tuple[str, ...]


def submodel(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class inside an annotation such as ``X | None``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = submodel(arg)
            if found is not None:
                return found
    return None


def path_kind(name: str, info: Any) -> str | None:
    """``"file"``, ``"ref"`` (file or hub id / alias) or None for a field that holds no path."""
    marker = (info.json_schema_extra or {}).get("path") if isinstance(info.json_schema_extra, dict) else None
    if marker == "ref" or (marker is None and name.endswith("name_or_path")):
        return "ref"
    return "file" if marker else None


def resolve_paths(data: dict[str, Any], model: type[BaseModel], base: Path, touched: set[KeyPath]) -> dict[str, Any]:
    """A copy of recipe ``data`` with every relative path made absolute: from ``base`` (the recipe's folder) when
    written in the file, from the working directory when given as an override (``touched``)."""
    out = dict(data)
    for name, info in model.model_fields.items():
        value = out.get(name)
        sub = submodel(info.annotation)
        if sub is not None and isinstance(value, dict):
            inner = {t[1:] for t in touched if t and t[0] == name}
            out[name] = resolve_paths(value, sub, base, inner)
            continue
        kind = path_kind(name, info)
        if kind is None or value is None:
            continue
        one = resolve_file if kind == "file" else resolve_ref
        origin = Path.cwd() if (name,) in touched else base  # an override is read from the working directory
        out[name] = [one(v, origin) for v in value] if isinstance(value, list) else one(value, origin)
    return out


def _relative(value: Any) -> Path | None:
    """The value as a relative path, or None when it is not one (absolute, URL, inline JSON, not text)."""
    if not isinstance(value, str) or not value.strip() or "://" in value or value.lstrip().startswith("{"):
        return None
    path = Path(value).expanduser()
    return None if path.is_absolute() else path


def resolve_file(value: Any, base: Path) -> Any:
    """A file field: beside the recipe, else the working directory if it exists only there."""
    path = _relative(value)
    if path is None:
        return str(Path(value).expanduser()) if isinstance(value, str) and value.startswith("~") else value
    beside_recipe = (base / path).resolve()
    if beside_recipe.exists() or not path.exists():
        return str(beside_recipe)
    return str(path.resolve())


def resolve_ref(value: Any, base: Path) -> Any:
    """A model reference: a local folder by the file rule, otherwise kept as written (hub id or alias)."""
    path = _relative(value)
    if path is None:
        return str(Path(value).expanduser()) if isinstance(value, str) and value.startswith("~") else value
    if (base / path).exists() or path.exists():
        return resolve_file(value, base)
    return value
