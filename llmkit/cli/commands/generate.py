"""`llmkit generate`: check, load, run, write.

Everything the user can get wrong is checked before a model loads: option ranges and names, the
``--output`` path (``llmkit.outputs``), the ``--input`` file (``llmkit.cli.commands.inputs``) and a
local ``--model`` folder (``llmkit.models.targets``). Options that do not apply to the loaded model's task
are named in one warning line and ignored.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.cli.guard import guarded, verbose_libraries
from llmkit.cli.options import (
    BatchSizeOpt,
    ChatOpt,
    ChoiceOpt,
    ContextOpt,
    DebugOpt,
    DeviceOpt,
    DtypeOpt,
    GenerateJsonOpt,
    GreedyOpt,
    InputOpt,
    MaxNewTokensOpt,
    ModelOpt,
    NumBeamsOpt,
    NumReturnOpt,
    OutputOpt,
    OverwriteOutputOpt,
    PromptOpt,
    QuestionOpt,
    RepetitionPenaltyOpt,
    SeedOpt,
    StopOpt,
    TaskOpt,
    TemperatureOpt,
    TopKFillOpt,
    TopKOpt,
    TopPOpt,
    VerboseOpt,
)
from llmkit.errors import UsageError

if TYPE_CHECKING:
    from llmkit.cli.invocations import GenerateInvocation


def generate(
    model: ModelOpt,
    prompt: PromptOpt = None,
    input_file: InputOpt = None,
    output: OutputOpt = None,
    overwrite: OverwriteOutputOpt = False,
    question: QuestionOpt = None,
    context: ContextOpt = None,
    choice: ChoiceOpt = None,
    task: TaskOpt = None,
    max_new_tokens: MaxNewTokensOpt = None,
    greedy: GreedyOpt = None,
    temperature: TemperatureOpt = None,
    top_k: TopKOpt = None,
    top_p: TopPOpt = None,
    repetition_penalty: RepetitionPenaltyOpt = None,
    num_beams: NumBeamsOpt = None,
    num_return_sequences: NumReturnOpt = None,
    seed: SeedOpt = None,
    stop: StopOpt = None,
    top_k_fill: TopKFillOpt = None,
    chat: ChatOpt = False,
    batch_size: BatchSizeOpt = 8,
    dtype: DtypeOpt = None,
    device: DeviceOpt = None,
    as_json: GenerateJsonOpt = False,
    debug: DebugOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run a trained model on new inputs: continue text (streamed), classify, answer, translate, fill masks."""
    from llmkit.cli.invocations import Decoding, GenerateInvocation

    decoding = Decoding(
        max_new_tokens=max_new_tokens,
        greedy=greedy,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=repetition_penalty,
        num_beams=num_beams,
        num_return_sequences=num_return_sequences,
        seed=seed,
        stop=tuple(stop or ()),
        top_k_fill=top_k_fill,
    )
    invocation = GenerateInvocation(
        model=model,
        prompts=tuple(prompt or ()),
        input_file=input_file,
        output=output,
        overwrite=overwrite,
        question=question,
        context=context,
        choices=tuple(choice or ()),
        task=task,
        chat=chat,
        batch_size=batch_size,
        dtype=dtype,
        device=device,
        as_json=as_json,
        verbose=verbose,
        decoding=decoding,
    )
    guarded(debug, lambda: run(invocation))


def ignored_options(task: Any, options: dict[str, Any]) -> list[str]:
    """The options the user set that a model of this task does not read (``TaskSpec.generate_options``)."""
    return [key for key in options if key not in task.generate_options]


def spelled(key: str) -> str:
    """How the user typed an option: ``top_p`` -> ``--top-p``."""
    return "--greedy/--sample" if key == "do_sample" else "--" + key.replace("_", "-")


def collect_inputs(invocation: GenerateInvocation) -> list[dict[str, Any]]:
    """--prompt, --question with --context or --choice, and --input, in that order."""
    from llmkit.cli.commands.inputs import read_inputs

    inputs: list[dict[str, Any]] = [{"text": p} for p in invocation.prompts]
    question, context, choices = invocation.question, invocation.context, list(invocation.choices)
    if question is not None or context is not None or choices:
        if not question or not (context or choices) or context == "" or "" in choices:
            raise UsageError("--question goes with --context, or with --choice repeated (all non-empty)")
        given = {"question": question, "context": context, "choices": choices}
        inputs.append({key: value for key, value in given.items() if value})
    if invocation.input_file is not None:
        inputs += read_inputs(invocation.input_file)
    if not inputs and not invocation.chat:
        raise UsageError("give --prompt TEXT, --question with --context or --choice, or --input FILE")
    return inputs


