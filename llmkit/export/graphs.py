"""The graphs one model exports to: a single graph, a seq2seq encoder and decoder, or a causal LM's prompt and
cached-step graphs. Each is a ``_Part``: a module over positional tensors, with input, output and axis names."""

from __future__ import annotations

from typing import Any

from llmkit.export.samples import _decoder_start, _max_diff

# Causal LMs: the prompt tail fed to model_with_past.onnx when it is exported (more than one token, and a length
# unlike the batch size, so no axis is specialized to a constant).
EXPORT_NEW_TOKENS = 3


class _Part:
    """One graph to export: a module taking positional tensors, their names, and the output names.

    ``axes`` names the dynamic axes of each input (and of outputs where known), for TorchScript's exporter.
    """

    def __init__(
        self,
        file: str,
        module: Any,
        inputs: dict[str, Any],
        outputs: list[str],
        axes: dict[str, dict[int, str]] | None = None,
    ) -> None:
        self.file, self.module, self.inputs, self.outputs = file, module.eval(), inputs, outputs
        self.axes = axes or {k: _default_axes(v) for k, v in inputs.items()}
        self.cached = any(name.startswith("present.") for name in outputs)

    def diff(self, expected: list[Any], got: list[Any], inputs: dict[str, Any] | None = None) -> float:
        """Largest difference between two runs of this graph; for a causal LM over real tokens only."""
        return (
            _real_diff(self.outputs, expected, got, inputs or self.inputs) if self.cached else _max_diff(expected, got)
        )


def _default_axes(tensor: Any) -> dict[int, str]:
    """Batch first, sequence last, both dynamic; so is an axis between them (3-D multiple-choice ids: choices)."""
    return {0: "batch", **{i: "choices" for i in range(1, tensor.dim() - 1)}, tensor.dim() - 1: "sequence"}


def _real_diff(outputs: list[str], expected: list[Any], got: list[Any], inputs: dict[str, Any]) -> float:
    """Largest difference at the positions of real tokens. A left-padding position attends to nothing; what a
    runtime makes of a fully masked row is arbitrary, and no real token reads it (the mask hides it from all)."""
    import numpy as np

    mask = np.asarray(inputs["attention_mask"]).astype(bool)
    new = mask[:, -np.asarray(inputs["input_ids"]).shape[1] :]
    diff = 0.0
    for name, a, b in zip(outputs, expected, got, strict=True):
        gap = np.abs(np.asarray(a) - np.asarray(b))
        gap = gap[new] if name == "logits" else gap.transpose(0, 2, 1, 3)[mask]  # presents: batch, heads, seq, dim
        diff = max(diff, float(gap.max()))
    return diff


def is_causal_lm(model: Any) -> bool:
    """A decoder-only model that generates: its ONNX export carries a key/value cache."""
    can_generate = getattr(model, "can_generate", None)
    return not model.config.is_encoder_decoder and callable(can_generate) and bool(can_generate())


