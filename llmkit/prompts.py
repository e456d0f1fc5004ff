"""Moved to llmkit.cli.commands.inputs; this alias keeps old imports working until the last step of #19 removes it."""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("llmkit.cli.commands.inputs")
