"""Every private Trainer name llmkit relies on (llmkit/train/trainer_api.py) still exists in the installed transformers.

Builds no model: a failure here names the llmkit feature an upgrade would break, before any run meets it.
"""

from __future__ import annotations

import importlib
import inspect

import pytest
import transformers

from llmkit.train.trainer_api import REQUIRED, Needed


def _owner(path: str) -> object:
    module, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return importlib.import_module(path)


def _broken(name: str, needed: Needed, what: str) -> str:
    return (
        f"transformers {transformers.__version__}: {needed.owner}.{name} {what}; "
        f"llmkit/train/trainer_api.py uses it to {needed.why}"
    )


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_private_name_is_there_with_its_parameters(name: str) -> None:
    needed = REQUIRED[name]
    owner = _owner(needed.owner)
    if needed.params is None:
        return  # an attribute Trainer reads (checked through its source below)
    assert hasattr(owner, name), _broken(name, needed, "is gone")
    params = [p for p in inspect.signature(getattr(owner, name)).parameters if p != "self"]
    assert params[: len(needed.params)] == list(needed.params), _broken(
        name, needed, f"now takes ({', '.join(params)}), llmkit passes ({', '.join(needed.params)})"
    )


@pytest.mark.parametrize("name", sorted(n for n, needed in REQUIRED.items() if needed.reads))
def test_trainer_still_reads_the_name(name: str) -> None:
    needed = REQUIRED[name]
    source = inspect.getsource(inspect.getmodule(_owner(needed.owner)))
    assert needed.reads in source, _broken(name, needed, f"is no longer read ({needed.reads!r} not in its source)")


def test_message_names_the_feature() -> None:
    needed = REQUIRED["_get_grad_norm"]
    text = _broken("_get_grad_norm", needed, "is gone")
    assert text.startswith(f"transformers {transformers.__version__}: transformers.Trainer._get_grad_norm is gone")
    assert "divergence guard" in text
