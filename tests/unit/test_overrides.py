import pytest

from llmkit.config.overrides import apply_overrides, parse_override
from llmkit.errors import UsageError


def test_parse_override_splits_key_path_and_yaml_value():
    assert parse_override("training.learning_rate=1e-5") == (("training", "learning_rate"), 1e-5)
    assert parse_override("data.train_file=a=b.csv") == (("data", "train_file"), "a=b.csv")


def test_apply_overrides_creates_sections_and_does_not_mutate_input():
    data = {"training": {"seed": 1}}
    result, touched = apply_overrides(data, ["training.seed=5", "eval.metrics=[accuracy]"])
    assert result == {"training": {"seed": 5}, "eval": {"metrics": ["accuracy"]}}
    assert data == {"training": {"seed": 1}}
    assert touched == {("training", "seed"), ("eval", "metrics")}


@pytest.mark.parametrize("token", ["novalue", "=3", "a..b=1"])
def test_malformed_overrides_are_usage_errors(token):
    with pytest.raises(UsageError):
        parse_override(token)


def test_override_into_a_scalar_is_refused():
    with pytest.raises(UsageError, match="'task' is a value, not a section"):
        apply_overrides({"task": "textcls"}, ["task.x=1"])
