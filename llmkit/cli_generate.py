"""The body of `llmkit generate` (the Typer signature stays in ``cli.py``): check, load, run, write.

Everything the user can get wrong is checked before a model loads: option ranges and names, the
``--output`` path (``llmkit.outputs``), the ``--input`` file (``llmkit.prompts``) and a local ``--model``
folder (``llmkit.targets``). Options that do not apply to the loaded model's task are named in one
warning line and ignored.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from llmkit.errors import UsageError

DECODING = (
    "max_new_tokens",
    "do_sample",
    "temperature",
    "top_k",
    "top_p",
    "repetition_penalty",
    "num_beams",
    "num_return_sequences",
    "seed",
)
# What each kind of model reads from the command line (by the task's Auto class; anything else: none).
APPLIES = {
    "AutoModelForCausalLM": (*DECODING, "stop"),
    "AutoModelForSeq2SeqLM": DECODING,
    "AutoModelForMaskedLM": ("top_k_fill",),
}
QUESTION_MODEL = "AutoModelForQuestionAnswering"


def decoding_flags(flags: dict[str, Any]) -> dict[str, Any]:
    """The decoding options the user set, under llmkit's names (``--greedy`` -> ``do_sample: False``)."""
    greedy = flags.get("greedy")
    options = {key: flags.get(key) for key in (*DECODING, "top_k_fill") if key != "do_sample"}
    options["do_sample"] = None if greedy is None else not greedy
    options["stop"] = flags.get("stop") or None
    return {key: value for key, value in options.items() if value is not None}


def ignored_options(task: Any, options: dict[str, Any]) -> list[str]:
    """The options the user set that a model of this task does not read."""
    applies = APPLIES.get(task.auto_model, ())
    return [key for key in options if key not in applies]


def spelled(key: str) -> str:
    """How the user typed an option: ``top_p`` -> ``--top-p``."""
    return "--greedy/--sample" if key == "do_sample" else "--" + key.replace("_", "-")


def collect_inputs(flags: dict[str, Any]) -> list[dict[str, Any]]:
    """--prompt, --question/--context and --input, in that order."""
    from llmkit.prompts import read_inputs

    inputs: list[dict[str, Any]] = [{"text": p} for p in flags.get("prompt") or []]
    question, context = flags.get("question"), flags.get("context")
    if question is not None or context is not None:
        if not (question and context):
            raise UsageError("--question and --context go together (both non-empty)")
        inputs.append({"question": question, "context": context})
    if flags.get("input_file") is not None:
        inputs += read_inputs(flags["input_file"])
    if not inputs and not flags.get("chat"):
        raise UsageError("give --prompt TEXT, --question with --context, or --input FILE")
    return inputs


def preflight(flags: dict[str, Any], options: dict[str, Any]) -> list[dict[str, Any]]:
    """Every check that needs no model: option ranges, --dtype/--device, --output, inputs, a local --model."""
    from llmkit.generation import check_device, check_dtype, check_options
    from llmkit.outputs import check_output_file
    from llmkit.targets import check_model_ref

    check_options({**options, "batch_size": flags["batch_size"]})
    check_dtype(flags.get("dtype"))
    output = flags.get("output")
    if output is not None and flags.get("chat"):
        raise UsageError("--output is not written in --chat mode (the conversation is printed); drop one of them")
    if output is not None:
        sources = [flags["input_file"]] if flags.get("input_file") is not None else []
        check_output_file(output, "--output", flags.get("overwrite", False), inputs=sources)
    inputs = collect_inputs(flags)
    check_model_ref(flags["model"], "--model")
    check_device(flags.get("device"))
    return inputs


def fit_tokenizer(loaded: Any) -> None:
    """Make ``truncation=True`` cut inputs to the model's context (a trained tokenizer may claim far more)."""
    from llmkit.generation import context_size

    context = context_size(loaded.model)
    limit = getattr(loaded.tokenizer, "model_max_length", None)
    if context is not None and (not isinstance(limit, int) or limit > context):
        loaded.tokenizer.model_max_length = context


