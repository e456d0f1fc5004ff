"""The value sets --help lists and the shell completes are the ones the lower layers accept."""

from llmkit.cli import options
from llmkit.export.write import FORMATS, QUANTIZATIONS
from llmkit.generation import DEVICES, DTYPES


def test_the_cli_value_sets_match_the_checks_below_it():
    # options.py repeats them so that --help imports no lower layer; this keeps the copies honest.
    assert options.FORMATS == FORMATS
    assert options.QUANTIZATIONS == QUANTIZATIONS
    assert options.DTYPES == DTYPES
    assert options.DEVICES == DEVICES


def test_choices_lists_values_and_completes_only_real_ones():
    spec = options.choices(DEVICES)
    assert spec["metavar"] == "<cpu|cuda|cuda:N|mps>"
    assert spec["autocompletion"]("cu") == ["cuda"]  # cuda:N is a pattern, not a value to insert
    assert spec["autocompletion"]("") == ["cpu", "cuda", "mps"]


def test_recipe_completion_names_shipped_recipes_with_their_kind():
    found = dict(options.complete_recipe("te"))
    assert found == {"textcls": "Text classification"}
    assert {name for name, _ in options.complete_recipe("")} >= {"clm", "mlm", "qa", "textcls"}
