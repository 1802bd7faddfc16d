"""Logging setup: one line per event on standard error, as text or JSON, personal data masked.

A line's fields (mailproc.logsafe.Fields, passed as ``extra=fields(...)``) are JSON keys in
the JSON format, and ``key=value`` after the message in the text format:

    ... INFO mailproc.outgoing.outbox: outbox delivered outbox=7 message_id=... relay="250 ..."

JSON lines are written by python-json-logger: a formatter for the standard library's logging,
which every module and library here logs through, that makes a record's extra attributes keys
(structlog would mean a second logging API beside it).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeAlias

from pythonjsonlogger.json import JsonFormatter as _PythonJsonFormatter

from mailproc.logsafe import FIELDS, MasksItself, mask, masked

ExcInfo: TypeAlias = (
    tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries whose info lines are routine detail, shown at debug only: APScheduler writes two
# per job run ("Running job", "executed successfully"), Alembic its set-up on each upgrade.
# Their warnings (a run missed or skipped, a migration's) show at every level.
CHATTY_LIBRARIES = ("apscheduler", "alembic")


class TextFormatter(logging.Formatter, MasksItself):
    """The message, then its fields as ``key=value`` (quoted when they hold a space)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_text:  # a traceback another handler rendered first, cached on the record
            record.exc_text = mask(record.exc_text)
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = mask(super().formatMessage(record))
        found = [(k, v) for k, v in record.__dict__.items() if k in FIELDS]
        return "".join([line, *(f" {k}={_text(masked(k, v))}" for k, v in found)])

    def formatException(self, ei: ExcInfo) -> str:
        return mask(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return mask(super().formatStack(stack_info))


def _text(value: object) -> str:
    if value is None:
        return "-"
    text = str(value)
    return (
        json.dumps(text, ensure_ascii=False) if not text or any(c in text for c in ' "=') else text
    )


class JsonFormatter(_PythonJsonFormatter, MasksItself):
    """One JSON object per line, for log collectors (Loki, Elasticsearch, journald): time,
    level, logger, message, the fields, and the traceback as "exception"."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
            },
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """Every value masked, the message and the traceback too, before it becomes JSON."""
        log_data["level"] = str(log_data["level"]).lower()
        return {name: masked(name, value) for name, value in log_data.items()}


def setup_logging(level: str, fmt: str) -> None:
    """Configure the root logger once; ``fmt`` is "text" or "json".

    ``level`` is mailproc's own; the libraries log at info at most, the chatty ones at
    warning unless it is debug. At debug, imapclient logs every line the IMAP server sends,
    the mail fetched included: subjects, names and file names that masking cannot find
    (LGPD), in lines no operator needs."""
    handler = logging.StreamHandler(sys.stderr)
    # Both mask personal data (LGPD) in every part of every line: mailproc.logsafe.
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    wanted = logging.getLevelNamesMapping()[level.upper()]
    root.setLevel(max(wanted, logging.INFO))
    # Below info for mailproc's loggers only; else they follow the root (NOTSET), and a call
    # at info undoes an earlier one at debug.
    logging.getLogger("mailproc").setLevel(wanted if wanted < logging.INFO else logging.NOTSET)
    for library in CHATTY_LIBRARIES:
        logging.getLogger(library).setLevel(
            logging.INFO if wanted < logging.INFO else logging.WARNING
        )
