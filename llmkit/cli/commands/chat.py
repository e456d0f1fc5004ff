"""`llmkit generate --chat`: turns through the tokenizer's chat template, streamed or as JSON."""

from __future__ import annotations

import json
from typing import Any

from llmkit.errors import UsageError


def chat_session(loaded: Any, inputs: list[dict[str, Any]], decoding: dict[str, Any], as_json: bool) -> None:
    """--chat: one turn per --prompt, or an interactive loop on stdin until EOF or /exit."""
    from llmkit.generation import chat_prompt

    if loaded.task.stream is None:
        raise UsageError(f"--chat needs a causal language model, not a {loaded.task.name} model")
    messages: list[dict[str, str]] = []
    interactive = not inputs
    chat_prompt(loaded.tokenizer, [{"role": "user", "content": "check"}])  # fails early without a template
    turns = iter(inputs) if inputs else None
    while True:
        text = _next_turn(turns)
        if text is None:
            return
        messages.append({"role": "user", "content": text})
        reply = _reply(loaded, chat_prompt(loaded.tokenizer, messages), decoding, as_json, "" if interactive else text)
        messages.append({"role": "assistant", "content": reply})


def _next_turn(turns: Any) -> str | None:
    """The next user message: from the --prompt list, else a line from stdin; None at the end or on /exit."""
    from llmkit.cli import console

    if turns is not None:
        item = next(turns, None)
        return None if item is None else item["text"]
    try:
        text = console.ask("you")
    except EOFError:
        return None
    return None if text.strip() in ("/exit", "/quit") else text


def _reply(loaded: Any, prompt_text: str, decoding: dict[str, Any], as_json: bool, echo: str) -> str:
    """Generate the assistant's reply and print it: streamed (after ``echo``, dim), whole, or as JSON."""
    from llmkit.cli import console
    from llmkit.cli.show import stream
    from llmkit.generation import can_stream, generate_batch, stream_text

    if as_json or not can_stream(decoding):
        reply = generate_batch(loaded.model, loaded.tokenizer, [prompt_text], decoding, special=False)[0].texts[0]
        if as_json:
            print(json.dumps({"role": "assistant", "content": reply}, ensure_ascii=False))
        else:
            console.out.print(reply)
        return reply
    return stream(echo, stream_text(loaded.model, loaded.tokenizer, prompt_text, decoding, special=False))