def preflight(invocation: GenerateInvocation, options: dict[str, Any]) -> list[dict[str, Any]]:
    """Every check that needs no model: option ranges, --dtype/--device, --output, inputs, a local --model."""
    from llmkit.generation import check_device, check_dtype, check_options
    from llmkit.models.targets import check_model_ref
    from llmkit.outputs import check_output_file

    check_options({**options, "batch_size": invocation.batch_size})
    check_dtype(invocation.dtype)
    output = invocation.output
    if output is not None and invocation.chat:
        raise UsageError("--output is not written in --chat mode (the conversation is printed); drop one of them")
    if output is not None:
        sources = [invocation.input_file] if invocation.input_file is not None else []
        check_output_file(output, "--output", invocation.overwrite, inputs=sources)
    inputs = collect_inputs(invocation)
    check_model_ref(invocation.model, "--model")
    check_device(invocation.device)
    return inputs


def fit_tokenizer(loaded: Any) -> None:
    """Make ``truncation=True`` cut inputs to the model's context (a trained tokenizer may claim far more)."""
    from llmkit.generation import context_size

    context = context_size(loaded.model)
    limit = getattr(loaded.tokenizer, "model_max_length", None)
    if context is not None and (not isinstance(limit, int) or limit > context):
        loaded.tokenizer.model_max_length = context


def _applicable(loaded: Any, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` without those the loaded model does not read, which one warning line names."""
    from llmkit.cli import console

    ignored = ignored_options(loaded.task, options)
    if ignored:
        verb = "does" if len(ignored) == 1 else "do"
        console.warn(f"{', '.join(map(spelled, ignored))} {verb} not apply to a {loaded.task.name} model; ignored")
    return {k: v for k, v in options.items() if k not in ignored}


def run(invocation: GenerateInvocation) -> None:
    """`llmkit generate`: check everything cheap, load the model, then chat, stream or predict."""
    from llmkit.cli import console
    from llmkit.cli.commands.inputs import check_fields
    from llmkit.cli.show import show_predictions, stream
    from llmkit.generation import can_stream, check_options, decoding_options

    options = invocation.decoding.chosen()
    inputs = preflight(invocation, options)
    verbose_libraries(invocation.verbose)
    console.log_as_lines("llmkit.generation")
    from llmkit.train import load_for_inference

    loaded = load_for_inference(invocation.model, invocation.task, dtype=invocation.dtype, device=invocation.device)
    fit_tokenizer(loaded)
    options = _applicable(loaded, options)
    check_fields(inputs, loaded.task)
    decoding = decoding_options(loaded.recipe, options)
    check_options(decoding)
    if invocation.chat:
        from llmkit.cli.commands.chat import chat_session

        chat_session(loaded, inputs, decoding, invocation.as_json)
        return
    output, as_json = invocation.output, invocation.as_json
    if loaded.task.stream is not None and len(inputs) == 1 and not as_json and output is None and can_stream(decoding):
        text = inputs[0]["text"]
        stream(text, loaded.task.stream(loaded.model, loaded.tokenizer, text, decoding))
        return
    rows = predict(loaded, inputs, options, invocation.batch_size)
    if output is not None:
        _write(output, rows)
    if output is None or as_json:
        show_predictions(rows, as_json, loaded.task)


def _write(output: Path, rows: list[dict[str, Any]]) -> None:
    from llmkit.cli import console
    from llmkit.outputs import write_jsonl

    write_jsonl(output, rows, "--output")
    console.info(f"wrote {len(rows)} results to {output}")


def predict(loaded: Any, inputs: list[dict[str, Any]], options: dict[str, Any], batch_size: int) -> list[dict]:
    """Run the task's ``predict`` over every input with a progress bar, and say how fast it went."""
    from llmkit.cli import console
    from llmkit.cli.show import batch_progress

    started = time.perf_counter()
    with batch_progress(len(inputs), enabled=len(inputs) > batch_size) as advance:
        rows = loaded.task.predict(
            loaded.model,
            loaded.tokenizer,
            inputs,
            recipe=loaded.recipe,
            options={**options, "batch_size": batch_size},
            on_batch=advance,
        )
    elapsed = time.perf_counter() - started
    tokens = loaded.task.generated_tokens(rows) if loaded.task.generated_tokens is not None else 0
    if tokens:
        console.info(f"generated {tokens} tokens in {elapsed:.2f}s ({tokens / elapsed:.1f} tokens/s)")
    return rows
