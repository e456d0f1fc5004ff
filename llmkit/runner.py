"""Moved to the llmkit.train package; this alias keeps old imports working until the last step of #19 removes it.

``llmkit.train`` re-exports every name callers took from ``llmkit.runner``. Monkeypatching through this
alias patches the package, not the module that calls the name: patch ``llmkit.train.<module>.<name>``.
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("llmkit.train")
