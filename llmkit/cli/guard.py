"""How every command body runs: an ``LlmkitError`` becomes one line per problem and its exit code.

Its own module so that command modules (``recipes`` among them) can use it without importing the app
that registers them.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from typing import TypeVar

import typer

from llmkit.errors import LlmkitError

T = TypeVar("T")


def guarded(debug: bool, action: Callable[[], T]) -> T:
    """Run a command body; map errors to one line each and the documented exit codes."""
    from llmkit.cli import console

    debug = debug or os.environ.get("LLMKIT_DEBUG", "") not in ("", "0")
    try:
        return action()
    except typer.Exit:
        raise
    except LlmkitError as exc:
        if debug:
            traceback.print_exc()
        console.error(exc.kind, str(exc))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        console.error("interrupted", "stopped by Ctrl-C")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            traceback.print_exc()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        console.error(
            "internal error",
            f"{type(exc).__name__}: {first} (a bug in llmkit or a library; run with --debug for the traceback)",
        )
        raise typer.Exit(1) from None


def verbose_libraries(verbose: bool) -> None:
    """--verbose: tell the layers below (which read the environment, also in torchrun workers) to keep logs."""
    if verbose:
        os.environ["LLMKIT_VERBOSE"] = "1"
