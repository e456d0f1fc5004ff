"""Structurally pruned BERT-style encoders: remove attention heads and FFN neurons, and load such a model again.

transformers 5 removed ``PreTrainedModel.prune_heads`` and the ``config.pruned_heads`` hook that re-applied it at
load time, and its BERT modules build every layer with the same head count. So the slicing is done here, on the
module layout BERT, RoBERTa, ELECTRA and their copies share (``encoder.layer[i].attention.self.query/key/value``,
``attention.output.dense``, ``intermediate.dense``, ``output.dense``), and the removed heads are recorded in the
config under the name transformers 4 used (``pruned_heads``: layer -> head indices, as the unpruned model
numbered them). ``load_pruned`` rebuilds the model from its config, slices it the same way and loads the weights.
FFN neurons are removed in equal numbers per layer, so ``intermediate_size`` alone describes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmkit.errors import ModelError, UsageError

PRUNED_HEADS = "pruned_heads"  # config field: {"layer": [head, ...]}, indices of the unpruned layer


def encoder_layers(model: Any) -> list[Any]:
    """The transformer blocks of a BERT-style encoder, or UsageError naming what structured pruning needs."""
    encoder = getattr(getattr(model, "base_model", model), "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None or not all(_is_bert_block(block) for block in layers):
        raise UsageError(
            f"--method heads: {type(model).__name__} is not a BERT-style encoder (encoder.layer[i].attention.self "
            "with query/key/value); structured pruning supports BERT, RoBERTa, ELECTRA and MiniLM models. "
            "Use --method magnitude for other models"
        )
    return list(layers)


def _is_bert_block(block: Any) -> bool:
    attention = getattr(block, "attention", None)
    own = getattr(attention, "self", None)
    return all(hasattr(own, name) for name in ("query", "key", "value", "attention_head_size")) and hasattr(
        getattr(attention, "output", None), "dense"
    )


def pruned_heads_of(config: Any) -> dict[int, list[int]]:
    """The config's ``pruned_heads`` with integer keys (JSON stores them as strings)."""
    raw = getattr(config, PRUNED_HEADS, None) or {}
    return {int(layer): sorted(int(h) for h in heads) for layer, heads in raw.items() if heads}


def remove_heads(model: Any, heads: dict[int, list[int]]) -> None:
    """Remove ``heads`` (layer -> indices in the layer as it is now) from the model, in place.

    The rows of query, key and value and the columns of the output projection that belong to a removed head
    go; the config's ``pruned_heads`` gains them, renumbered to the unpruned layer so loading can replay it.
    """
    from llmkit.models.pruned_code import slice_heads

    layers = encoder_layers(model)
    recorded = pruned_heads_of(model.config)
    for layer, drop in sorted(heads.items()):
        if not drop:
            continue
        count = layers[layer].attention.self.num_attention_heads
        try:
            slice_heads(layers[layer], drop)
        except ValueError:
            raise UsageError(f"cannot remove every attention head of layer {layer}; keep at least one") from None
        original = [h for h in range(count + len(recorded.get(layer, []))) if h not in recorded.get(layer, [])]
        recorded[layer] = sorted({*recorded.get(layer, []), *(original[h] for h in drop)})
    setattr(model.config, PRUNED_HEADS, {str(k): v for k, v in sorted(recorded.items()) if v})


def remove_ffn_neurons(model: Any, keep: dict[int, list[int]]) -> None:
    """Keep only the ``keep[layer]`` intermediate neurons of each layer (the same count everywhere), in place."""
    import torch

    from llmkit.models.pruned_code import slice_linear

    layers = encoder_layers(model)
    counts = {len(v) for v in keep.values()}
    if len(keep) != len(layers) or len(counts) != 1:
        raise ValueError("keep the same number of FFN neurons in every layer (config.intermediate_size is one value)")
    for layer, neurons in keep.items():
        index = torch.tensor(sorted(neurons), dtype=torch.long)
        block = layers[layer]
        block.intermediate.dense = slice_linear(block.intermediate.dense, index, 0)
        block.output.dense = slice_linear(block.output.dense, index, 1)
    model.config.intermediate_size = counts.pop()


def load_pruned(cls: Any, folder: Path, config: Any, dtype: str | None = None) -> Any:
    """Build ``cls`` from ``config``, remove the heads its ``pruned_heads`` names, and load the weights of
    ``folder`` (safetensors only) into it; a tied output layer is tied again."""
    import torch
    from safetensors.torch import load_file

    heads = pruned_heads_of(config)
    setattr(config, PRUNED_HEADS, {})  # remove_heads records them again as it replays them
    if hasattr(config, "auto_map"):  # the copied loading code is for other tools; a save writes it anew
        del config.auto_map
    model = cls.from_config(config)
    remove_heads(model, heads)
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ModelError(f"model.name_or_path: '{folder}' is a pruned model without safetensors weights")
    state: dict[str, Any] = {}
    for file in files:
        state.update(load_file(str(file)))
    result = model.load_state_dict(state, strict=False)
    model.tie_weights()
    current = model.state_dict()
    loaded = {tensor.data_ptr() for name, tensor in current.items() if name in state}
    tied = {name for name, tensor in current.items() if name not in state and tensor.data_ptr() in loaded}
    missing = [k for k in result.missing_keys if k not in tied]
    if missing or result.unexpected_keys:
        shown = ", ".join((missing or result.unexpected_keys)[:3])
        raise ModelError(f"model.name_or_path: the weights in '{folder}' do not fit its pruned config ({shown})")
    if dtype and dtype != "auto":
        model.to(getattr(torch, dtype))
    model.eval()
    return model


CODE_MODULE = "llmkit_pruned_heads"  # the file beside the weights that config.json's auto_map names


def write_loading_code(folder: Path, model: Any, auto_class: str) -> bool:
    """For a head-pruned model saved in ``folder``: the loading code beside it and ``auto_map`` in its config,
    so ``AutoModelFor*.from_pretrained(folder, trust_remote_code=True)`` works without llmkit. False (nothing
    written) for a model with all its heads, or whose class transformers does not export."""
    import json

    import transformers

    from llmkit.models import pruned_code

    name = type(model).__name__
    if not pruned_heads_of(model.config) or not hasattr(transformers, name):
        return False
    pruned = f"{pruned_code.CLASS_PREFIX}{name}"
    source = Path(pruned_code.__file__).read_text(encoding="utf-8")
    source += (
        f"\n\nclass {pruned}(PrunedHeadsMixin, transformers.{name}):\n"
        f'    """{name} with the attention heads that config.pruned_heads names removed."""\n'
    )
    source = source.replace("import torch\n", "import torch\nimport transformers\n", 1)
    (folder / f"{CODE_MODULE}.py").write_text(source, encoding="utf-8")
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["auto_map"] = {auto_class: f"{CODE_MODULE}.{pruned}"}
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return True
