"""The "Examples" block at the end of a command's ``--help`` (as the ``hf`` CLI shows them).

Each command passes its examples as ``epilog=examples_epilog(...)`` where it is registered, so the
examples sit next to the command and ``tests/integration/test_help.py`` can check every command has some.
"""

from __future__ import annotations


def examples_epilog(*commands: str) -> str:
    """Typer/rich markup for an epilog listing ``commands`` as shell lines, one paragraph each."""
    return "[bold]Examples[/bold]\n\n" + "\n\n".join(f"  $ {command}" for command in commands)
