"""Instruction data for ``sft``: the three row formats, chat templates, and which tokens carry labels.

Pure Python over a tokenizer: every function here is unit-tested on hand-written rows.

Assistant tokens are found by rendering the conversation turn by turn: the text before assistant turn i is the
template applied to the first i messages with the generation prompt, its end is the template applied to the
first i + 1 messages. This works for every template that renders a conversation's start the same way whether or
not more turns follow (every common template does), with or without ``{% generation %}`` markers. TRL's
``assistant_only_loss`` needs those markers, which few templates carry (TRL ships patched copies for known
model families only) and some place so that the end-of-turn token is left out of the loss (TRL warns that the
model then never learns to stop); here the span runs to the end of the turn, end-of-turn token included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from llmkit.data.rows import NOT_TEXT, as_text
from llmkit.errors import ConfigError, DataError

IGNORE_INDEX = -100
Format = Literal["conversations", "alpaca", "prompt_completion"]
LossOn = Literal["assistant", "completion", "all"]

# ChatML (OpenAI's format, used by Qwen and many open chat models): its two special tokens are added to the
# tokenizer (the embeddings grow to match) and <|im_end|> becomes the end-of-sequence token, so generation stops
# at the end of the assistant's turn.
CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
BUILTIN_TEMPLATES: dict[str, tuple[str, tuple[str, ...], str]] = {
    # name -> (template, special tokens it adds, end-of-sequence token)
    "chatml": (CHATML, ("<|im_start|>", "<|im_end|>"), "<|im_end|>"),
}
ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class Example:
    """One training example: a conversation, or a plain prompt and completion (no chat template)."""

    messages: list[dict[str, str]] | None = None
    prompt: str | None = None
    completion: str | None = None


def detect_format(columns: list[str], messages_column: str) -> Format | None:
    """The format a table's columns say, as TRL reads them: messages, then Alpaca, then prompt/completion."""
    if messages_column in columns:
        return "conversations"
    if {"instruction", "output"} <= set(columns):
        return "alpaca"
    if {"prompt", "completion"} <= set(columns):
        return "prompt_completion"
    return None


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    """A list of {role, content} dicts, checked: known roles, text content, ending with the assistant."""
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: expected a non-empty list of {{role, content}} messages, got {value!r:.80}")
    found = []
    for message in value:
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise DataError(f"{where}: each message needs 'role' and 'content', got {message!r:.80}")
        if message["role"] not in ROLES:
            raise DataError(f"{where}: unknown role '{message['role']}' (known: {', '.join(ROLES)})")
        found.append({"role": str(message["role"]), "content": str(message["content"] or "")})
    if found[-1]["role"] != "assistant":
        raise DataError(f"{where}: the last message must be the assistant's reply (it is '{found[-1]['role']}')")
    return found


def is_blank(value: Any) -> bool:
    """No text to learn from: null, an empty or white-space string, an empty list."""
    return value is None or (isinstance(value, str) and not value.strip()) or (isinstance(value, list) and not value)


def missing_reply(row: dict[str, Any], fmt: Format, messages_column: str) -> str | None:
    """Why a row has nothing usable to train on (the column to name), or None. Such rows are left out and
    counted (``--strict``: a data error) rather than trained on an empty target or a Python repr."""
    if fmt == "alpaca":
        if any(as_text(row.get(column)) is NOT_TEXT for column in ("instruction", "input", "output")):
            return "an 'instruction', 'input' or 'output' that is not text"
        return "no reply ('output' null or empty)" if is_blank(row.get("output")) else None
    if fmt == "prompt_completion":
        kinds = {type(value) for value in (row.get("prompt"), row.get("completion")) if value is not None}
        if dict in kinds or (list in kinds and kinds != {list}):
            return "a 'prompt' or 'completion' that is neither text nor a list of messages (both of one kind)"
        return "no reply ('completion' null or empty)" if is_blank(row.get("completion")) else None
    messages = row.get(messages_column)
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        last = messages[-1]
        if last.get("role") == "assistant" and is_blank(last.get("content")):
            return f"no reply (the last assistant message in '{messages_column}' is empty)"
    return None


