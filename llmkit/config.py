"""Recipes: YAML -> dotted overrides -> one validated, frozen ``Recipe``.

Only pydantic and yaml are imported here (plus the task registry, whose modules are light), so
``--dry-run`` and ``validate`` never pay for torch. Precedence, lowest to highest: schema defaults <
YAML < ``a.b=value`` overrides < invocation options (applied by the CLI through :func:`updated`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from llmkit.errors import ConfigError, UsageError, did_you_mean
from llmkit.overrides import apply_overrides
from llmkit.recipe_messages import Locator, Problem, describe
from llmkit.recipe_paths import resolve_paths
from llmkit.tasks import TASKS, get_task
from llmkit.training_checks import training_problems
from llmkit.training_schema import RESERVED, training_fields, training_section_model
from llmkit.yamlio import KeyPath, dump_yaml, parse_yaml, read_yaml

RECIPE_SUFFIXES = (".yaml", ".yml")


def PathField(default: Any = None, description: str = "", kind: str = "file") -> Any:  # noqa: N802 - like Field
    """A recipe field holding a path, read from the recipe's folder (``llmkit.recipe_paths``).

    ``kind="ref"``: the value may also be a hub id or an alias (fields named ``*name_or_path`` are refs anyway).
    """
    return Field(default, description=description, json_schema_extra={"path": True if kind == "file" else kind})


class Section(BaseModel):
    """Base of every recipe section: closed (unknown keys are errors) and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(Section):
    """Which checkpoint to start from and how to load it."""

    name_or_path: str | None = Field(
        None,
        description="Hub id, local directory, or built-in alias (tiny-bert, tiny-gpt2, minilm-l6); with "
        "model.config it only names the tokenizer.",
    )
    revision: str | None = Field(None, description="Hub branch, tag or commit to load.")
    tokenizer_name_or_path: str | None = Field(None, description="Tokenizer to use when it differs from the model.")
    trust_remote_code: bool = Field(False, description="Run model code from the hub repository (off by default).")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] | None = Field(
        None, description="Weights dtype when loading; training precision is training.bf16/fp16."
    )
    config_overrides: dict[str, Any] = Field(
        default_factory=dict, description="Values set on the model config before the model is built."
    )
    config: dict[str, Any] | None = Field(
        None,
        description="Build a fresh, randomly initialised model from this config (model_type plus sizes, e.g. "
        "{model_type: gpt2, n_layer: 4}) instead of loading weights.",
    )
    allow_pickle_weights: bool = Field(
        False, description="Allow loading .bin/.pt (pickle) weights; safetensors only by default."
    )

    @model_validator(mode="after")
    def _source_given(self) -> ModelSection:
        if self.config is not None and not isinstance(self.config.get("model_type"), str):
            raise ValueError("model.config needs a 'model_type' (e.g. gpt2, bert)")
        if self.name_or_path is None and self.config is None:
            raise ValueError("give model.name_or_path (a checkpoint) or model.config (a model built from scratch)")
        return self

    @property
    def label(self) -> str:
        """How the model is shown in messages and run records."""
        return str(self.name_or_path) if self.config is None else f"new {self.config['model_type']} (model.config)"


