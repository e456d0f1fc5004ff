"""`llmkit export`: a run directory -> a clean directory for tools that do not know llmkit.

``hf`` (default) holds only what transformers (or PEFT) needs: safetensors weights, the config with the
label names, the generation config when the model generates, the tokenizer, and a model card README
with the recipe, data summary and metrics. A LoRA run is written as its adapter, or with ``merge`` as a
full model with the adapter folded into the base weights.

``onnx`` holds one ONNX graph per model part (``model.onnx``; seq2seq models: ``encoder.onnx`` and
``decoder.onnx``, without past key values) made by torch's ONNX exporter, the tokenizer and config beside
it, and the card. Each graph is checked against PyTorch with ONNX Runtime on sample inputs before the command succeeds.
A causal LM gets a key/value cache for incremental decoding: ``model.onnx`` (the prompt) also returns
``present.{i}.key``/``present.{i}.value`` per layer, and ``model_with_past.onnx`` takes them back as
``past_key_values.{i}.key``/``.value`` with the new tokens; both take ``position_ids`` so left-padded batches
work. Its check is greedy decoding, ONNX Runtime against PyTorch, step by step.

``quantize="dynamic-int8"`` measures int8 dynamic quantization of the linear layers: for ``hf`` with
``torch.ao.quantization.quantize_dynamic`` (applied at load time: packed int8 weights have no
safetensors form, so the saved weights stay fp32 and the card shows the one line that quantizes them),
for ``onnx`` with ONNX Runtime's ``quantize_dynamic``, which writes ``*.int8.onnx`` files. The validation
metric, before -> after, comes from the run's own evaluation with the model swapped: an int8 copy for ``hf``, for
``onnx`` a module that runs the fp32 and then the int8 ``model.onnx`` in ONNX Runtime (single-graph models).

Modules: ``write`` (the command), ``card`` (the README), ``samples`` (inputs and timing), ``graphs`` (what a
model exports to), ``onnx`` (export and check), ``onnx_eval`` (scoring a graph), ``quantize``, ``results``.
Torch, ONNX and transformers are imported inside functions, so importing this package is cheap.
"""

from llmkit.export.card import TIMING_SUFFIXES, check_text, quantized_lines, write_model_card
from llmkit.export.graphs import is_causal_lm
from llmkit.export.onnx import ONNX_ATOL, quiet_onnx_tools
from llmkit.export.onnx_eval import onnx_runtime_model
from llmkit.export.quantize import measure_metric, quantize_dynamic_int8, quantize_onnx, quantize_torch
from llmkit.export.results import ExportResult, OnnxCheck, Quantized
from llmkit.export.samples import SAMPLE_TEXTS, sample_inputs
from llmkit.export.write import FORMATS, QUANTIZATIONS, export

__all__ = [
    "FORMATS",
    "ONNX_ATOL",
    "QUANTIZATIONS",
    "SAMPLE_TEXTS",
    "TIMING_SUFFIXES",
    "ExportResult",
    "OnnxCheck",
    "Quantized",
    "check_text",
    "export",
    "is_causal_lm",
    "measure_metric",
    "onnx_runtime_model",
    "quantize_dynamic_int8",
    "quantize_onnx",
    "quantize_torch",
    "quantized_lines",
    "quiet_onnx_tools",
    "sample_inputs",
    "write_model_card",
]
