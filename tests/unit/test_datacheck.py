"""File diagnosis: what is wrong with a data file that datasets cannot read, with its line and byte."""

from __future__ import annotations

import pytest

from llmkit.data import load_file_split
from llmkit.data.check import (
    blank_file,
    csv_problem,
    csv_row_lines,
    json_problem,
    json_row_lines,
    library_cause,
    utf8_problem,
)
from llmkit.errors import DataError


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_blank_files_are_told_apart_from_files_with_text(tmp_path):
    assert blank_file(write(tmp_path, "a.txt", b"")) == "is empty (0 bytes)"
    assert blank_file(write(tmp_path, "b.txt", "\n  \n\t\n")) == "has no rows (only blank lines)"
    assert blank_file(write(tmp_path, "c.txt", " " * 70000 + "x")) is None  # text after the first chunk


def test_utf8_problem_names_line_byte_reason_and_the_byte(tmp_path):
    good = "text,label\n" + "café,a\n" * 3
    path = write(tmp_path, "t.csv", good.encode("utf-8") + "crème,b\n".encode("latin-1"))
    offset = len(good.encode("utf-8")) + 2  # "cr" then 0xe8
    assert utf8_problem(path) == (
        f"not UTF-8 text at line 5 (byte {offset}: invalid continuation byte 0xe8); re-save it as UTF-8"
    )
    assert utf8_problem(write(tmp_path, "ok.csv", good)) is None
    assert "start byte 0xff" in utf8_problem(write(tmp_path, "x.txt", b"ok\n\xffbad\n"))
    assert "UTF-16" in utf8_problem(write(tmp_path, "u.csv", "text\n".encode("utf-16")))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"a": 1}\n{"a": 2,}\n', "line 2 is not valid JSON (Expecting property name"),
        ('{"a": 1}\n\n[1, 2]\n', "line 3 is a JSON array, not an object"),
        ("1\n2\n", "line 1 is a JSON number, not an object"),
        ('{\n  "a": [1,\n}\n', "not valid JSON at line 3, column 1"),
        ('[{"a": 1}, "x"]', "item 2 of the top-level array is a JSON string"),
        ("[]", "has no rows (an empty JSON array)"),
        ('"just a string"', "line 1 is a JSON string, not an object"),
        ('{"a": 1}\n{"a": 2}\n', None),
        ('{\n "version": "v2", "data": []\n}\n', None),
    ],
)
def test_json_problem_gives_the_first_bad_line(tmp_path, content, expected):
    found = json_problem(write(tmp_path, "d.jsonl", content))
    assert found == expected if expected is None else expected in found


def test_json_problem_quotes_the_start_of_the_bad_line(tmp_path):
    found = json_problem(write(tmp_path, "d.jsonl", '{"a": 1}\n{"text": "' + "x" * 100 + '", oops}\n'))
    assert found.startswith("line 2 is not valid JSON") and '\'{"text": "xxx' in found and "...'" in found


def test_csv_problem_finds_extra_fields_unclosed_quotes_and_header_only_files(tmp_path):
    ragged = write(tmp_path, "r.csv", 'text,label\n"a, quoted",x\n\nb,c,d\n')
    assert csv_problem(ragged) == "line 4 has 3 fields but the header (line 1) has 2; quote values that contain ','"
    assert csv_problem(write(tmp_path, "q.csv", 'text,label\na,b\n"open,c\nd,e\n')).startswith("line 3: a quoted")
    assert csv_problem(write(tmp_path, "h.csv", "text,label\n\n")) == "has no rows (only a header line)"
    assert csv_problem(write(tmp_path, "t.tsv", "text\tlabel\na\tb\n"), "\t") is None


def test_row_lines_skip_the_header_blank_lines_and_multiline_values(tmp_path):
    path = write(tmp_path, "m.csv", 'text,label\na,x\n\n"two\nlines",y\nb,z\n')
    assert csv_row_lines(path) == [2, 4, 6]
    assert json_row_lines(write(tmp_path, "j.jsonl", '{"a": 1}\n\n{"a": 2}\n')) == [1, 3]
    assert json_row_lines(write(tmp_path, "j.json", '[{"a": 1}, {"a": 2}]')) is None


def test_library_cause_skips_datasets_wrapper():
    try:
        try:
            raise ValueError("Error tokenizing data. C error: Expected 2 fields in line 3, saw 3")
        except ValueError as inner:
            raise RuntimeError("An error occurred while generating the dataset") from inner
    except RuntimeError as exc:
        assert library_cause(exc).startswith("Error tokenizing data")


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("empty.csv", b"", "data.train_file: {path} is empty (0 bytes)"),
        ("header.csv", "text,label\n", "data.train_file: {path} has no rows (only a header line)"),
        ("blank.txt", "\n\n", "data.train_file: {path} has no rows (only blank lines)"),
        ("l1.csv", "text,label\ncaf\xe9,a\n".encode("latin-1"), "{path}: not UTF-8 text at line 2 (byte 14"),
        ("l1.jsonl", '{"text": "a"}\n{"text": "caf\xe9"}\n'.encode("latin-1"), "{path}: not UTF-8 text at line 2"),
        ("l1.txt", "ok\ncaf\xe9\n".encode("latin-1"), "{path}: not UTF-8 text at line 2 (byte 6"),
        ("bad.jsonl", '{"text": "a"}\n{"text": b}\n', "{path}: line 2 is not valid JSON"),
        ("rag.csv", "text,label\na,b\nc,d,e\n", "{path}: line 3 has 3 fields"),
    ],
)
def test_load_file_split_reports_our_message_not_the_parsers(tmp_path, name, content, fragment):
    path = write(tmp_path, name, content)
    with pytest.raises(DataError) as caught:
        load_file_split([str(path)], "data.train_file", "train")
    assert fragment.format(path=path) in str(caught.value)


def test_the_bad_file_of_several_is_the_one_named(tmp_path):
    good = write(tmp_path, "good.csv", "text,label\na,b\n")
    bad = write(tmp_path, "bad.csv", "text,label\ncaf\xe9,b\n".encode("latin-1"))
    with pytest.raises(DataError, match=f"data.train_file: {bad}: not UTF-8 text at line 2"):
        load_file_split([str(good), str(bad)], "data.train_file", "train")
    empty = write(tmp_path, "empty.csv", b"")
    with pytest.raises(DataError, match=f"{empty} is empty"):
        load_file_split([str(good), str(empty)], "data.train_file", "train")


def test_row_lines_follow_pandas_on_blank_and_empty_value_lines(tmp_path):
    import pandas as pd

    path = write(tmp_path, "s.csv", "text,label\na,b\n   \n,\n\nc,d\n")
    assert len(pd.read_csv(path)) == 3
    assert csv_row_lines(path) == [2, 4, 6]
