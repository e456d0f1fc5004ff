"""`llmkit explain`'s pure parts: rollout, the PNG maps, the result's sums, and which tasks declare what."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from llmkit.cli.options import EXPLAIN_METHODS
from llmkit.errors import UsageError
from llmkit.explain import METHODS, Explained, ExplainedTarget, check_method
from llmkit.explain.methods import rollout_matrix
from llmkit.explain.page import heat_colour, png_data_uri, token_line
from llmkit.explain.targets import BUILDERS
from llmkit.tasks import TASKS, get_task


def test_the_cli_lists_the_methods_the_package_implements():
    assert EXPLAIN_METHODS == METHODS


def test_a_misspelt_method_is_a_usage_error_with_did_you_mean():
    with pytest.raises(UsageError, match="did you mean 'rollout'"):
        check_method("rolout", 50)
    with pytest.raises(UsageError, match="--steps"):
        check_method("integrated-gradients", 1)


def test_every_task_but_multiple_choice_says_what_explain_attributes_and_a_builder_exists():
    kinds = {name: get_task(name).explain for name in TASKS}
    assert kinds["multiple_choice"] is None
    assert {name for name, spec in kinds.items() if spec is None} == {"multiple_choice"}
    assert {spec.target for spec in kinds.values() if spec is not None} == set(BUILDERS)
    assert kinds["translation"].source is not None  # the recipe's source_prefix reaches the encoder


def test_rollout_of_two_layers_by_hand():
    import torch

    # one head; layer 1 sends everything to token 0, layer 2 is the identity
    first = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    second = torch.eye(2)[None]
    # layer 1 with the residual: [[1, 0], [0.5, 0.5]]; layer 2 with it stays the identity
    expected = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    assert torch.allclose(rollout_matrix([first, second]), expected)
    rows = rollout_matrix([torch.rand(3, 4, 4).softmax(-1) for _ in range(3)]).sum(-1)
    assert torch.allclose(rows, torch.ones(4))  # every rolled-out row is still a distribution


def test_the_attention_map_is_a_valid_png_of_the_matrix_size():
    uri = png_data_uri([[0.0, 1.0, 0.5], [0.2, 0.0, 0.0]])
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (3, 2)
    length = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    pixels = zlib.decompress(data[41 : 41 + length])
    assert len(pixels) == height * (1 + 3 * width)
    assert pixels[1:4] == b"\xff\xff\xff" and pixels[4:7] == bytes((30, 75, 195))  # 0 -> white, the max -> blue


def test_heat_colours_and_escaped_tokens():
    assert heat_colour(2.0, 2.0) == "rgba(220,38,38,1.000)"
    assert heat_colour(-1.0, 2.0) == "rgba(37,99,235,0.500)"
    assert "&lt;/s&gt;" in token_line(["</s>"], [0.1])


def test_several_targets_sum_their_attributions_and_deltas():
    found = Explained(
        task="qa",
        method="integrated-gradients",
        prediction="x",
        score=0.5,
        tokens=["a", "b"],
        targets=[
            ExplainedTarget("start", "x", 0.5, [0.1, 0.2], convergence_delta=0.01, baseline_score=0.2),
            ExplainedTarget("end", "x", 0.6, [0.3, -0.1], convergence_delta=-0.002, baseline_score=0.4),
        ],
        seconds=0.1,
    )
    shown = found.to_json()
    assert shown["attributions"] == pytest.approx([0.4, 0.1])
    assert shown["convergence_delta"] == pytest.approx(0.008)
    assert [t["name"] for t in shown["targets"]] == ["start", "end"]
    found.targets[1].convergence_delta = None  # gradient x input has no completeness check
    assert found.to_json()["convergence_delta"] is None