def _positions(attention_mask: Any) -> Any:
    """Position ids that skip left padding, as ``generate`` makes them (0 on padding)."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


def _cache_names(model: Any) -> tuple[list[str], list[str]]:
    """Input and output names of the cache tensors, key then value for each layer (Optimum's names)."""
    layers = model.config.get_text_config(decoder=True).num_hidden_layers
    pairs = [(i, kv) for i in range(layers) for kv in ("key", "value")]
    return [f"past_key_values.{i}.{kv}" for i, kv in pairs], [f"present.{i}.{kv}" for i, kv in pairs]


def _causal_parts(model: Any, samples: dict[str, Any]) -> list[_Part]:
    """``model.onnx`` (a prompt -> logits and the cache) and ``model_with_past.onnx`` (new tokens + cache)."""
    import inspect

    import torch
    from transformers import DynamicCache

    names = ["input_ids", "attention_mask"]
    if "position_ids" in inspect.signature(model.forward).parameters:
        names.append("position_ids")
    past, present = _cache_names(model)

    class WithCache(torch.nn.Module):
        """Flat tensors in and out; inside, the transformers ``DynamicCache`` the model reads and extends."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> tuple[Any, ...]:
            inputs, flat = dict(zip(names, args[: len(names)], strict=True)), args[len(names) :]
            cache = DynamicCache(
                ddp_cache_data=list(zip(flat[0::2], flat[1::2], strict=True)), config=self.inner.config
            )
            out = self.inner(**inputs, past_key_values=cache, use_cache=True, return_dict=True)
            return (out.logits, *(t for layer in out.past_key_values.layers for t in (layer.keys, layer.values)))

    module = WithCache(model)
    batch = {"input_ids": samples["input_ids"], "attention_mask": samples["attention_mask"]}
    if "position_ids" in names:
        batch["position_ids"] = _positions(samples["attention_mask"])
    # model_with_past.onnx is traced on the prompt's last tokens over the cache of the ones before them.
    k = EXPORT_NEW_TOKENS
    with torch.no_grad():  # not inference_mode: the tracing exporter reuses these tensors
        cached = module(*(v[:, :-k] for v in batch.values()))[1:]
    step = {name: v[:, -k:] if name != "attention_mask" else v for name, v in batch.items()}
    step.update(zip(past, cached, strict=True))
    sequence, total = {0: "batch", 1: "sequence"}, {0: "batch", 1: "total_sequence"}
    prompt_axes = {name: sequence for name in [*batch, "logits"]} | {n: {0: "batch", 2: "sequence"} for n in present}
    step_axes = {name: sequence for name in [*batch, "logits"]} | {"attention_mask": total}
    step_axes |= {n: {0: "batch", 2: "past_sequence"} for n in past}
    step_axes |= {n: {0: "batch", 2: "total_sequence"} for n in present}
    return [
        _Part("model.onnx", module, batch, ["logits", *present], prompt_axes),
        _Part("model_with_past.onnx", module, step, ["logits", *present], step_axes),
    ]


def _head(inner: Any, names: list[str], outputs: list[str]) -> Any:
    """A module taking ``names`` positionally and returning the ``outputs`` of ``inner``'s forward as a tuple."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *args: Any) -> tuple[Any, ...]:
            # forward, not __call__: no module hooks run, and the graph's scope names skip a level
            result = self.inner.forward(**dict(zip(names, args, strict=True)), return_dict=True)
            return tuple(result[k] for k in outputs)

    return Head()


def _decoder(model: Any) -> Any:
    """A seq2seq model's decoder pass over given encoder states, without a cache: (ids, states, mask) -> logits."""
    import torch

    class Decoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, *args: Any) -> Any:  # varargs like Head, so both take the same dynamic_shapes
            decoder_input_ids, encoder_hidden_states, attention_mask = args
            out = self.inner(
                decoder_input_ids=decoder_input_ids,
                encoder_outputs=(encoder_hidden_states,),
                attention_mask=attention_mask,
                use_cache=False,
                return_dict=True,
            )
            return (out.logits,)

    return Decoder()


def _seq2seq_parts(model: Any, samples: dict[str, Any]) -> list[_Part]:
    """``encoder.onnx`` (source -> hidden states) and ``decoder.onnx`` (target ids + hidden states -> logits)."""
    import torch

    encoder = model.get_encoder()
    enc_inputs = {k: samples[k] for k in ("input_ids", "attention_mask")}
    with torch.no_grad():  # not inference_mode: the tracing exporter reuses this tensor
        hidden = encoder(**enc_inputs).last_hidden_state
    dec_inputs = {
        "decoder_input_ids": _decoder_start(model, samples["input_ids"]),
        "encoder_hidden_states": hidden,
        "attention_mask": samples["attention_mask"],
    }
    # Source and target lengths are separate axes.
    axes = {k: {0: "batch", 1: "target" if k == "decoder_input_ids" else "source"} for k in dec_inputs}
    return [
        _Part(
            "encoder.onnx",
            _head(encoder, list(enc_inputs), ["last_hidden_state"]),
            enc_inputs,
            ["last_hidden_state"],
            {k: {0: "batch", 1: "source"} for k in enc_inputs},
        ),
        _Part("decoder.onnx", _decoder(model), dec_inputs, ["logits"], axes),
    ]


def _parts(model: Any, samples: dict[str, Any], logit_outputs: tuple[str, ...]) -> list[_Part]:
    """The graphs of one model: a single one returning the ``logit_outputs`` the model gives (a task's), an
    encoder and a decoder for seq2seq models, or a causal LM's prompt and cached-step graphs."""
    import torch

    if is_causal_lm(model):
        return _causal_parts(model, samples)
    model.config.use_cache = False
    if model.config.is_encoder_decoder:
        return _seq2seq_parts(model, samples)
    with torch.inference_mode():
        output = model(**samples)
    outputs = [k for k in logit_outputs if output.get(k) is not None]
    return [_Part("model.onnx", _head(model, list(samples), outputs), dict(samples), outputs)]
