"""The inputs of `llmkit generate`: ``--prompt``, ``--question``/``--context`` and ``--input FILE``.

``--input`` is a ``.txt`` file (one input per line), a ``.jsonl`` file (one JSON object per line with
``text`` or ``prompt``, or ``question`` with ``context`` for QA models or with a list of ``choices`` for
multiple-choice models; a bare JSON string is a text) or a
``.json`` file holding a list of such items. Blank lines are skipped. Each problem is a data error
(exit 3) naming the file and its 1-based line: a missing file, a directory, no input at all, bytes that
are not UTF-8, a line that is not JSON, an object with none of the fields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmkit.errors import DataError, UsageError

if TYPE_CHECKING:
    from llmkit.tasks.spec import TaskSpec

TEXT_KEYS = ("text", "prompt")
QA_KEYS = ("question", "context")
CHOICES_KEY = "choices"  # a question's choices (multiple-choice models): a list of strings
BOM = b"\xef\xbb\xbf"  # the UTF-8 byte order mark some editors write first


def _item(value: Any, where: str) -> dict[str, Any]:
    """One input from a parsed JSON value, or a DataError naming ``where`` (file:line)."""
    if isinstance(value, str):
        return {"text": value}
    if not isinstance(value, dict):
        kind = "null" if value is None else type(value).__name__
        raise DataError(f"--input: {where}: expected a JSON object (or a string), got {kind}")
    item = dict(value)
    key = next((k for k in TEXT_KEYS if k in item), None)
    if key is not None:
        if not isinstance(item[key], str):
            raise DataError(f"--input: {where}: '{key}' must be a string, got {type(item[key]).__name__}")
        item["text"] = item[key]
        return item
    if CHOICES_KEY in item:
        choices = item[CHOICES_KEY]
        if not isinstance(item.get("question"), str):
            raise DataError(f"--input: {where}: an input with '{CHOICES_KEY}' needs 'question' as a string")
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise DataError(f"--input: {where}: '{CHOICES_KEY}' must be a list of strings")
        return item
    if any(k in item for k in QA_KEYS):
        for k in QA_KEYS:
            if not isinstance(item.get(k), str):
                raise DataError(f"--input: {where}: a QA input needs '{k}' as a string")
        return item
    fields = ", ".join(repr(k) for k in list(item)[:5]) or "none"
    raise DataError(
        f"--input: {where}: the object has no 'text' or 'prompt' field (nor 'question' and 'context' for a QA "
        f"model, or 'question' and 'choices' for a multiple-choice one); its fields: {fields}"
    )


def _lines(path: Path, raw: bytes) -> list[tuple[int, str]]:
    """(1-based line number, text) of every non-blank line; a DataError names a line that is not UTF-8."""
    raw = raw.removeprefix(BOM)
    found = []
    for number, chunk in enumerate(raw.splitlines(), start=1):
        try:
            line = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"--input: {path}:{number}: not UTF-8 text (byte 0x{chunk[exc.start]:02x} at column "
                f"{exc.start + 1}); save the file as UTF-8"
            ) from None
        if line.strip():
            found.append((number, line))
    return found


def _json_list(path: Path, lines: list[tuple[int, str]]) -> list[dict[str, Any]]:
    text = "\n".join(line for _, line in lines)
    try:
        data = json.loads(text)
    except ValueError as exc:
        first = lines[0][0] if lines else 1  # blank lines before the JSON shift its line numbers
        raise DataError(f"--input: {path}:{exc.lineno + first - 1}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise DataError(f"--input: {path}: a .json input file must hold a list of inputs; use .jsonl for one per line")
    return [_item(value, f"{path} item {number}") for number, value in enumerate(data, start=1)]


def read_inputs(path: Path) -> list[dict[str, Any]]:
    """Inputs from a .txt (one per line), .jsonl (one JSON object per line) or .json (a list) file."""
    if path.is_dir():
        raise DataError(f"--input: {path} is a directory; give a .txt (one input per line) or .jsonl file")
    if not path.is_file():
        raise DataError(f"--input: {path}: no such file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"--input: cannot read {path}: {exc.strerror or exc}") from None
    lines = _lines(path, raw)
    if not lines:
        if not raw.removeprefix(BOM):
            raise DataError(f"--input: {path} is empty; give one input per line")
        raise DataError(f"--input: {path} holds only blank lines; give one input per line")
    suffix = path.suffix.lower()
    if suffix == ".json":
        items = _json_list(path, lines)
        if not items:
            raise DataError(f"--input: {path} holds an empty list")
        return items
    if suffix != ".jsonl":
        return [{"text": line} for _, line in lines]
    items = []
    for number, line in lines:
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise DataError(f"--input: {path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        items.append(_item(value, f"{path}:{number}"))
    return items


def check_fields(inputs: list[dict[str, Any]], task: TaskSpec) -> None:
    """Every input must carry the text a text model reads (``TaskSpec.input_fields``).

    A task that reads other fields (QA: question and context) names an input without them itself.
    """
    if "text" not in task.input_fields:
        return
    for number, item in enumerate(inputs, start=1):
        if "text" not in item:
            raise UsageError(
                f"input {number}: a {task.name} model reads text (--prompt TEXT, or 'text'/'prompt' in --input); "
                "--question/--context are for extractive QA models"
            )
        # a causal LM continues an empty prompt from its start token; every other model would label nothing
        if task.stream is None and not str(item["text"]).strip():
            raise UsageError(f"input {number}: the text is empty; a {task.name} model needs something to read")