class DataSection(Section):
    """Where the examples come from; tasks subclass this to add their column names."""

    train_file: str | list[str] | None = PathField(description="CSV, TSV, JSON, JSONL, Parquet or text file(s).")
    validation_file: str | list[str] | None = PathField(description="File(s) for evaluation during training.")
    test_file: str | list[str] | None = PathField(description="File(s) for the final test evaluation.")
    dataset_name: str | None = Field(None, description="Hub dataset id (used when no local files are given).")
    dataset_config_name: str | None = Field(None, description="Hub dataset configuration name.")
    dataset_revision: str | None = Field(None, description="Hub dataset revision.")
    train_split: str = Field("train", description="Split name of a hub dataset used for training.")
    validation_split: str = Field("validation", description="Split name of a hub dataset used for validation.")
    test_split: str = Field("test", description="Split name of a hub dataset used for testing.")
    validation_split_percentage: float | None = Field(
        None,
        gt=0,
        lt=100,
        description="Hold out this % of training rows for validation when there is no validation file.",
    )
    max_seq_length: int = Field(128, gt=0, description="Longest tokenized input; longer inputs are truncated.")
    max_train_samples: int | None = Field(None, gt=0, description="Keep only the first N training rows.")
    max_eval_samples: int | None = Field(None, gt=0, description="Keep only the first N validation rows.")
    max_predict_samples: int | None = Field(None, gt=0, description="Keep only the first N test rows.")
    preprocessing_num_workers: int | None = Field(None, gt=0, description="Processes used for tokenization.")

    def has_validation(self) -> bool:
        """Whether this data section yields a validation split."""
        return bool(self.validation_file or self.validation_split_percentage or self.dataset_name)


class EvalSection(Section):
    """Evaluation during and after training."""

    metrics: list[str] | None = PathField(
        None,
        description="Metric names: the task's built-ins, or a Hugging Face `evaluate` module name or script path "
        "(imported only when named).",
        kind="ref",
    )
    early_stopping_patience: int | None = Field(
        None,
        ge=1,
        description="Stop after this many evaluations without improvement of training.metric_for_best_model.",
    )
    early_stopping_threshold: float = Field(0.0, ge=0, description="Smallest change that counts as an improvement.")
    stride: int | None = Field(
        None,
        gt=0,
        description="Language models: score evaluation text with a sliding window moved this many tokens at a "
        "time, so each token is predicted once with as much left context as the window allows.",
    )


class TokenizerTrainSection(Section):
    """Train a new tokenizer on the training corpus before the model is built."""

    vocab_size: int = Field(8000, gt=0, description="Vocabulary size, special tokens included.")
    min_frequency: int = Field(2, ge=1, description="Keep merges/pieces seen at least this often.")
    kind: Literal["auto", "wordpiece", "bpe"] = Field(
        "auto", description="WordPiece (BERT-style) or byte-level BPE (GPT-2-style); auto follows the model type."
    )
    lowercase: bool | None = Field(None, description="Lowercase text first (default: WordPiece yes, BPE no).")


class TokenizerSection(Section):
    """Tokenizer options beyond model.tokenizer_name_or_path."""

    train: TokenizerTrainSection | None = Field(
        None, description="Train a tokenizer on the training data (saved in the run directory)."
    )


class GenerateSection(Section):
    """Defaults for `llmkit generate` (command-line options override them)."""

    max_new_tokens: int | None = Field(None, gt=0)
    do_sample: bool | None = None
    temperature: float | None = Field(None, gt=0)
    top_k: int | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    num_beams: int | None = Field(None, ge=1)
    repetition_penalty: float | None = Field(None, gt=0)
    num_return_sequences: int | None = Field(None, ge=1)
    stop: list[str] | None = None
    seed: int | None = None


class PeftSection(Section):
    """Parameter-efficient fine-tuning: train small adapters instead of every weight (PEFT's LoRA)."""

    method: Literal["lora"] = Field("lora", description="Adapter method (LoRA).")
    r: int = Field(8, gt=0, description="Rank of the LoRA update matrices.")
    alpha: float = Field(16, gt=0, description="LoRA scaling numerator: updates are scaled by alpha / r.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA path.")
    target_modules: list[str] | str | None = Field(
        None,
        description="Module names (or a regex) that get adapters; null: per architecture (BERT query/value, "
        "GPT-2 c_attn, T5 q/v, otherwise PEFT's own table).",
    )
    modules_to_save: list[str] | None = Field(
        None,
        description="Modules trained in full and saved with the adapter; null: the task head (classifier, QA "
        "outputs), never a vocabulary-sized LM head.",
    )
    bias: Literal["none", "all", "lora_only"] = Field("none", description="Which biases are trained.")


