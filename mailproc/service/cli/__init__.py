"""The ``mailproc`` command line: a thin layer over the app; scripts rely on its output.

Each module here holds one group of commands: it declares them (``add_commands``) and runs
them. This package starts as fast as a pipe from the MTA needs: its modules import only the
standard library, and each command what it uses once the line is parsed (``--help`` loads no
SQLAlchemy; ``ingest`` no Alembic, scheduler, metrics or IMAP client: tests/test_startup.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from mailproc import __version__
from mailproc.errors import ConfigError, MailprocError, RulesError, StoreError, TemplateError
from mailproc.service.cli import health, maintenance, outbox, processing, rules, tickets, web
from mailproc.service.cli.arguments import UnreadableInput, add_global_options, readable

EXIT_USAGE = 2  # a command line argparse or the command refuses
EXIT_CONFIG = 2  # bad configuration, rules or templates
EXIT_STORE = 3  # database unreachable or behind


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return code
    except BrokenPipeError:
        # The reader went away (`mailproc tickets list | head`): nothing more to say, and
        # Python's flush at exit must not fail on the closed pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.check and (refusal := args.check(args)):
        print(f"mailproc: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    # What every command needs, loaded once the line is parsed: --help needs none of it.
    from sqlalchemy.exc import OperationalError

    from mailproc.config import load_config, resolve_config_path
    from mailproc.service.app import App
    from mailproc.service.logs import setup_logging
    from mailproc.service.memory import give_back_large_blocks

    give_back_large_blocks()
    try:
        config_file = readable(resolve_config_path(args.config))
    except UnreadableInput as exc:  # a configuration error, said as for any file named
        print(f"mailproc: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        config = load_config(config_file)
        setup_logging(args.log_level or config.logging.level, config.logging.format)
        # Only `db upgrade` creates a database: given a wrong path, any other command must
        # stop ("no database at PATH"), not leave an empty one there.
        return int(args.handler(App(config, create_database=False), args) or 0)
    except (ConfigError, RulesError, TemplateError) as exc:
        print(f"mailproc: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        print(f"mailproc: database error: {exc}", file=sys.stderr)
        return EXIT_STORE
    except OperationalError as exc:  # locked, full or gone between two messages
        print(f"mailproc: database error: {exc.orig}", file=sys.stderr)
        return EXIT_STORE
    except MailprocError as exc:
        print(f"mailproc: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailproc",
        description="The e-mail help desk: reads the support mailboxes, opens and follows "
        "tickets, answers by mail. `mailproc COMMAND --help` says more of each command.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"%(prog)s {__version__}",
        help="print the version and exit",
    )
    add_global_options(parser)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for group in (processing, health, maintenance, tickets, outbox, rules, web):
        group.add_commands(commands)
    return parser
