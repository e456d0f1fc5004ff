"""Checks of the ``training:`` values that TrainingArguments, Trainer or torch would only make after loading.

Every rule here mirrors one that the installed stack applies later (``TrainingArguments.__post_init__`` and
``_validate_args``, ``Trainer.__init__``, torch's optimizers and DataLoader) or a value that would let a run
"finish" without training. They run on the recipe's plain values, at load time, in pure Python: enum values
are read from transformers' source text (``training_schema.enum_values``), so nothing heavy is imported.
Each problem is ``(key path, message)``; the config layer adds ``file:line:`` and the dotted key.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from llmkit.config.training import dict_keys, enum_values, training_fields
from llmkit.config.training_needs import file_problems, package_problems
from llmkit.errors import did_you_mean

Problem = tuple[tuple[str, ...], str]
SEED_MAX = 2**32 - 1  # numpy's seed range (transformers.set_seed seeds numpy)

# (field, lowest, lowest allowed?, highest, highest allowed?, why or how to fix); None: no bound.
RANGES: tuple[tuple[str, float | None, bool, float | None, bool, str], ...] = (
    ("learning_rate", 0, True, None, False, "torch's optimizers refuse a negative learning rate"),
    ("per_device_train_batch_size", 1, True, None, False, "a batch holds at least one example"),
    ("per_device_eval_batch_size", 1, True, None, False, "a batch holds at least one example"),
    ("gradient_accumulation_steps", 1, True, None, False, "1 updates after every batch"),
    ("num_train_epochs", 0, True, None, False, "give a positive number of epochs"),
    ("warmup_steps", 0, True, None, False, "a value below 1 is a fraction of the total steps, 0 turns warmup off"),
    ("weight_decay", 0, True, None, False, "torch's optimizers refuse a negative weight decay; 0 turns it off"),
    ("adam_beta1", 0, True, 1, False, "torch's Adam needs 0 <= beta < 1 (typical: 0.9)"),
    ("adam_beta2", 0, True, 1, False, "torch's Adam needs 0 <= beta < 1 (typical: 0.999)"),
    ("adam_epsilon", 0, False, None, False, "0 divides by zero for weights whose gradient is 0 (typical: 1e-8)"),
    ("max_grad_norm", 0, True, None, False, "0 turns gradient clipping off"),
    ("label_smoothing_factor", 0, True, 1, False, "0 turns label smoothing off"),
    ("save_total_limit", 0, True, None, False, "null or 0 keeps every checkpoint"),
    ("eval_delay", 0, True, None, False, "0 evaluates from the start"),
    ("dataloader_num_workers", 0, True, None, False, "0 loads data in the main process"),
    ("dataloader_prefetch_factor", 1, True, None, False, "batches loaded ahead by each worker"),
    ("seed", 0, True, SEED_MAX, True, "numpy accepts seeds from 0 to 2**32 - 1"),
    ("data_seed", 0, True, SEED_MAX, True, "numpy accepts seeds from 0 to 2**32 - 1"),
    ("torch_empty_cache_steps", 1, True, None, False, "a number of steps; null never empties the cache"),
    ("eval_accumulation_steps", 1, True, None, False, "a number of steps; null keeps everything on the device"),
    ("ddp_timeout", 1, True, None, False, "seconds to wait for the other processes"),
    ("neftune_noise_alpha", 0, True, None, False, "null turns NEFTune off"),
)
# Fields whose value names a member of an enum in transformers' source: field -> (file, class).
ENUMS: dict[str, tuple[str, str]] = {
    "eval_strategy": ("trainer_utils.py", "IntervalStrategy"),
    "logging_strategy": ("trainer_utils.py", "IntervalStrategy"),
    "save_strategy": ("trainer_utils.py", "SaveStrategy"),
    "hub_strategy": ("trainer_utils.py", "HubStrategy"),
    "lr_scheduler_type": ("trainer_utils.py", "SchedulerType"),
    "optim": ("training_args.py", "OptimizerNames"),
}
# Fields holding several enum members (a space-separated string or a list).
ENUM_LISTS: dict[str, tuple[str, str]] = {
    "debug": ("debug_utils.py", "DebugOption"),
    "fsdp": ("trainer_utils.py", "FSDPOption"),
}


class Values:
    """The training values a run will use: the recipe's (llmkit defaults filled in), else TrainingArguments'."""

    def __init__(
        self, training: dict[str, Any], skip: set[str], given: set[str] | None = None, arguments: str | None = None
    ):
        self.training, self.skip, self.fields = training, skip, training_fields(arguments)
        self.given = set(training) if given is None else given  # keys the recipe or an override set

    def get(self, name: str) -> Any:
        if name in self.training:
            return self.training[name]
        info = self.fields.get(name)
        return info.default if info else None

    def number(self, name: str) -> float | None:
        """The value if it is a number the schema accepted (bools are not numbers here)."""
        value = self.get(name)
        if name in self.skip or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return value

    def text(self, name: str) -> str | None:
        value = self.get(name)
        return value if name not in self.skip and isinstance(value, str) else None

    def flag(self, name: str) -> bool:
        return self.get(name) is True


def training_problems(
    training: dict[str, Any],
    *,
    has_validation: bool,
    early_stopping: bool,
    skip: set[str] = frozenset(),
    given: set[str] | None = None,
    environment: bool = True,
    arguments: str | None = None,
) -> list[Problem]:
    """Every problem of one training section (llmkit's defaults filled in).

    ``skip`` names keys the schema already reported; ``given`` the keys the user wrote (default: all), so that
    a value llmkit derived from a wrong one (``save_strategy`` from ``eval_strategy``) is not reported twice.
    ``environment=False`` leaves out what depends on this machine (packages, files, Hub access): a finished
    run's recipe is read to evaluate or sample it, which needs none of them. ``arguments``: the TrainingArguments
    subclass the task trains with (its defaults are the ones that apply).
    """
    values = Values(training, set(skip), given, arguments)
    problems: list[Problem] = []
    for rule in (*RULES, _environment) if environment else RULES:
        problems += rule(values, has_validation, early_stopping)
    return problems


def _at(name: str, message: str) -> Problem:
    return ("training", name), f"training.{name}: {message}"


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _nulls(values: Values, *_: Any) -> list[Problem]:
    """``max_grad_norm: null`` and friends: TrainingArguments takes None and Trainer fails on it later."""
    out = []
    for name, value in values.training.items():
        info = values.fields.get(name)
        if value is not None or info is None or info.default is None or name in values.skip:
            continue
        if info.annotation is Any or type(None) in getattr(info.annotation, "__args__", ()):
            continue
        extra = "; 0 turns gradient clipping off" if name == "max_grad_norm" else ""
        out.append(_at(name, f"null is not a value here; remove the key to use the default {info.default}{extra}"))
    return out


def _ranges(values: Values, *_: Any) -> list[Problem]:
    out = []
    for name, low, low_ok, high, high_ok, why in RANGES:
        value = values.number(name)
        if value is None or name not in values.training:
            continue
        too_low = low is not None and (value < low or (value == low and not low_ok))
        too_high = high is not None and (value > high or (value == high and not high_ok))
        if not (too_low or too_high or math.isnan(value)):
            continue
        if high is None:
            bound = f"must be {'>=' if low_ok else '>'} {low}"
        else:
            bound = f"must be in {'[' if low_ok else '('}{low}, {high}{']' if high_ok else ')'}"
        out.append(_at(name, f"{bound}, got {value}; {why}"))
    return out


def _amount(values: Values, *_: Any) -> list[Problem]:
    """Runs that would train nothing and still exit 0: max_steps 0, or 0 epochs without max_steps."""
    max_steps, epochs = values.number("max_steps"), values.number("num_train_epochs")
    if max_steps is not None and (max_steps == 0 or max_steps < -1):
        fix = "give a positive number of steps, or -1 to train training.num_train_epochs"
        return [_at("max_steps", f"{'0 trains nothing' if max_steps == 0 else f'got {max_steps}'}; {fix}")]
    if epochs == 0 and max_steps is not None and max_steps < 0:
        return [_at("num_train_epochs", "0 epochs without training.max_steps trains nothing; give a positive number")]
    return []


def _enum_names(values: Values, *_: Any) -> list[Problem]:
    out = []
    for name, (module, cls) in ENUMS.items():
        value = values.text(name) if name in values.given else None
        choices = enum_values(module, cls)
        if value is not None and choices and value not in choices:
            out.append(_at(name, _unknown(value, choices)))
    for name, (module, cls) in ENUM_LISTS.items():
        choices = enum_values(module, cls)
        for item in _items(values.get(name) if name not in values.skip else None):
            if choices and item not in choices:
                out.append(_at(name, _unknown(item, choices)))
    for name in ("log_level", "log_level_replica"):
        value, levels = values.text(name), (*dict_keys("utils/logging.py", "log_levels"), "passive")
        if value is not None and len(levels) > 1 and value not in levels:
            out.append(_at(name, _unknown(value, levels)))
    return out


def _unknown(value: str, choices: tuple[str, ...]) -> str:
    longer = [c for c in choices if c.startswith(f"{value}_")]  # 'adamw' -> 'adamw_torch', not 'grokadamw'
    hint = f"; did you mean '{longer[0]}'?" if longer else did_you_mean(value, choices)
    return f"unknown value '{value}'{hint}" + ("" if hint else f" (one of: {', '.join(choices)})")


def _items(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _steps(values: Values, *_: Any) -> list[Problem]:
    """Step intervals of "steps" strategies: positive, and whole numbers from 1 up (below 1: a fraction)."""
    out = []
    logging_steps = values.number("logging_steps")
    for strategy, name in (
        ("logging_strategy", "logging_steps"),
        ("eval_strategy", "eval_steps"),
        ("save_strategy", "save_steps"),
    ):
        if values.get(strategy) != "steps":
            continue
        value = values.number(name)
        if name == "eval_steps" and not value and values.get(name) in (None, 0):
            if logging_steps is not None and logging_steps <= 0:
                out.append(_at(name, "eval_strategy 'steps' needs eval_steps (or logging_steps) > 0"))
            continue
        if value is None:
            continue
        if value <= 0:
            fraction = "a value below 1 is a fraction of the total steps"
            out.append(_at(name, f"{strategy} 'steps' needs {name} > 0, got {value} ({fraction})"))
        elif value > 1 and value != int(value):
            out.append(_at(name, f"must be a whole number of steps when above 1, got {value}"))
    return out


def effective_eval_steps(values: Values) -> float | None:
    """eval_steps as TrainingArguments fills it: logging_steps when unset or 0."""
    value = values.number("eval_steps")
    return value if value else values.number("logging_steps")


def _best_model(values: Values, has_validation: bool, early_stopping: bool) -> list[Problem]:
    """load_best_model_at_end, save_strategy 'best', schedulers and early stopping that read evaluations."""
    out = []
    evaluation, save = values.get("eval_strategy"), values.get("save_strategy")
    if values.flag("load_best_model_at_end") and save != "best":
        if evaluation != save:
            out.append(
                _at(
                    "load_best_model_at_end",
                    f"needs training.save_strategy to match training.eval_strategy "
                    f"(or be 'best'), got eval_strategy '{evaluation}' and save_strategy '{save}'",
                )
            )
        elif evaluation == "steps":
            out += _multiple(values)
    if save == "best" and evaluation == "no":
        out.append(_at("save_strategy", "'best' saves when an evaluation improves, but training.eval_strategy is 'no'"))
    if save == "best" and values.get("metric_for_best_model") is None and not values.flag("load_best_model_at_end"):
        out.append(_at("save_strategy", "'best' needs training.metric_for_best_model (e.g. loss)"))
    scheduler = values.text("lr_scheduler_type")
    if scheduler in ("reduce_lr_on_plateau", "greedy") and evaluation == "no":
        out.append(_at("lr_scheduler_type", f"'{scheduler}' steps on evaluation results; set training.eval_strategy"))
    if evaluation not in (None, "no") and not has_validation and "eval_strategy" in values.training:
        out.append(
            _at(
                "eval_strategy",
                f"'{evaluation}' needs validation data; set data.validation_file, "
                "data.validation_split_percentage, or training.eval_strategy=no",
            )
        )
    if early_stopping and has_validation:
        if evaluation == "no":
            out.append(
                (
                    ("eval", "early_stopping_patience"),
                    "eval.early_stopping_patience: needs evaluations; set training.eval_strategy to 'steps' or 'epoch'",
                )
            )
        elif values.get("metric_for_best_model") is None and not values.flag("load_best_model_at_end"):
            out.append(
                (
                    ("eval", "early_stopping_patience"),
                    "eval.early_stopping_patience: needs "
                    "training.metric_for_best_model (e.g. loss) or training.load_best_model_at_end: true",
                )
            )
    return out


def _multiple(values: Values) -> list[Problem]:
    """TrainingArguments: with load_best_model_at_end, every save must fall on an evaluation."""
    save, evaluation = values.number("save_steps"), effective_eval_steps(values)
    if save is None or not evaluation or save <= 0 or evaluation <= 0:
        return []
    if (save < 1) != (evaluation < 1):
        problem = "cannot be guaranteed to be a multiple of the evaluation steps when one is a fraction"
    elif round(save * 1_000_000) % round(evaluation * 1_000_000) != 0:
        problem = f"must be a multiple of the evaluation steps ({evaluation})"
    else:
        return []
    return [_at("save_steps", f"{save} {problem}, because training.load_best_model_at_end keeps a saved evaluation")]


def _schedulers(values: Values, *_: Any) -> list[Problem]:
    """Schedulers whose arguments get_scheduler requires in lr_scheduler_kwargs."""
    scheduler, kwargs = values.text("lr_scheduler_type"), values.get("lr_scheduler_kwargs")
    if not isinstance(kwargs, dict):
        kwargs = {}  # a JSON string is checked by TrainingArguments
    if scheduler in ("cosine_with_min_lr", "cosine_warmup_with_min_lr"):
        given = [k for k in ("min_lr", "min_lr_rate") if kwargs.get(k) is not None]
        if len(given) != 1:
            return [
                _at(
                    "lr_scheduler_kwargs",
                    f"'{scheduler}' needs exactly one of min_lr and min_lr_rate (e.g. {{min_lr_rate: 0.1}})",
                )
            ]
    if scheduler == "warmup_stable_decay" and kwargs.get("num_decay_steps") is None:
        return [_at("lr_scheduler_kwargs", "'warmup_stable_decay' needs num_decay_steps (e.g. {num_decay_steps: 100})")]
    lr, lr_end = values.number("learning_rate"), kwargs.get("lr_end", 1e-7)
    if scheduler == "polynomial" and lr is not None and isinstance(lr_end, int | float) and lr_end >= lr > 0:
        return [
            _at(
                "lr_scheduler_kwargs",
                f"'polynomial' decays to lr_end {lr_end}, which must be below training.learning_rate {lr}",
            )
        ]
    return []


def _pairs(values: Values, *_: Any) -> list[Problem]:
    """Settings that exclude each other."""
    out = []
    if values.flag("fp16") and values.flag("bf16"):
        out.append(_at("bf16", "bf16 and fp16 are both on; choose one precision"))
    if values.flag("fp16_full_eval") and values.flag("bf16_full_eval"):
        out.append(_at("bf16_full_eval", "bf16_full_eval and fp16_full_eval are both on; choose one"))
    workers = values.number("dataloader_num_workers")
    if workers == 0:
        if values.get("dataloader_prefetch_factor") is not None:
            out.append(_at("dataloader_prefetch_factor", "needs training.dataloader_num_workers > 0"))
        if values.flag("dataloader_persistent_workers"):
            out.append(_at("dataloader_persistent_workers", "needs training.dataloader_num_workers > 0"))
    return out


def _report_to(values: Values, *_: Any) -> list[Problem]:
    value = values.get("report_to") if "report_to" not in values.skip else None
    names = (
        [value]
        if isinstance(value, str)
        else [v for v in value if isinstance(v, str)]
        if isinstance(value, list)
        else []
    )
    known = dict_keys("integrations/integration_utils.py", "INTEGRATION_TO_CALLBACK")
    out = []
    for name in names:
        if name in ("none", "all"):
            if len(names) > 1:
                out.append(_at("report_to", f"'{name}' stands alone; give it by itself or list integrations"))
        elif known and name not in known:
            out.append(_at("report_to", _unknown(name, (*known, "none", "all"))))
    return out


def _environment(values: Values, *_: Any) -> list[Problem]:
    """What this machine must provide to train: packages, the JSON files named, a Hub it may push to."""
    out = [_at(name, message) for name, message in package_problems(values) + file_problems(values)]
    if values.flag("push_to_hub") and os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        out.append(_at("push_to_hub", "HF_HUB_OFFLINE=1 forbids pushing to the Hub; unset one of them"))
    return out


RULES: tuple[Callable[..., list[Problem]], ...] = (
    _nulls,
    _ranges,
    _amount,
    _enum_names,
    _steps,
    _best_model,
    _schedulers,
    _pairs,
    _report_to,
)
