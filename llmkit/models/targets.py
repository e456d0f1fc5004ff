"""The model folders that ``eval``, ``generate`` and ``export`` read, checked before anything loads.

A missing path, a file, a folder that is neither a run nor a checkpoint, deleted or truncated weights
and an unreadable ``config.json`` each get one line naming the path and the option it came from (exit
4), instead of whatever the loading library happens to raise. Only file names, JSON and safetensors
headers are read (``llmkit.models.safeload``), so the checks cost milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmkit.errors import ModelError, did_you_mean

YAML_SUFFIXES = (".yaml", ".yml")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "tokenizer.model")
PICKLE_WEIGHTS = ("pytorch_model*.bin", "adapter_model.bin")


def check_json(path: Path, what: str) -> None:
    """``path`` must be a JSON object (config.json, adapter_config.json, a shard index)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ModelError(f"{what}: {path} is not valid JSON (not UTF-8 text); the model cannot load") from None
    except ValueError as exc:
        raise ModelError(
            f"{what}: {path} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "the model cannot load"
        ) from None
    if not isinstance(data, dict):
        raise ModelError(f"{what}: {path} must hold a JSON object, not {type(data).__name__}")


def _weight_files(folder: Path, what: str) -> list[Path]:
    """The safetensors files the model in ``folder`` loads (shards from the index when there is one)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        check_json(index, what)
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map") or {}
        shards = [folder / name for name in sorted(set(map(str, weight_map.values())))]
        missing = [shard.name for shard in shards if not shard.is_file()]
        if missing:
            raise ModelError(f"{what}: {folder} is missing weight shards listed in {index.name}: {', '.join(missing)}")
        return shards
    return sorted(folder.glob("*.safetensors"))


def check_model_dir(folder: Path, what: str) -> None:
    """A local run or checkpoint folder: readable config, a tokenizer, and whole weights."""
    adapter = folder / "adapter_config.json"
    config = folder / "config.json"
    if not config.is_file() and not adapter.is_file():
        if (folder / "run.json").is_file():
            raise ModelError(
                f"{what}: {folder} is an llmkit run that holds no model (no config.json: it stopped before "
                "saving one); resume or re-run it, or point at one of its checkpoint-N folders"
            )
        raise ModelError(f"{what}: {folder} is neither an llmkit run directory nor a model checkpoint (no config.json)")
    for path in (config, adapter):
        if path.is_file():
            check_json(path, what)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES) and not any(folder.glob("*.model")):
        raise ModelError(f"{what}: {folder} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...)")
    weights = _weight_files(folder, what)
    if not weights and not any(p for pattern in PICKLE_WEIGHTS for p in folder.glob(pattern)):
        name = "adapter_model.safetensors" if adapter.is_file() else "model.safetensors"
        raise ModelError(f"{what}: {folder} has no model weights ({name} is missing)")
    from llmkit.models.safeload import safetensors_problem

    for path in weights:
        problem = safetensors_problem(path)
        if problem:
            raise ModelError(f"{what}: {path} is truncated or damaged: {problem}")


def _sibling_hint(path: Path) -> str:
    """``; did you mean 'runs/demo'?`` for a near miss in the same folder."""
    parent = path.parent
    if not parent.is_dir():
        return ""
    hint = did_you_mean(path.name, [p.name for p in parent.iterdir()])
    if not hint:
        return ""
    return f"; did you mean '{parent / hint.split(chr(39))[1]}'?"


def looks_like_path(ref: str) -> bool:
    """Whether a model reference can only be a local path (a hub id is ``name`` or ``org/name``)."""
    path = Path(ref).expanduser()
    if ref.startswith((".", "/", "~")) or ref.count("/") > 1 or "\\" in ref:
        return True
    return "/" in ref and path.parent.is_dir()  # runs/demo, with runs/ here: a local run, not a hub id


def check_model_ref(ref: str, what: str = "--model", local: bool = False) -> None:
    """A run directory, checkpoint, alias or hub id (not with ``local``); local folders are checked here."""
    from llmkit.models import ALIASES

    if ref in ALIASES:
        return
    path = Path(ref).expanduser()
    if path.is_dir():
        check_model_dir(path, what)
    elif path.exists():
        raise ModelError(f"{what}: {ref} is a file; give the run directory or checkpoint folder that holds config.json")
    elif local or looks_like_path(ref):
        raise ModelError(f"{what}: {ref}: no such run directory or checkpoint{_sibling_hint(path)}")


def check_eval_target(target: str) -> None:
    """``llmkit eval TARGET``: a finished run directory, a recipe file or a shipped recipe name."""
    from llmkit.config import shipped_recipes

    path = Path(target).expanduser()
    if path.is_dir():
        if not (path / "recipe.yaml").is_file() and (path / "config.json").is_file():
            raise ModelError(
                f"TARGET: {path} is a model checkpoint, not an llmkit run (no recipe.yaml); evaluate it with a "
                "recipe: llmkit eval RECIPE model.name_or_path=" + str(path)
            )
        if not (path / "recipe.yaml").is_file() and not (path / "run.json").is_file():
            raise ModelError(f"TARGET: {path} is not an llmkit run directory (no recipe.yaml or config.json)")
        check_model_dir(path, "TARGET")
    elif path.exists():
        if path.suffix.lower() not in YAML_SUFFIXES:
            raise ModelError(f"TARGET: {path} is a file, not a run directory (a recipe is a .yaml file)")
    elif path.suffix.lower() not in YAML_SUFFIXES and target not in shipped_recipes():
        raise ModelError(f"TARGET: {target}: no such run directory, recipe file or shipped recipe{_sibling_hint(path)}")
