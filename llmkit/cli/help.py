"""How ``--help`` reads in every command: the Typer class the app and its command groups are built with.

Typer 0.29 prints a type column for every option, ``<bool>`` included for flags that take no value
(``TyperOption.display_type_rich`` falls back to ``display_type`` unless the option has a metavar). A flag's
value is its presence, so the column stays empty for flags: the command and group classes below give every
flag an empty metavar when click collects the parameters (help, completion and parsing all go through
``get_params``). Doing it in the classes rather than per option covers ``--help``, ``--install-completion``
and every flag a later command adds, as long as it is registered on an :class:`LlmkitTyper`.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


def _without_flag_types(params: list[Any]) -> list[Any]:
    """``params`` with an empty metavar on each flag that has none, so no ``<bool>`` shows."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class LlmkitCommand(TyperCommand):
    """A command whose flags show no value type in ``--help``."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_flag_types(super().get_params(ctx))


class LlmkitGroup(TyperGroup):
    """A command group (``llmkit``, ``llmkit recipes``) whose flags show no value type in ``--help``."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_flag_types(super().get_params(ctx))


class LlmkitTyper(typer.Typer):
    """``typer.Typer`` building its group and commands with the classes above unless told otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", LlmkitGroup)
        super().__init__(**kwargs)

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any) -> Any:
        return super().command(name, cls=cls or LlmkitCommand, **kwargs)
