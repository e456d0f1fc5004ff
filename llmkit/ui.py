"""Split into llmkit.cli.console, llmkit.cli.show and llmkit.cli.progress; this module re-exports their
names to keep old imports working until the last step of #19 removes it. Nothing outside llmkit.cli
uses it, so nothing patches it."""

from typing import Any

from llmkit.cli.console import *  # noqa: F403
from llmkit.cli.console import TIMING_SUFFIXES  # noqa: F401
from llmkit.cli.show import *  # noqa: F403


def progress_callback() -> Any:
    """The training progress bar (now ``llmkit.cli.progress.RichProgress``)."""
    from llmkit.cli.progress import RichProgress

    return RichProgress()
