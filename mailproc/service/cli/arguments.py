"""How a command is declared (its name, the function that runs it, its help, the options
every command takes) and how it reads the files named on its line."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from mailproc.errors import MailprocError

if TYPE_CHECKING:
    from mailproc.service.app import App

Handler = Callable[["App", argparse.Namespace], int | None]
# What a command's line lacks that argparse cannot say well ("poll" without "--once"), or None.
Check = Callable[[argparse.Namespace], str | None]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

LOG_LEVELS = ("debug", "info", "warning", "error")


def add_global_options(parser: argparse.ArgumentParser, default: object = None) -> None:
    """--config and --log-level. Every command takes them too, with SUPPRESS as its default
    (``default=argparse.SUPPRESS``): given before the command, a value is not undone by the
    command's absent one; given after it, it counts the same."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help="configuration file (default: $MAILPROC_CONFIG, else ./config.toml)",
    )
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, default=default, help="overrides [logging] level"
    )


def _global_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    add_global_options(options, default=argparse.SUPPRESS)
    return options


_GLOBAL = _global_options()


def add_command(
    parent: Commands, name: str, handler: Handler, help: str, check: Check | None = None
) -> argparse.ArgumentParser:
    """A command run by ``handler``; ``help`` is both its line in the list and its
    description; ``check`` refuses a line that argparse accepts, before anything runs."""
    sub = parent.add_parser(name, help=help, description=help, parents=[_GLOBAL])
    sub.set_defaults(handler=handler, check=check)
    return sub


def add_group(parent: Commands, name: str, help: str) -> Commands:
    """A command made of actions (``tickets list``, ``tickets show``)."""
    group = parent.add_parser(name, help=help, description=help, parents=[_GLOBAL])
    return group.add_subparsers(required=True, metavar="ACTION")


def add_json_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--json", action="store_true", help="print JSON (times in ISO 8601, UTC) for scripts"
    )


class UnreadableInput(MailprocError):
    """A file named on the command line cannot be read: "cannot read FILE: reason"."""

    def __init__(self, path: str | Path, error: OSError) -> None:
        super().__init__(f"cannot read {path}: {error.strerror or error}")


def read_input(name: str) -> bytes:
    """The bytes of a file named on the command line (a message)."""
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise UnreadableInput(name, exc) from exc


def readable(path: Path, *, folder: bool = False) -> Path:
    """``path``, a file (or with ``folder``, a folder such as a Maildir) that its own reader
    reads later: refused now, with the reason, when it cannot be opened."""
    try:
        if folder and path.is_dir():
            os.scandir(path).close()
        else:
            path.open("rb").close()
    except OSError as exc:
        raise UnreadableInput(path, exc) from exc
    return path
