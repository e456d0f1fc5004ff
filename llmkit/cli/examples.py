"""The "Examples" block at the end of a command's ``--help`` (as the ``hf`` CLI shows them).

Each command passes its examples as ``epilog=examples_epilog(...)`` where it is registered, so the
examples sit next to the command and ``tests/integration/test_help.py`` can check every command has some.
"""

from __future__ import annotations

EXAMPLES_TITLE = "Examples"


def examples_epilog(*commands: str) -> str:
    """Typer/rich markup for an epilog listing ``commands`` as indented shell lines under a bold title.

    Typer renders the epilog with rich markup after ``inspect.cleandoc``: the leading empty line keeps
    cleandoc from stripping the indentation of the example lines, and ``escape`` keeps overrides such as
    ``training.report_to=[tensorboard]`` from being read as markup.
    """
    from rich.markup import escape

    lines = "\n".join(f"  $ {escape(command)}" for command in commands)
    return f"\n[bold]{EXAMPLES_TITLE}[/bold]\n{lines}"
