"""Recipe sections: closed, frozen pydantic models that know no task.

Tasks subclass ``Section``/``DataSection`` for their own options; ``llmkit.recipe`` composes the full
``Recipe`` class of one task from these and the task registry. Only pydantic is imported here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def PathField(default: Any = None, description: str = "", kind: str = "file") -> Any:  # noqa: N802 - like Field
    """A recipe field holding a path, read from the recipe's folder (``llmkit.config.paths``).

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


class CardSection(Section):
    """What the model card (README.md of a run directory or an export) declares beyond what the run measured."""

    license: str | None = Field(
        None,
        description="Hub license id of the trained model (apache-2.0, mit, other...); null: the base model's own "
        "card's license, or none.",
    )
    datasets: list[str] | None = Field(
        None, description="Hub dataset ids the model was trained on; null: data.dataset_name when set."
    )
    tags: list[str] = Field(default_factory=list, description="Extra Hub tags (llmkit and the task are always set).")


class Recipe(Section):
    """Base of the validated recipe; ``llmkit.recipe`` composes the class of each task from it.

    A task extends ``data`` and adds a section named after itself. This layer knows no task.
    """

    task: str = Field(description="The task name; llmkit.recipe checks it against the task registry.")
    model: ModelSection
    data: DataSection = Field(default_factory=DataSection)
    training: Any = None  # replaced per task by the TrainingArguments-shaped section
    eval: EvalSection = Field(default_factory=EvalSection)
    generate: GenerateSection = Field(default_factory=GenerateSection)
    tokenizer: TokenizerSection = Field(default_factory=TokenizerSection)
    peft: PeftSection | None = Field(None, description="LoRA adapters (null: train every weight).")
    distill: DistillSection | None = Field(None, description="Distil a teacher into this model (null: no teacher).")
    card: CardSection = Field(default_factory=CardSection)

    @property
    def options(self) -> Any:
        """The task's own section (``recipe.textcls`` for task ``textcls``)."""
        return getattr(self, self.task, None)