class DistillSection(Section):
    """Knowledge distillation: learn from a teacher's softened outputs as well as from the labels."""

    teacher: str = PathField(
        ..., description="Teacher: a run directory or a checkpoint of the same task and vocabulary.", kind="ref"
    )
    temperature: float = Field(2.0, gt=0, description="Softmax temperature for teacher and student (T).")
    alpha: float = Field(
        0.5, ge=0, le=1, description="Weight of the teacher term (alpha * T² * KL); the task loss gets 1 - alpha."
    )


class Recipe(Section):
    """The validated recipe. Task modules extend ``data`` and add a section named after the task."""

    task: str = Field(description=f"One of: {', '.join(TASKS)}.")
    model: ModelSection
    data: DataSection = Field(default_factory=DataSection)
    training: Any = None  # replaced per task by the TrainingArguments-shaped section
    eval: EvalSection = Field(default_factory=EvalSection)
    generate: GenerateSection = Field(default_factory=GenerateSection)
    tokenizer: TokenizerSection = Field(default_factory=TokenizerSection)
    peft: PeftSection | None = Field(None, description="LoRA adapters (null: train every weight).")
    distill: DistillSection | None = Field(None, description="Distil a teacher into this model (null: no teacher).")

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str) -> str:
        if value not in TASKS:
            raise ValueError(f"unknown task '{value}'{did_you_mean(value, TASKS)} (known: {', '.join(TASKS)})")
        return value

    @property
    def options(self) -> Any:
        """The task's own section (``recipe.textcls`` for task ``textcls``)."""
        return getattr(self, self.task, None)


@cache
def recipe_model(task_name: str) -> type[Recipe]:
    """The Recipe class for one task: its data model, its options section and the training section."""
    task = get_task(task_name)
    fields: dict[str, Any] = {
        "data": (task.data_model, Field(default_factory=task.data_model)),
        "training": (training_section_model(), Field(default_factory=training_section_model())),
    }
    if task.options_model is not None:
        fields[task.name] = (task.options_model, Field(default_factory=task.options_model))
    return create_model(f"{task.name.title()}Recipe", __base__=Recipe, **fields)


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class LoadedRecipe:
    """A validated recipe plus where it came from."""

    recipe: Recipe
    name: str  # recipe file stem: default run directory name
    path: Path | None
    overrides: tuple[str, ...] = ()
    lines: dict[KeyPath, int] = field(default_factory=dict, compare=False, repr=False)


