"""How a command is declared: its name, the function that runs it and its help."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from mailproc.service.app import App

Handler = Callable[["App", argparse.Namespace], int | None]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(
    parent: Commands, name: str, handler: Handler, help: str
) -> argparse.ArgumentParser:
    """A command run by ``handler``; ``help`` is both its line in the list and its
    description."""
    sub = parent.add_parser(name, help=help, description=help)
    sub.set_defaults(handler=handler)
    return sub


def add_group(parent: Commands, name: str, help: str) -> Commands:
    """A command made of actions (``tickets list``, ``tickets show``)."""
    group = parent.add_parser(name, help=help, description=help)
    return group.add_subparsers(required=True, metavar="ACTION")