def run(flags: dict[str, Any]) -> None:
    """`llmkit generate` with the parsed command line ``flags`` (the Typer parameter names)."""
    from llmkit import ui
    from llmkit.generation import can_stream, check_options, decoding_options
    from llmkit.prompts import check_fields

    options = decoding_flags(flags)
    inputs = preflight(flags, options)
    if flags.get("verbose"):
        os.environ["LLMKIT_VERBOSE"] = "1"
    ui.log_as_lines("llmkit.generation")
    from llmkit import runner

    loaded = runner.load_for_inference(
        flags["model"], flags.get("task"), dtype=flags.get("dtype"), device=flags.get("device")
    )
    fit_tokenizer(loaded)
    ignored = ignored_options(loaded.task, options)
    if ignored:
        verb = "does" if len(ignored) == 1 else "do"
        ui.warn(f"{', '.join(map(spelled, ignored))} {verb} not apply to a {loaded.task.name} model; ignored")
        options = {k: v for k, v in options.items() if k not in ignored}
    check_fields(inputs, loaded.task.name, loaded.task.auto_model == QUESTION_MODEL)
    decoding = decoding_options(loaded.recipe, options)
    check_options(decoding)
    if flags.get("chat"):
        chat_session(loaded, inputs, decoding, flags.get("as_json", False))
        return
    output: Path | None = flags.get("output")
    as_json = flags.get("as_json", False)
    if loaded.task.stream is not None and len(inputs) == 1 and not as_json and output is None and can_stream(decoding):
        text = inputs[0]["text"]
        ui.stream(text, loaded.task.stream(loaded.model, loaded.tokenizer, text, decoding))
        return
    rows = predict(loaded, inputs, options, flags["batch_size"])
    if output is not None:
        from llmkit.outputs import write_jsonl

        write_jsonl(output, rows, "--output")
        ui.info(f"wrote {len(rows)} results to {output}")
    if output is None or as_json:
        ui.show_predictions(rows, as_json)


def predict(loaded: Any, inputs: list[dict[str, Any]], options: dict[str, Any], batch_size: int) -> list[dict]:
    """Run the task's ``predict`` over every input with a progress bar, and say how fast it went."""
    from llmkit import ui

    started = time.perf_counter()
    with ui.batch_progress(len(inputs), enabled=len(inputs) > batch_size) as advance:
        rows = loaded.task.predict(
            loaded.model,
            loaded.tokenizer,
            inputs,
            recipe=loaded.recipe,
            options={**options, "batch_size": batch_size},
            on_batch=advance,
        )
    elapsed = time.perf_counter() - started
    tokens = sum(int(row.get("new_tokens", 0)) for row in rows)
    if tokens:
        ui.info(f"generated {tokens} tokens in {elapsed:.2f}s ({tokens / elapsed:.1f} tokens/s)")
    return rows


def chat_session(loaded: Any, inputs: list[dict[str, Any]], decoding: dict[str, Any], as_json: bool) -> None:
    """--chat: one turn per --prompt, or an interactive loop on stdin until EOF or /exit."""
    from llmkit import ui
    from llmkit.generation import can_stream, chat_prompt, generate_batch, stream_text

    if loaded.task.stream is None:
        raise UsageError(f"--chat needs a causal language model, not a {loaded.task.name} model")
    messages: list[dict[str, str]] = []
    interactive = not inputs
    chat_prompt(loaded.tokenizer, [{"role": "user", "content": "check"}])  # fails early without a template
    turns = iter(inputs) if inputs else None
    while True:
        if turns is not None:
            item = next(turns, None)
            if item is None:
                return
            text = item["text"]
        else:
            try:
                text = ui.ask("you")
            except EOFError:
                return
            if text.strip() in ("/exit", "/quit"):
                return
        messages.append({"role": "user", "content": text})
        prompt_text = chat_prompt(loaded.tokenizer, messages)
        if as_json or not can_stream(decoding):
            reply = generate_batch(loaded.model, loaded.tokenizer, [prompt_text], decoding, special=False)[0].texts[0]
            if as_json:
                print(json.dumps({"role": "assistant", "content": reply}, ensure_ascii=False))
            else:
                ui.out.print(reply)
        else:
            reply = ui.stream(
                "" if interactive else text,
                stream_text(loaded.model, loaded.tokenizer, prompt_text, decoding, special=False),
            )
        messages.append({"role": "assistant", "content": reply})
