"""Fault-table rows: bad data files (exit 3). Each message names the recipe key, the file and the line.

One row per class of problem a careful user meets: empty and header-only files, blank corpora, text that
is not UTF-8, malformed JSON lines, rows that are not objects, ragged or unclosed CSV records, label
columns of mixed types, rows without a label or target under ``--strict``, splits with no usable row, a
bad second file of a split, a carved validation split (blamed on the training file), ``eval --data``.
Lines and byte offsets are computed from the fixtures, so a row fails if a message points elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fault_table import FIXTURES, Case, Env

# fixture file -> the recipe key holding it in <task>-tiny.yaml
KEYS = {
    "textcls/train.csv": ("textcls", "train_file"),
    "textcls/validation.csv": ("textcls", "validation_file"),
    "translation/train.jsonl": ("translation", "train_file"),
    "translation/validation.jsonl": ("translation", "validation_file"),
    "qa/train.json": ("qa", "train_file"),
    "qa/validation.jsonl": ("qa", "validation_file"),
    "qa/test.csv": ("qa", "test_file"),
    "lm/train.txt": ("clm", "train_file"),
    "lm/validation.txt": ("clm", "validation_file"),
    "sft/train.jsonl": ("sft", "train_file"),
    "dpo/train.jsonl": ("dpo", "train_file"),
}


def _lines(relative: str) -> list[str]:
    return (FIXTURES / relative).read_text(encoding="utf-8").splitlines(keepends=True)


def _latin1_at(relative: str, line: int) -> tuple[bytes, int]:
    """The fixture with 'café ' put at the start of ``line`` in Latin-1, and the offset of the bad byte."""
    lines = _lines(relative)
    before = "".join(lines[: line - 1]).encode("utf-8")
    rest = "".join(lines[line:]).encode("utf-8")
    return before + ("café " + lines[line - 1]).encode("latin-1") + rest, len(before) + 3


def _carved_validation_row() -> int:
    """A training row that ``validation_split_percentage: 10`` with the fixture's seed 7 moves to validation."""
    import datasets

    rows = datasets.Dataset.from_dict({"row": list(range(len(_lines("textcls/train.csv")) - 1))})
    return rows.train_test_split(test_size=0.1, seed=7, shuffle=True)["test"]["row"][0]


LATIN1_TRAIN, LATIN1_TRAIN_BYTE = _latin1_at("textcls/train.csv", 12)
LATIN1_PAIRS, _ = _latin1_at("translation/validation.jsonl", 5)
CARVED_ROW = _carved_validation_row()


def _jsonl(rows: list) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def _edit_lines(relative: str, number: int, change: Callable[[str], str]) -> str:
    lines = _lines(relative)
    lines[number - 1] = change(lines[number - 1])
    return "".join(lines)


def _no_label(line: str) -> str:
    return line.rsplit(",", 1)[0] + ",\n"


def _json_line(change: Callable[[dict], None]) -> Callable[[str], str]:
    def edit(line: str) -> str:
        row = json.loads(line)
        change(row)
        return json.dumps(row) + "\n"

    return edit


def _replace(
    relative: str, data: str | bytes, *args: str, task: str = "", command: str = "", name: str = "", extra: str = ""
):
    """A setup: fixture file ``relative`` replaced by ``data`` in a copy of its task's recipe, then the command."""
    default_task, key = KEYS[relative]
    task = task or default_task

    def setup(env: Env) -> list:
        path = env.write(name or f"data/{relative}", data)
        # the task's other fixture files by absolute path (env.recipe leaves values with a comment as they are)
        others = {
            f"{k}: {r}": f"{k}: {FIXTURES / r}" for r, (t, k) in KEYS.items() if t == default_task and r != relative
        }
        recipe = env.recipe(task, extra=extra, **{f"{key}: {relative}": f"{key}: {path}"}, **others)
        verb = command or ("pretrain" if task in ("clm", "mlm") else "finetune")
        return [verb, recipe, *args] if verb == "validate" else [verb, recipe, "-o", "run", *args]

    return setup


def _second_file_bad(env: Env) -> list:
    more = env.write("data/more.csv", "text,label\na small dog,animal\nun caf\xe9 noir,food\n".encode("latin-1"))
    train = FIXTURES / "textcls/train.csv"
    recipe = env.recipe(**{"train_file: textcls/train.csv": f"train_file: [{train}, {more}]"})
    return ["finetune", recipe, "-o", "run"]


def _carved_validation(env: Env) -> list:
    path = env.write("data/train.csv", _edit_lines("textcls/train.csv", CARVED_ROW + 2, _no_label))
    recipe = env.recipe(
        **{
            "train_file: textcls/train.csv": f"train_file: {path}",
            "  validation_file: textcls/validation.csv\n": "  validation_split_percentage: 10\n",
        }
    )
    return ["finetune", recipe, "-o", "run", "--strict"]


