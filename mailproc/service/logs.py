"""Logging setup: one line per event on standard error, as text or JSON, personal data masked."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from mailproc.logsafe import install_masking

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors (Loki, Elasticsearch, journald)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, fmt: str) -> None:
    """Configure the root logger once; ``fmt`` is "text" or "json".

    ``level`` is mailproc's own; the libraries log at info at most. At debug, imapclient
    logs every line the IMAP server sends, the mail fetched included: subjects, names and
    file names that masking cannot find (LGPD), in lines no operator needs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    install_masking(handler)  # LGPD: no CPF, CNPJ, phone or mailbox name in any log line
    root = logging.getLogger()
    root.handlers[:] = [handler]
    wanted = logging.getLevelNamesMapping()[level.upper()]
    root.setLevel(max(wanted, logging.INFO))
    # Below info for mailproc's loggers only; else they follow the root (NOTSET), and a call
    # at info undoes an earlier one at debug.
    logging.getLogger("mailproc").setLevel(wanted if wanted < logging.INFO else logging.NOTSET)
