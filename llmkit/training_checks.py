"""Moved to llmkit.config.training_checks; this alias keeps old imports working until #19 removes it."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("llmkit.config.training_checks")
