"""The ``mailproc`` command line: a thin layer over the app; scripts rely on its output.

Each module here holds one group of commands: it declares them (``add_commands``) and runs
them. This package starts as fast as a pipe from the MTA needs: its modules import only the
standard library, and each command what it uses once the line is parsed (``--help`` loads no
SQLAlchemy; ``ingest`` no Alembic, scheduler, metrics or IMAP client: tests/test_startup.py).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mailproc.errors import ConfigError, MailprocError, RulesError, StoreError, TemplateError
from mailproc.service.cli import health, maintenance, outbox, processing, rules, tickets

EXIT_CONFIG = 2  # bad configuration, rules or templates
EXIT_STORE = 3  # database unreachable or behind


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # What every command needs, loaded once the line is parsed: --help needs none of it.
    from sqlalchemy.exc import OperationalError

    from mailproc.config import load_config, resolve_config_path
    from mailproc.service.app import App
    from mailproc.service.logs import setup_logging
    from mailproc.service.memory import give_back_large_blocks

    give_back_large_blocks()
    try:
        config = load_config(resolve_config_path(args.config))
        setup_logging(args.log_level or config.logging.level, config.logging.format)
        return int(args.handler(App(config), args) or 0)
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
    parser = argparse.ArgumentParser(prog="mailproc", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", help="configuration file (default: $MAILPROC_CONFIG, else ./config.toml)"
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="overrides [logging] level",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    for group in (processing, health, maintenance, tickets, outbox, rules):
        group.add_commands(commands)
    return parser
