"""Fault-table rows: recipe errors that the first round already handled (kept as regression rows)."""

from fault_table import Case

CASES = [
    Case(
        "recipe-typo-key",
        lambda env: ["finetune", env.recipe(extra="  num_train_epoch: 2\n"), "-o", "run"],
        2,
        ["training.num_train_epoch", "did you mean 'num_train_epochs'"],
    ),
]