def to_example(row: dict[str, Any], fmt: Format, messages_column: str, where: str) -> Example:
    """One raw row -> an Example. Alpaca rows become a user turn (instruction, blank line, input) and a reply."""
    if fmt == "conversations":
        return Example(messages=_messages(row.get(messages_column), where))
    if fmt == "alpaca":
        instruction, extra = str(row.get("instruction") or ""), str(row.get("input") or "")
        user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
        return Example(messages=[{"role": "user", "content": user}, {"role": "assistant", "content": row["output"]}])
    prompt, completion = row.get("prompt"), row.get("completion")
    if isinstance(prompt, list) and isinstance(completion, list):  # conversational prompt/completion (TRL)
        return Example(messages=_messages([*prompt, *completion], where))
    return Example(prompt=str(prompt or ""), completion=str(completion or ""))


def use_template(tokenizer: Any, chat_template: str | None) -> list[str]:
    """Give the tokenizer the recipe's template (a built-in name or a Jinja string); returns the tokens added.

    ``None`` keeps the tokenizer's own. A built-in adds its special tokens and end-of-sequence token; the
    runner grows the embeddings to the new vocabulary size.
    """
    if chat_template is None:
        return []
    if chat_template in BUILTIN_TEMPLATES:
        template, specials, eos = BUILTIN_TEMPLATES[chat_template]
        missing = [token for token in specials if token not in tokenizer.get_vocab()]
        if missing:
            tokenizer.add_special_tokens({"additional_special_tokens": missing})
        tokenizer.eos_token = eos
        tokenizer.chat_template = template
        return missing
    if "{%" not in chat_template and "{{" not in chat_template:
        names = ", ".join(BUILTIN_TEMPLATES)
        raise ConfigError(f"sft.chat_template: '{chat_template:.40}' is neither a built-in ({names}) nor Jinja")
    tokenizer.chat_template = chat_template
    return []


def render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool = False) -> str:
    """The conversation as text through the tokenizer's chat template."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def trained_spans(tokenizer: Any, messages: list[dict[str, str]], loss_on: LossOn) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans whose tokens carry labels."""
    text = render(tokenizer, messages)
    if loss_on == "all":
        return text, [(0, len(text))]
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if loss_on == "completion":
        turns = turns[-1:]
    spans = []
    for i in turns:
        start, end = render(tokenizer, messages[:i], True), render(tokenizer, messages[: i + 1])
        if not (text.startswith(start) and text.startswith(end) and len(end) >= len(start)):
            raise DataError(
                "sft: the chat template renders the start of a conversation differently when more turns follow; "
                "assistant turns cannot be located (set sft.loss_on: all, or sft.chat_template: chatml)"
            )
        spans.append((len(start), len(end)))
    return text, spans


def encode(tokenizer: Any, example: Example, loss_on: LossOn) -> tuple[list[int], list[int]]:
    """Token ids and labels (IGNORE_INDEX where no loss is taken) of one example.

    A token carries a label when its first character lies in a trained span, so a token that merges across a
    span's start is trained on as a whole, as it would be generated.
    """
    if example.messages is not None:
        text, spans = trained_spans(tokenizer, example.messages, loss_on)
    else:
        eos = tokenizer.eos_token or ""
        text = f"{example.prompt}{example.completion}{eos}"
        spans = [(0 if loss_on == "all" else len(example.prompt or ""), len(text))]
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    labels = [
        token if any(begin <= start < end for begin, end in spans) else IGNORE_INDEX
        for token, (start, _) in zip(ids, encoded["offset_mapping"], strict=True)
    ]
    return ids, labels


def prompt_and_reference(tokenizer: Any, example: Example) -> tuple[str, str]:
    """What a held-out example asks (everything before the last reply, ready to generate from) and that reply."""
    if example.messages is not None:
        return render(tokenizer, example.messages[:-1], True), example.messages[-1]["content"]
    return example.prompt or "", example.completion or ""