def shipped_recipes_dir() -> Path:
    """The folder of recipes shipped with llmkit (inside the wheel, or the source checkout)."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "recipes", package.parent / "recipes"):
        if candidate.is_dir():
            return candidate
    return package / "recipes"


def shipped_recipes() -> dict[str, Path]:
    """Bare name -> path of every shipped recipe."""
    folder = shipped_recipes_dir()
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix in RECIPE_SUFFIXES}


def resolve_recipe_path(name_or_path: str | Path) -> Path:
    """A recipe path as given, or a shipped recipe found by bare name (``textcls``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_recipes()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    if path.is_dir():
        saved = path / "recipe.yaml"  # rundir.RECIPE_FILE (the config layer does not import the runner's modules)
        hint = f"; to re-run the run recorded there: --from-run {name_or_path}" if saved.is_file() else ""
        raise UsageError(f"{name_or_path}: is a directory, not a recipe file{hint}")
    if path.suffix in RECIPE_SUFFIXES or "/" in str(name_or_path):
        raise UsageError(f"{name_or_path}: recipe file not found")
    raise UsageError(
        f"{name_or_path}: no such recipe file or shipped recipe{did_you_mean(str(name_or_path), shipped)}"
        f" (shipped: {', '.join(shipped) or 'none'})"
    )


def load_recipe(
    name_or_path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    command: str | None = None,
) -> LoadedRecipe:
    """Read, override and validate a recipe file; raise one ConfigError listing every problem."""
    path = resolve_recipe_path(name_or_path)
    raw, lines = read_yaml(path)
    if raw is None:
        raise ConfigError(
            f"{path}: the recipe is empty (it needs task:, model: and data: sections); "
            "`llmkit recipes show textcls` prints a complete one"
        )
    return load_recipe_data(raw, source=str(path), lines=lines, overrides=overrides, command=command, path=path)


def load_recipe_data(
    raw: Any,
    *,
    source: str = "<recipe>",
    lines: dict[KeyPath, int] | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    command: str | None = None,
    path: Path | None = None,
    base_dir: Path | None = None,
) -> LoadedRecipe:
    """Validate recipe data that is already parsed (a YAML mapping)."""
    lines = lines or {}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a recipe must be a YAML mapping of sections, got {type(raw).__name__}")
    data, touched = apply_overrides(raw, list(overrides))
    where = Locator(source, lines, touched)

    task_name = data.get("task")
    if not isinstance(task_name, str) or task_name not in TASKS:
        shown = "missing" if task_name is None else f"unknown task '{task_name}'{did_you_mean(str(task_name), TASKS)}"
        raise ConfigError(f"{where(('task',))}task: {shown} (known: {', '.join(TASKS)})")
    task = get_task(task_name)
    if command is not None and command not in task.commands:
        raise UsageError(
            f"{where(('task',))}task: '{task_name}' runs with `llmkit {task.commands[0]}`, not `llmkit {command}`"
        )

    problems = _reserved_training_keys(data)
    given = set(data["training"]) if isinstance(data.get("training"), dict) else set()
    data = _with_defaults(data, task)
    data = resolve_paths(data, recipe_model(task_name), base_dir or (path.parent if path else Path.cwd()), touched)
    try:
        recipe = recipe_model(task_name).model_validate(data)
    except ValidationError as exc:
        problems += describe(exc, data, recipe_model(task_name))
        recipe = None
    environment = command is not None or not _in_run_directory(path)
    problems += _value_problems(data, {p for p, _ in problems}, given, environment)
    if problems:
        raise ConfigError(where.lines_of(problems))
    name = path.stem if path else "run"
    return LoadedRecipe(recipe=recipe, name=name, path=path, overrides=tuple(overrides), lines=lines)


def _has_validation(data: dict[str, Any]) -> bool:
    """Whether the (raw) data section names validation data, as ``DataSection.has_validation`` says."""
    section = data.get("data") if isinstance(data.get("data"), dict) else {}
    return any(section.get(k) for k in ("validation_file", "validation_split_percentage", "dataset_name"))


def _in_run_directory(path: Path | None) -> bool:
    """Whether ``path`` is the recipe saved in a run directory (beside ``run.json``, ``rundir.RUN_FILE``)."""
    return path is not None and (path.parent / "run.json").is_file()


def _value_problems(
    data: dict[str, Any], reported: set[tuple[Any, ...]], given: set[str], environment: bool
) -> list[Problem]:
    """What TrainingArguments, Trainer and torch would refuse later (``llmkit.training_checks``)."""
    training = data.get("training")
    if not isinstance(training, dict) or ("training",) in reported:
        return []
    evaluation = data.get("eval") if isinstance(data.get("eval"), dict) else {}
    skip = {str(p[1]) for p in reported if len(p) >= 2 and p[0] == "training"} | set(RESERVED)
    found = training_problems(
        {k: v for k, v in training.items() if k not in RESERVED},
        has_validation=_has_validation(data),
        early_stopping=bool(evaluation.get("early_stopping_patience")),
        skip=skip,
        given=given,
        environment=environment,
    )
    return [(p, m) for p, m in found if p not in reported]


def _with_defaults(data: dict[str, Any], task: Any) -> dict[str, Any]:
    """Fill llmkit's training defaults (lowest precedence) so that --dry-run shows them."""
    training = data.get("training")
    if training is not None and not isinstance(training, dict):
        return data  # the validator reports the wrong type
    training = dict(training or {})
    has_validation = _has_validation(data)
    defaults: dict[str, Any] = {
        "eval_strategy": "epoch" if has_validation else "no",
        "logging_steps": 10,
        "report_to": "none",
        "save_total_limit": 2,
        "logging_nan_inf_filter": False,  # show NaN losses in logs; llmkit stops on them anyway
        **task.training_defaults,
    }
    for key, value in defaults.items():
        training.setdefault(key, value)
    # Trainer requires matching strategies when it keeps the best checkpoint.
    training.setdefault("save_strategy", training["eval_strategy"] if training["eval_strategy"] != "no" else "epoch")
    if training.get("load_best_model_at_end") and training["eval_strategy"] == "no":
        training["load_best_model_at_end"] = False
    return {**data, "training": training}


def _reserved_training_keys(data: dict[str, Any]) -> list[Problem]:
    training = data.get("training")
    if not isinstance(training, dict):
        return []
    return [
        (("training", key), f"training.{key}: set by llmkit, not in recipes ({RESERVED[key]})")
        for key in training
        if key in RESERVED
    ]


# ---------------------------------------------------------------------------------------------
# Saving and updating

_SECRET_KEY = re.compile(r"(?:^|_)(?:token|key|secret|password|auth|api_key)$", re.I)
REDACTED = "<redacted>"


def recipe_to_dict(recipe: Recipe, redact: bool = True) -> dict[str, Any]:
    """Plain data for YAML: every section in full, ``training`` with only the keys that are set."""
    data = recipe.model_dump(mode="json")
    data["training"] = recipe.training.model_dump(mode="json", exclude_unset=True)
    return _redact(data) if redact else data


def _redact(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (REDACTED if isinstance(v, str) and v and _SECRET_KEY.search(str(k)) else _redact(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_redact(v) for v in node]
    return node


def redact_argv(tokens: list[str]) -> list[str]:
    """Command-line tokens with the values of secret-looking ``key=value`` overrides hidden."""
    out = []
    for token in tokens:
        key, sep, value = token.partition("=")
        secret = sep and value and _SECRET_KEY.search(key.rsplit(".", 1)[-1])
        out.append(f"{key}={REDACTED}" if secret else token)
    return out


def recipe_to_yaml(recipe: Recipe, redact: bool = True) -> str:
    """The recipe as YAML text, secrets redacted."""
    return dump_yaml(recipe_to_dict(recipe, redact=redact))


def updated(recipe: Recipe, changes: dict[str, Any]) -> Recipe:
    """A copy of ``recipe`` with dotted keys changed, validated again (recipes are frozen)."""
    data = recipe_to_dict(recipe, redact=False)
    for dotted, value in changes.items():
        node = data
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    try:
        return recipe_model(recipe.task).model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            Locator("<recipe>", {}, set()).lines_of(describe(exc, data, recipe_model(recipe.task)))
        ) from None


def load_saved_recipe(path: Path) -> Recipe:
    """Read a ``recipe.yaml`` written into a run directory (paths there are already absolute)."""
    raw, lines = read_yaml(path)
    return load_recipe_data(raw, source=str(path), lines=lines, path=path).recipe


def parse_recipe_text(text: str, source: str = "<string>") -> LoadedRecipe:
    """Validate recipe YAML given as text (used by tests and `recipes show`)."""
    raw, lines = parse_yaml(text, source)
    return load_recipe_data(raw, source=source, lines=lines)


def training_field_help(name: str) -> str:
    """Help text of one TrainingArguments field, read from transformers' source."""
    info = training_fields().get(name)
    return info.help if info else ""
