"""Why a data file cannot be read, in the user's terms: its encoding, its JSON lines, its CSV rows.

datasets' loaders fail on a bad file with a pandas or pyarrow error that names neither the line nor the
fix. ``explain_failure`` runs only after such a failure and reads the file once, streaming, to say what
is wrong and where; ``blank_file`` runs before every load but stops at the first character that is not
whitespace, so a good file costs a few bytes and a cached dataset is never re-read.

Stdlib only; line numbers are 1-based, byte offsets 0-based from the start of the file.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

SHOWN = 60  # characters of a bad line quoted in a message
CHUNK = 1 << 16


def blank_file(path: str | Path) -> str | None:
    """``"is empty (0 bytes)"`` or ``"has only blank lines"`` for a file with nothing in it, else None."""
    with open(path, "rb") as handle:
        first = handle.read(CHUNK)
        if not first:
            return "is empty (0 bytes)"
        chunk = first
        while chunk:
            if chunk.strip():
                return None
            chunk = handle.read(CHUNK)
    return "has no rows (only blank lines)"


def utf8_problem(path: str | Path) -> str | None:
    """Where a file stops being UTF-8: line, byte offset, the reason and the byte; None when it is UTF-8."""
    with open(path, "rb") as handle:
        head = handle.read(4)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "is UTF-16 text (it starts with a UTF-16 byte-order mark); re-save it as UTF-8"
        handle.seek(0)
        offset = 0
        for number, line in enumerate(handle, start=1):  # a UTF-8 sequence never holds a newline byte
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                where = offset + exc.start
                return (
                    f"not UTF-8 text at line {number} (byte {where}: {exc.reason} 0x{line[exc.start]:02x}); "
                    "re-save it as UTF-8"
                )
            offset += len(line)
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _quote(line: str) -> str:
    line = line.strip()
    return repr(line[:SHOWN] + ("..." if len(line) > SHOWN else ""))


def json_problem(path: str | Path) -> str | None:
    """The first line of a JSON/JSONL file that is not a JSON object (or the error of a JSON document)."""
    text = Path(path).read_text(encoding="utf-8-sig")
    stripped = text.lstrip()
    if not stripped:
        return "has no rows (only blank lines)"
    if stripped.startswith("["):
        return _json_document_problem(text)
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.strip())
    try:
        json.loads(lines[first])
    except ValueError:
        if stripped.startswith("{"):  # a pretty-printed document, not JSON lines
            return _json_document_problem(text)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            return f"line {number} is not valid JSON ({exc.msg} at column {exc.colno}): {_quote(line)}"
        if not isinstance(value, dict):
            return (
                f"line {number} is a JSON {_json_kind(value)}, not an object of column values "
                f'({{"column": value, ...}}): {_quote(line)}'
            )
    return None


def _json_document_problem(text: str) -> str | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        line = text.splitlines()[exc.lineno - 1] if text.splitlines() else ""
        return f"not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}): {_quote(line)}"
    if isinstance(value, list):
        for number, item in enumerate(value, start=1):
            if not isinstance(item, dict):
                return f"item {number} of the top-level array is a JSON {_json_kind(item)}, not an object"
        return None if value else "has no rows (an empty JSON array)"
    return None


def _blank_record(record: list[str]) -> bool:
    """A line pandas skips: empty or whitespace only (a line of bare delimiters is a row of empty values)."""
    return not record or (len(record) == 1 and not record[0].strip())


def csv_problem(path: str | Path, delimiter: str = ",") -> str | None:
    """The first CSV record with more fields than the header, an unclosed quote, or no data rows at all."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, strict=True)
        header: list[str] | None = None
        header_line, rows, start = 0, 0, 1
        try:
            for record in reader:
                if not _blank_record(record):
                    if header is None:
                        header, header_line = record, start
                    elif len(record) > len(header):
                        return (
                            f"line {start} has {len(record)} fields but the header (line {header_line}) has "
                            f"{len(header)}; quote values that contain {delimiter!r}"
                        )
                    else:
                        rows += 1
                start = reader.line_num + 1
        except csv.Error as exc:
            if "end of data" in str(exc) or "EOF" in str(exc):
                return f"line {start}: a quoted value is never closed (a '\"' without its closing '\"')"
            return f"line {start}: {exc}"
    if header is not None and rows == 0:
        return "has no rows (only a header line)"
    return None


def csv_row_lines(path: str | Path, delimiter: str = ",") -> list[int]:
    """The line on which each data record of a CSV file starts (the header and blank lines skipped, as pandas)."""
    lines: list[int] = []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        start, seen_header = 1, False
        for record in reader:
            if not _blank_record(record):
                if seen_header:
                    lines.append(start)
                seen_header = True
            start = reader.line_num + 1
    return lines


def json_row_lines(path: str | Path) -> list[int] | None:
    """The line of each row of a JSON-lines file (blank lines skipped); None for a JSON document."""
    with open(path, encoding="utf-8-sig") as handle:
        lines = [number for number, line in enumerate(handle, start=1) if line.strip()]
    if lines:
        with open(path, encoding="utf-8-sig") as handle:
            first = next(line for line in handle if line.strip()).strip()
        try:
            if not isinstance(json.loads(first), dict):
                return None
        except ValueError:
            return None  # a document spread over several lines
    return lines


def text_row_lines(path: str | Path) -> list[int]:
    """Text files read by line: row k is line k + 1 (universal newlines, as datasets reads them)."""
    with open(path, encoding="utf-8") as handle:
        return [number for number, _ in enumerate(handle, start=1)]


def row_lines(path: str | Path, builder: str, kwargs: dict[str, Any]) -> list[int] | None:
    """The line on which each row of a file starts, or None when rows are not lines (Parquet, documents)."""
    if builder == "csv":
        return csv_row_lines(path, kwargs.get("delimiter", ","))
    if builder == "json":
        return json_row_lines(path)
    if builder == "text" and kwargs.get("sample_by", "line") == "line":
        return text_row_lines(path)
    return None


def naming(path: str | Path, problem: str) -> str:
    """``"train.csv is empty (0 bytes)"`` or ``"train.csv: not UTF-8 text at line 3 ..."``."""
    return f"{path} {problem}" if problem.startswith(("is ", "has ")) else f"{path}: {problem}"


def file_problem(path: str | Path, builder: str, kwargs: dict[str, Any]) -> str | None:
    """What is wrong with one file that datasets could not read, or None when these checks find nothing."""
    if builder == "parquet":
        return None
    problem = blank_file(path) or utf8_problem(path)
    if problem is None and builder == "json":
        problem = json_problem(path)
    if problem is None and builder == "csv":
        problem = csv_problem(path, kwargs.get("delimiter", ","))
    return problem


def library_cause(exc: BaseException) -> str:
    """The most telling line of a library error chain (datasets wraps the parser's error)."""
    for error in (exc.__cause__, exc):
        text = str(error).strip() if error is not None else ""
        if text and not text.startswith("An error occurred while generating the dataset"):
            return text.splitlines()[-1]
    return type(exc.__cause__ or exc).__name__