def _eval_data(name: str, data: str | bytes):
    def setup(env: Env) -> list:
        run = env.finished_run("textcls")
        env.write(name, data)
        return ["eval", run, "--data", name]

    return setup


MIXED_LABELS = _jsonl([{"text": "a dog", "label": 1}, {"text": "a hammer", "label": "tool"}, {"text": "a", "label": 0}])
MULTI_MIXED = _jsonl([{"text": "a dog", "label": ["animal", "pet"]}, {"text": "a hammer", "label": "tool"}])
BLANK_TEXTS = _jsonl([{"id": i, "text": " " if i % 2 else None} for i in range(6)])
MULTI_LABEL = "textcls:\n  problem_type: multi_label_classification\n"
MISSING_LABELS = "".join(
    _no_label(line) if number in (5, 9) else line for number, line in enumerate(_lines("textcls/train.csv"), 1)
)

CASES = [
    Case(
        "data-empty-train-file",
        _replace("textcls/train.csv", b""),
        3,
        ["data.train_file: ", "textcls/train.csv is empty (0 bytes)"],
    ),
    Case(
        "data-header-only-validation-csv",
        _replace("textcls/validation.csv", "text,label\n"),
        3,
        ["data.validation_file: ", "textcls/validation.csv has no rows (only a header line)"],
    ),
    Case(
        "data-blank-only-corpus",
        _replace("lm/train.txt", "\n   \n\n\t\n"),
        3,
        ["data.train_file: ", "lm/train.txt has no rows (only blank lines)"],
    ),
    Case(
        "data-corpus-text-column-all-blank",
        _replace("lm/train.txt", BLANK_TEXTS, task="mlm", name="corpus.jsonl"),
        3,
        ["data.train_file (", "corpus.jsonl): no text: all 6 row(s) of 'text' are empty or blank"],
    ),
    Case(
        "data-train-csv-not-utf8",
        _replace("textcls/train.csv", LATIN1_TRAIN),
        3,
        [
            "data.train_file: ",
            f"textcls/train.csv: not UTF-8 text at line 12 (byte {LATIN1_TRAIN_BYTE}: invalid continuation "
            "byte 0xe9); re-save it as UTF-8",
        ],
    ),
    Case(
        "data-validation-jsonl-not-utf8",
        _replace("translation/validation.jsonl", LATIN1_PAIRS),
        3,
        ["data.validation_file: ", "translation/validation.jsonl: not UTF-8 text at line 5"],
    ),
    Case(
        "data-utf16-corpus",
        _replace("lm/validation.txt", "a small dog\n".encode("utf-16"), task="mlm"),
        3,
        ["data.validation_file: ", "lm/validation.txt is UTF-16 text", "re-save it as UTF-8"],
    ),
    Case(
        "data-malformed-json-line",
        _replace(
            "translation/train.jsonl",
            "".join(_lines("translation/train.jsonl")[:6]) + '{"id": "train-6", translation: {"en": "x"}}\n',
        ),
        3,
        [
            "data.train_file: ",
            "translation/train.jsonl: line 7 is not valid JSON (Expecting property name enclosed in double quotes",
            '\'{"id": "train-6", translation: {"en": "x"}}\'',
        ],
    ),
    Case(
        "data-jsonl-row-not-an-object",
        _replace(
            "qa/validation.jsonl",
            "".join(_lines("qa/validation.jsonl")[:2]) + '["What is a dog?", "a dog is an animal"]\n',
        ),
        3,
        ["data.validation_file: ", "qa/validation.jsonl: line 3 is a JSON array, not an object"],
    ),
    Case(
        "data-csv-record-with-extra-fields",
        _replace("qa/test.csv", "".join(_lines("qa/test.csv")[:3]) + "x,What?,ctx,{},extra\n"),
        3,
        ["data.test_file: ", "qa/test.csv: line 4 has 5 fields but the header (line 1) has 4"],
    ),
    Case(
        "data-csv-unclosed-quote",
        _replace("textcls/validation.csv", 'text,label\na dog,animal\n"a hammer,artifact\n', command="validate"),
        3,
        ["data.validation_file: ", "textcls/validation.csv: line 3: a quoted value is never closed"],
    ),
    Case(
        "data-mixed-label-types",
        _replace("textcls/train.csv", MIXED_LABELS, name="labels.jsonl"),
        3,
        ["data.train_file: column 'label' mixes numbers (", "labels.jsonl lines 1, 3) and strings (", "line 2)"],
    ),
    Case(
        "data-multi-label-lists-and-strings",
        _replace("textcls/train.csv", MULTI_MIXED, command="validate", name="multi.jsonl", extra=MULTI_LABEL),
        3,
        ["data.train_file: column 'label' mixes lists (", "multi.jsonl line 1) and strings (", "all lists"],
    ),
    Case(
        "data-missing-labels-strict",
        _replace("textcls/train.csv", MISSING_LABELS, "--strict"),
        3,
        ["data.train_file: 2 row(s) with no 'label' value (", "textcls/train.csv lines 5, 9)", "--strict"],
    ),
    Case(
        "data-missing-translation-target-strict",
        _replace(
            "translation/train.jsonl",
            _edit_lines("translation/train.jsonl", 4, _json_line(lambda row: row["translation"].update(rev=None))),
            "--strict",
        ),
        3,
        ["data.train_file: 1 row(s) with no target text ('rev')", "translation/train.jsonl line 4)", "--strict"],
    ),
    Case(
        "data-translation-target-not-text-strict",
        _replace(
            "translation/train.jsonl",
            _edit_lines(
                "translation/train.jsonl", 4, _json_line(lambda row: row["translation"].update(rev=["a", "b"]))
            ),
            "--strict",
        ),
        3,
        ["data.train_file: 1 row(s) with a target that is not text ('rev')", "translation/train.jsonl line 4)"],
    ),
    Case(
        "data-qa-empty-question-strict",
        _replace(
            "qa/train.json",
            _edit_lines("qa/validation.jsonl", 2, _json_line(lambda row: row.update(question="  "))),
            "--strict",
            name="data/qa/train.jsonl",
        ),
        3,
        ["data.train_file: 1 row(s) with an empty question (", "qa/train.jsonl line 2)", "--strict"],
    ),
    Case(
        "data-textcls-text-not-text-strict",
        _replace(
            "textcls/validation.csv",
            _jsonl([{"text": "a small dog", "label": "animal"}, {"text": {"en": "a cat"}, "label": "animal"}]),
            "--strict",
            name="data/textcls/validation.jsonl",
        ),
        3,
        ["data.validation_file: 1 row(s) with a 'text' value that is not text (", "validation.jsonl line 2)"],
    ),
    Case(
        "data-sft-null-reply-strict",
        _replace(
            "sft/train.jsonl",
            _jsonl(
                [{"instruction": "Define jug.", "output": "a vessel"}, {"instruction": "Define ox.", "output": None}]
            ),
            "--strict",
        ),
        3,
        ["data.train_file: 1 row(s) with no reply ('output' null or empty) (", "sft/train.jsonl line 2)", "--strict"],
    ),
    Case(
        "data-dpo-empty-rejected-strict",
        _replace(
            "dpo/train.jsonl",
            _edit_lines("dpo/train.jsonl", 3, _json_line(lambda row: row.update(rejected=" "))),
            "--strict",
        ),
        3,
        ["data.train_file: 1 row(s) with no 'rejected' reply (", "dpo/train.jsonl line 3)", "--strict"],
    ),
    Case(
        "data-dpo-reply-not-text-strict",
        _replace(
            "dpo/train.jsonl",
            _edit_lines("dpo/train.jsonl", 2, _json_line(lambda row: row.update(chosen={"text": row["chosen"]}))),
            "--strict",
        ),
        3,
        ["data.train_file: 1 row(s) with a 'chosen' value that is neither text nor a list of messages (", "line 2)"],
    ),
    Case(
        "data-validation-without-any-label",
        _replace("textcls/validation.csv", "text,label\na dog,\na hammer,\n"),
        3,
        ["data.validation_file: no usable row: 2 row(s) with no 'label' value (", "validation.csv lines 2, 3)"],
    ),
    Case(
        "data-second-file-of-a-split-is-bad",
        _second_file_bad,
        3,
        ["data.train_file: ", "more.csv: not UTF-8 text at line 3 (byte 36: invalid continuation byte 0xe9)"],
    ),
    Case(
        "data-carved-validation-blames-the-train-file",
        _carved_validation,
        3,
        [
            "data.validation_split_percentage (10% of data.train_file): 1 row(s) with no 'label' value (",
            f"data/train.csv line {CARVED_ROW + 2})",
        ],
    ),
    Case(
        "data-eval-data-malformed-jsonl",
        _eval_data("new.jsonl", '{"text": "a dog", "label": "animal"}\n{"text": "a cat", label: "animal"}\n'),
        3,
        ["--data: new.jsonl: line 2 is not valid JSON"],
    ),
    Case(
        "data-eval-data-not-utf8",
        _eval_data("new.csv", "text,label\na dog,animal\nun caf\xe9,food\n".encode("latin-1")),
        3,
        ["--data: new.csv: not UTF-8 text at line 3 (byte 30: invalid continuation byte 0xe9)"],
    ),
]
