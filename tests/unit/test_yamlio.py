import pytest

from llmkit.config.yamlio import parse_scalar, parse_yaml
from llmkit.errors import ConfigError


def test_scientific_notation_without_dot_is_a_float():
    data, _ = parse_yaml("lr: 1e-5\nb: 3E+2\nc: 1.5e-3\nd: 7\n")
    assert data == {"lr": 1e-5, "b": 300.0, "c": 1.5e-3, "d": 7}
    assert isinstance(data["lr"], float) and isinstance(data["d"], int)


def test_only_true_and_false_are_booleans():
    data, _ = parse_yaml("a: no\nb: yes\nc: off\nd: true\ne: False\n")
    assert data == {"a": "no", "b": "yes", "c": "off", "d": True, "e": False}


def test_plain_safe_loader_is_not_changed_by_our_float_rule():
    import yaml

    assert yaml.safe_load("x: 1e-5\ny: no") == {"x": "1e-5", "y": False}


def test_lines_are_recorded_for_nested_keys():
    _, lines = parse_yaml("a:\n  b: 1\n  c:\n    - x\n    - y\n")
    assert lines[("a",)] == 1
    assert lines[("a", "b")] == 2
    assert lines[("a", "c", 1)] == 5


def test_duplicate_keys_are_rejected_with_both_lines():
    with pytest.raises(ConfigError) as info:
        parse_yaml("training:\n  seed: 1\n  seed: 2\n", "r.yaml")
    assert "r.yaml:3: training.seed: duplicate key (first set on line 2)" in str(info.value)


def test_unsafe_tags_are_rejected():
    with pytest.raises(ConfigError) as info:
        parse_yaml("x: !!python/object/apply:os.system ['echo hi']\n", "r.yaml")
    assert "r.yaml:1" in str(info.value) and "unsafe or unknown YAML tag" in str(info.value)


def test_malformed_yaml_names_file_and_line():
    with pytest.raises(ConfigError) as info:
        parse_yaml("a: [1, 2\nb: 3\n", "bad.yaml")
    assert str(info.value).startswith("bad.yaml:") and "malformed YAML" in str(info.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [("3e-5", 3e-5), ("true", True), ("[a, b]", ["a", "b"]), ("null", None), ("hello", "hello"), ("", "")],
)
def test_override_scalars_parse_like_yaml(text, value):
    assert parse_scalar(text) == value
