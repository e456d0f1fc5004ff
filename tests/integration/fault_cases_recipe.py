"""Fault-table rows: bad recipe files and training values, refused at load time (exit 2) before any data or
model is loaded and before a run directory exists (no row may write anything: ``may_write`` stays empty)."""

from __future__ import annotations

import importlib.util

from fault_table import FIXTURES, Case


def line_of(task: str, text: str) -> int:
    """The line of ``text`` in ``tests/fixtures/<task>-tiny.yaml`` (so rows can assert ``recipe.yaml:N:``)."""
    lines = (FIXTURES / f"{task}-tiny.yaml").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def appended(task: str) -> int:
    """The line of the first ``extra`` line that ``env.recipe`` appends to the fixture."""
    return len((FIXTURES / f"{task}-tiny.yaml").read_text(encoding="utf-8").splitlines()) + 1


def missing_integration() -> str:
    """A ``report_to`` integration whose package this machine lacks (wandb almost everywhere)."""
    for name in ("wandb", "mlflow", "swanlab", "dvclive", "clearml", "trackio", "codecarbon"):
        if importlib.util.find_spec(name) is None:
            return name
    raise AssertionError("every integration is installed")


REPORT_TO = missing_integration()


def _latin1_recipe(env) -> list:
    text = (FIXTURES / "textcls-tiny.yaml").read_text(encoding="utf-8").replace("tiny-bert", "tiny-bert # café")
    env.write("recipe.yaml", text.encode("latin-1"))
    return ["finetune", "recipe.yaml", "-o", "run"]


def _no_validation_but_eval_steps(env) -> list:
    recipe = env.recipe(
        "textcls", **{"  validation_file: textcls/validation.csv\n": ""}, extra="  eval_strategy: steps\n"
    )
    return ["finetune", recipe, "-o", "run"]


