"""`llmkit explain`: check the options and the output path, explain one prediction, show or write it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from llmkit.cli.guard import guarded, verbose_libraries
from llmkit.cli.options import (
    ContextOpt,
    DebugOpt,
    DeviceOpt,
    ExplainOutputOpt,
    ExplainTargetOpt,
    MaxNewTokensOpt,
    MethodOpt,
    ModelOpt,
    OverwriteOutputOpt,
    QuestionOpt,
    StepsOpt,
    TaskOpt,
    VerboseOpt,
)

if TYPE_CHECKING:
    from llmkit.cli.invocations import ExplainInvocation


def explain(
    model: ModelOpt,
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="The input text to explain.")] = None,
    question: QuestionOpt = None,
    context: ContextOpt = None,
    method: MethodOpt = "integrated-gradients",
    target: ExplainTargetOpt = None,
    task: TaskOpt = None,
    steps: StepsOpt = 50,
    max_new_tokens: MaxNewTokensOpt = None,
    output: ExplainOutputOpt = None,
    overwrite: OverwriteOutputOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the explanation as one JSON object.")] = False,
    device: DeviceOpt = None,
    debug: DebugOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Show which input tokens a prediction rests on: attributions (Captum), attention and attention rollout."""
    from llmkit.cli.invocations import ExplainInvocation

    invocation = ExplainInvocation(
        model=model,
        prompt=prompt,
        question=question,
        context=context,
        method=method,
        target=target,
        task=task,
        steps=steps,
        max_new_tokens=20 if max_new_tokens is None else max_new_tokens,
        output=output,
        overwrite=overwrite,
        as_json=as_json,
        device=device,
        verbose=verbose,
    )
    guarded(debug, lambda: run(invocation))


def run(invocation: ExplainInvocation) -> None:
    """Check everything cheap (options, --output, --model), then explain and show, print JSON or write HTML."""
    from llmkit.cli import console
    from llmkit.cli.explain_view import show_explanation
    from llmkit.errors import UsageError
    from llmkit.generation import check_device
    from llmkit.models.targets import check_model_ref
    from llmkit.outputs import check_output_file, write_atomic

    if not invocation.prompt and not (invocation.question and invocation.context):
        raise UsageError("give --prompt TEXT, or --question with --context for a question answering model")
    if invocation.max_new_tokens < 1:
        raise UsageError(f"--max-new-tokens must be at least 1 (got {invocation.max_new_tokens})")
    if invocation.output is not None:
        check_output_file(invocation.output, "--output", invocation.overwrite)
    check_model_ref(invocation.model, "--model")
    check_device(invocation.device)
    verbose_libraries(invocation.verbose)
    from llmkit.explain import Request, check_method, explain
    from llmkit.explain.page import render

    check_method(invocation.method, invocation.steps)
    request = Request(
        prompt=invocation.prompt,
        question=invocation.question,
        context=invocation.context,
        target=invocation.target,
        max_new_tokens=invocation.max_new_tokens,
    )
    found = explain(
        invocation.model,
        request,
        method=invocation.method,
        steps=invocation.steps,
        task=invocation.task,
        device=invocation.device,
        maps=invocation.output is not None,
    )
    if invocation.output is not None:
        write_atomic(invocation.output, render(found, invocation.model), "--output")
        console.info(f"wrote {invocation.output}")
    show_explanation(found, invocation.as_json)
