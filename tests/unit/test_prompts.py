"""llmkit.cli.commands.inputs: `generate --input` files, each problem named with its file and 1-based line."""

import json

import pytest

from llmkit.cli.commands.inputs import check_fields, read_inputs
from llmkit.errors import DataError, UsageError
from llmkit.tasks import get_task


def _file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_txt_one_input_per_line_blank_lines_skipped_bom_dropped(tmp_path):
    path = _file(tmp_path, "p.txt", b"\xef\xbb\xbfthe cat\n\n  \r\nan owl\r\n")
    assert read_inputs(path) == [{"text": "the cat"}, {"text": "an owl"}]


def test_jsonl_objects_strings_and_qa_items(tmp_path):
    lines = [{"prompt": "a"}, "b", {"text": "c", "id": 3}, {"question": "q?", "context": "ctx"}]
    path = _file(tmp_path, "p.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    items = read_inputs(path)
    assert [i.get("text") for i in items] == ["a", "b", "c", None]
    assert items[2]["id"] == 3 and items[3]["question"] == "q?"


def test_json_list(tmp_path):
    path = _file(tmp_path, "p.json", json.dumps(["a", {"text": "b"}]))
    assert read_inputs(path) == [{"text": "a"}, {"text": "b"}]
    with pytest.raises(DataError, match="must hold a list"):
        read_inputs(_file(tmp_path, "o.json", '{"text": "a"}'))


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("e.txt", b"", "e.txt is empty"),
        ("b.txt", b"\n  \n\t\n", "b.txt holds only blank lines"),
        ("u.txt", b"fine\ncaf\xe9\n", "u.txt:2: not UTF-8 text (byte 0xe9 at column 4)"),
        ("j.jsonl", b'{"text": "a"}\n\n{"text": oops}\n', "j.jsonl:3: not valid JSON"),
        ("k.jsonl", b'{"text": "a"}\n{"body": "b"}\n', "k.jsonl:2: the object has no 'text' or 'prompt' field"),
        ("l.jsonl", b"[1, 2]\n", "l.jsonl:1: expected a JSON object (or a string), got list"),
        ("n.jsonl", b'{"text": 5}\n', "n.jsonl:1: 'text' must be a string, got int"),
        ("q.jsonl", b'{"question": "q?"}\n', "q.jsonl:1: a QA input needs 'context'"),
    ],
)
def test_bad_files_name_the_line(tmp_path, name, content, fragment):
    with pytest.raises(DataError) as caught:
        read_inputs(_file(tmp_path, name, content))
    assert fragment in str(caught.value) and str(caught.value).startswith("--input: ")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_inputs(tmp_path / "nope.txt")
    with pytest.raises(DataError, match="is a directory"):
        read_inputs(tmp_path)


def test_text_models_refuse_question_inputs():
    check_fields([{"question": "q", "context": "c"}], get_task("qa"))
    with pytest.raises(UsageError, match="input 2: a clm model reads text"):
        check_fields([{"text": "a"}, {"question": "q", "context": "c"}], get_task("clm"))
