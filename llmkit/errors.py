"""One exception hierarchy for every failure a user can cause or meet.

The CLI maps each class to an exit code and prints ``str(error)`` as one line;
everything below the CLI raises these instead of printing or exiting.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class LlmkitError(Exception):
    """Base class: a failure with a documented exit code and a one-line message."""

    exit_code = 1
    kind = "error"


class UsageError(LlmkitError):
    """Bad command-line usage: an option out of range, a path that would be overwritten (exit 2)."""

    exit_code = 2
    kind = "usage error"


class ConfigError(UsageError):
    """A recipe that does not validate; may carry several problems at once (exit 2)."""

    kind = "recipe error"

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class DataError(LlmkitError):
    """Missing file, column, label or an empty split (exit 3)."""

    exit_code = 3
    kind = "data error"


class ModelError(LlmkitError):
    """A model, tokenizer or checkpoint that cannot be found or loaded (exit 4)."""

    exit_code = 4
    kind = "model error"


class DivergedError(LlmkitError):
    """Training produced a non-finite loss or gradient (exit 5)."""

    exit_code = 5
    kind = "training diverged"


class ResourceError(LlmkitError):
    """Out of memory or out of disk (exit 6)."""

    exit_code = 6
    kind = "out of resources"


class RunInterrupted(LlmkitError):  # noqa: N818 - not an error of the user
    """The run was stopped by a signal after saving what it could (exit 130 or 143)."""

    kind = "interrupted"

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or ``""`` when none is close."""
    matches = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{matches[0]}'?" if matches else ""
