"""One module per group of commands; ``llmkit.cli.app`` registers them. Each is light at import time."""
