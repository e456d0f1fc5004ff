"""What ``training:`` values need outside the recipe: optional packages and the JSON files they name.

Trainer imports an integration's package (``report_to: [wandb]``) or an optimizer's library only once the
model and data are loaded; ``importlib.util.find_spec`` answers the same question at load time without
importing anything. Each problem is ``(training field, message)``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Protocol


class TrainingValues(Protocol):
    """The accessor ``training_checks.Values`` hands in."""

    skip: set[str]

    def get(self, name: str) -> Any: ...
    def flag(self, name: str) -> bool: ...
    def text(self, name: str) -> str | None: ...


# report_to name -> the (import name, pip name) pairs it needs, as transformers' is_*_available() test them;
# several import names in one tuple: any of them will do.
INTEGRATIONS: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "azure_ml": ((("azureml.core",), "azureml-core"),),
    "comet_ml": ((("comet_ml",), "comet-ml"),),
    "mlflow": ((("mlflow",), "mlflow"),),
    "neptune": ((("neptune",), "neptune"),),
    "tensorboard": ((("tensorboard", "tensorboardX"), "tensorboard"),),
    "trackio": ((("trackio",), "trackio"),),
    "wandb": ((("wandb",), "wandb"),),
    "codecarbon": ((("codecarbon",), "codecarbon"),),
    "clearml": ((("clearml",), "clearml"),),
    "dagshub": ((("dagshub",), "dagshub"), (("mlflow",), "mlflow")),
    "flyte": ((("flytekit",), "flytekit"), (("flytekitplugins.deck",), "flytekitplugins-deck-standard")),
    "dvclive": ((("dvclive",), "dvclive"),),
    "swanlab": ((("swanlab",), "swanlab"),),
}
# integrations that llmkit offers as an extra
EXTRAS = {"tensorboard": "llmkit[tensorboard]", "wandb": "llmkit[wandb]", "mlflow": "llmkit[mlflow]"}
INTEGRATION_ENV = {"kubeflow": "KUBEFLOW_TRAINER_SERVER_URL"}  # set inside a Kubeflow TrainJob

# optim name prefix or name -> (import name, pip name), as transformers' trainer_optimizer.py requires them.
OPTIMIZERS: tuple[tuple[str, str, str], ...] = (
    ("galore_", "galore_torch", "galore-torch"),
    ("apollo_", "apollo_torch", "apollo-torch"),
    ("lomo", "lomo_optim", "lomo-optim"),
    ("adalomo", "lomo_optim", "lomo-optim"),
    ("grokadamw", "grokadamw", "grokadamw"),
    ("schedule_free_", "schedulefree", "schedulefree"),
    ("stable_adamw", "optimi", "torch-optimi"),
    ("adamw_anyprecision", "torchdistx", "torchdistx"),
    ("adamw_torch_4bit", "torchao", "torchao"),
    ("adamw_torch_8bit", "torchao", "torchao"),
    ("adamw_torch_xla", "torch_xla", "torch-xla"),
    ("adamw_torch_npu_fused", "torch_npu", "torch-npu"),
    ("adamw_bnb_8bit", "bitsandbytes", "bitsandbytes"),
    ("adamw_8bit", "bitsandbytes", "bitsandbytes"),
    ("ademamix", "bitsandbytes", "bitsandbytes"),
    ("lion_", "bitsandbytes", "bitsandbytes"),
    ("paged_", "bitsandbytes", "bitsandbytes"),
    ("rmsprop_bnb", "bitsandbytes", "bitsandbytes"),
)
# Fields that may hold a JSON file path (or a JSON object written as text).
JSON_FIELDS = ("deepspeed", "fsdp_config", "accelerator_config")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (a missing parent package counts as missing)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def package_problems(values: TrainingValues) -> list[tuple[str, str]]:
    """Integrations, optimizers and engines named in the recipe whose package is not installed."""
    out = []
    report_to = values.get("report_to") if "report_to" not in values.skip else None
    names = [report_to] if isinstance(report_to, str) else report_to if isinstance(report_to, list) else []
    for name in names:
        for modules, pip_name in INTEGRATIONS.get(name, ()) if isinstance(name, str) else ():
            if not any(installed(m) for m in modules):
                how = f"pip install '{EXTRAS[name]}'" if name in EXTRAS else f"pip install {pip_name}"
                out.append(("report_to", f"'{name}' needs the package {pip_name}, which is not installed; {how}"))
        if name in INTEGRATION_ENV and not os.environ.get(INTEGRATION_ENV[name]):
            out.append(("report_to", f"'{name}' works only inside a Kubeflow TrainJob ({INTEGRATION_ENV[name]} unset)"))
    optim = values.text("optim")
    for prefix, module, pip_name in OPTIMIZERS if optim else ():
        if optim.startswith(prefix):
            if not installed(module):
                out.append(("optim", f"'{optim}' needs the package {pip_name}; pip install {pip_name}"))
            break
    # DeepSpeed itself is a machine rule (runner.apply_hardware_rules): --dry-run shows such a recipe anywhere.
    if values.flag("use_liger_kernel") and not installed("liger_kernel"):
        out.append(("use_liger_kernel", "needs the package liger-kernel; pip install liger-kernel"))
    return out


def file_problems(values: TrainingValues) -> list[tuple[str, str]]:
    """JSON config fields: a file that exists and parses, or a JSON object written inline."""
    out = []
    for name in JSON_FIELDS:
        value = values.get(name)
        if name in values.skip or not isinstance(value, str) or not value.strip():
            continue
        if value.lstrip().startswith("{"):
            problem = _json_problem(value)
            if problem:
                out.append((name, f"inline JSON does not parse: {problem}"))
            continue
        path = Path(value)
        if not path.is_file():
            out.append((name, f"{'is a directory' if path.is_dir() else 'file not found'}: {value}"))
            continue
        try:
            problem = _json_problem(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            problem = f"cannot read it ({exc})"
        if problem:
            out.append((name, f"{value}: not a JSON file: {problem}"))
    return out


def _json_problem(text: str) -> str | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return None if isinstance(data, dict) else f"expected a JSON object, got {type(data).__name__}"