CASES = [
    Case(
        "recipe-negative-learning-rate",
        lambda env: ["finetune", env.recipe(**{"learning_rate: 1e-3": "learning_rate: -1e-3"}), "-o", "run"],
        2,
        [f"recipe.yaml:{line_of('textcls', 'learning_rate')}: training.learning_rate: must be >= 0, got -0.001"],
    ),
    Case(
        "recipe-zero-batch-size-override",
        lambda env: ["validate", env.recipe("qa"), "training.per_device_train_batch_size=0"],
        2,
        ["command line: training.per_device_train_batch_size: must be >= 1, got 0"],
    ),
    Case(
        "recipe-negative-epochs-would-finish-with-0-steps",
        lambda env: ["pretrain", env.recipe("clm", **{"num_train_epochs: 2": "num_train_epochs: -1"}), "-o", "run"],
        2,
        [f"recipe.yaml:{line_of('clm', 'num_train_epochs')}: training.num_train_epochs: must be >= 0, got -1"],
    ),
    Case(
        "recipe-max-steps-zero-dry-run",
        lambda env: ["finetune", env.recipe("translation", **{"max_steps: 6": "max_steps: 0"}), "--dry-run"],
        2,
        ["training.max_steps: 0 trains nothing", "-1 to train training.num_train_epochs"],
    ),
    Case(
        "recipe-max-grad-norm-null",
        lambda env: ["pretrain", env.recipe("mlm", extra="  max_grad_norm: null\n"), "-o", "run"],
        2,
        [f"recipe.yaml:{appended('mlm')}: training.max_grad_norm: null is not a value here", "default 1.0"],
    ),
    Case(
        "recipe-adam-beta-out-of-range-eval",
        lambda env: ["eval", env.recipe(extra="  adam_beta2: 1.0\n")],
        2,
        ["training.adam_beta2: must be in [0, 1), got 1.0"],
    ),
    Case(
        "recipe-unknown-scheduler-name",
        lambda env: ["finetune", env.recipe("qa", extra="  lr_scheduler_type: cosin\n"), "-o", "run"],
        2,
        ["training.lr_scheduler_type: unknown value 'cosin'; did you mean 'cosine'?"],
    ),
    Case(
        "recipe-unknown-optimizer-dry-run",
        lambda env: ["pretrain", env.recipe("clm", extra="  optim: adamw\n"), "--dry-run"],
        2,
        ["training.optim: unknown value 'adamw'; did you mean 'adamw_torch'?"],
    ),
    Case(
        "recipe-unknown-eval-strategy",
        lambda env: ["validate", env.recipe(extra="  eval_strategy: epochs\n")],
        2,
        ["training.eval_strategy: unknown value 'epochs'; did you mean 'epoch'?"],
    ),
    Case(
        "recipe-load-best-with-different-save-strategy",
        lambda env: [
            "finetune",
            env.recipe("translation", **{"save_steps: 3": "save_steps: 3\n  save_strategy: epoch"}),
            "-o",
            "run",
        ],
        2,
        ["training.load_best_model_at_end: needs training.save_strategy to match", "'steps' and save_strategy 'epoch'"],
    ),
    Case(
        "recipe-save-steps-not-a-multiple-of-eval-steps",
        lambda env: ["validate", env.recipe("translation", **{"save_steps: 3": "save_steps: 4"})],
        2,
        ["training.save_steps: 4 must be a multiple of the evaluation steps (3)"],
    ),
    Case(
        "recipe-bf16-and-fp16",
        lambda env: ["pretrain", env.recipe("mlm"), "training.bf16=true", "training.fp16=true", "-o", "run"],
        2,
        ["training.bf16: bf16 and fp16 are both on; choose one precision"],
    ),
    Case(
        "recipe-report-to-missing-package",
        lambda env: ["finetune", env.recipe(extra=f"  report_to: [{REPORT_TO}]\n"), "-o", "run"],
        2,
        [f"training.report_to: '{REPORT_TO}' needs the package", "pip install"],
    ),
    Case(
        "recipe-logging-steps-zero",
        lambda env: ["finetune", env.recipe("qa", **{"logging_steps: 2": "logging_steps: 0"}), "-o", "run"],
        2,
        ["training.logging_steps: logging_strategy 'steps' needs logging_steps > 0, got 0"],
    ),
    Case(
        "recipe-early-stopping-without-metric",
        lambda env: ["finetune", env.recipe(extra="eval:\n  early_stopping_patience: 2\n"), "-o", "run"],
        2,
        ["eval.early_stopping_patience: needs training.metric_for_best_model"],
    ),
    Case(
        "recipe-eval-strategy-without-validation-data",
        _no_validation_but_eval_steps,
        2,
        ["training.eval_strategy: 'steps' needs validation data"],
    ),
    Case(
        "recipe-min-lr-scheduler-without-its-argument",
        lambda env: ["validate", env.recipe("clm", extra="  lr_scheduler_type: cosine_with_min_lr\n")],
        2,
        ["training.lr_scheduler_kwargs: 'cosine_with_min_lr' needs exactly one of min_lr and min_lr_rate"],
    ),
    Case(
        "model-missing-directory-dry-run",
        lambda env: ["finetune", env.recipe(), "model.name_or_path=./models/gone", "--dry-run"],
        4,
        ["model.name_or_path: directory './models/gone' not found"],
    ),
    Case(
        "recipe-removed-warmup-ratio",
        lambda env: ["finetune", env.recipe(extra="  warmup_ratio: 0.1\n"), "--dry-run"],
        2,
        ["training.warmup_ratio: unknown key: transformers 5 takes the ratio as training.warmup_steps"],
    ),
    Case(
        "recipe-every-problem-at-once",
        lambda env: [
            "finetune",
            env.recipe(extra="  max_steps: -3\n  weight_decay: -0.1\n  save_total_limit: -1\n"),
            "training.seed=-1",
            "-o",
            "run",
        ],
        2,
        ["training.max_steps: got -3", "training.weight_decay:", "training.save_total_limit:", "training.seed:"],
    ),
    Case(
        "recipe-deepspeed-config-file-missing",
        lambda env: ["finetune", env.recipe(extra="  deepspeed: zero2.json\n"), "--dry-run"],
        2,
        ["training.deepspeed: file not found:", "zero2.json"],
    ),
    Case(
        "recipe-file-not-utf8",
        _latin1_recipe,
        2,
        [f"recipe.yaml:{line_of('textcls', 'tiny-bert')}: not UTF-8 text", "at offset"],
    ),
    Case(
        "recipe-file-empty",
        lambda env: ["pretrain", env.write("empty.yaml", "# nothing yet\n"), "-o", "run"],
        2,
        ["empty.yaml: the recipe is empty"],
    ),
    Case(
        "recipe-is-a-directory",
        lambda env: ["validate", env.write("configs/notes.txt", "x").parent],
        2,
        ["configs: is a directory, not a recipe file"],
    ),
    Case(
        "recipe-override-without-equals",
        lambda env: ["finetune", env.recipe("translation"), "training.seed", "-o", "run"],
        2,
        ["override 'training.seed': no '='"],
    ),
]
