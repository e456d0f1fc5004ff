"""The `llmkit` command line (``llmkit.cli:main`` is the console script; ``python -m llmkit`` runs it too)."""

from llmkit.cli.app import app, main

__all__ = ["app", "main"]
