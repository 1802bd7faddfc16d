"""A Maildir folder as a message source: read from new/, moved to cur/ only after commit."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SUBDIRS = ("new", "cur", "tmp")


@dataclass(frozen=True)
class MaildirItem:
    """One message waiting in new/: its file and bytes."""

    path: Path
    raw: bytes


class MaildirSource:
    """Reads ``<path>/new`` in delivery order; ``ack`` marks a message done by moving it.

    Moving (a rename within one folder tree, atomic on POSIX) is the acknowledgement: a crash
    before it leaves the file in new/, and the next poll sees it again — the store's dedup
    key turns that second sight into a ``duplicate`` outcome, never a second ticket.
    """

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path
        for sub in _SUBDIRS:
            (path / sub).mkdir(parents=True, exist_ok=True)

    @property
    def origin(self) -> str:
        return f"maildir:{self.name}"

    def pending(self) -> Iterator[MaildirItem]:
        new = self.path / "new"
        # Maildir names start with the delivery time, so name order is arrival order.
        for entry in sorted(os.scandir(new), key=lambda e: e.name):
            if not entry.is_file() or entry.name.startswith("."):
                continue
            try:
                raw = Path(entry.path).read_bytes()
            except FileNotFoundError:  # another worker took it meanwhile
                continue
            yield MaildirItem(Path(entry.path), raw)

    def ack(self, item: MaildirItem) -> None:
        """Move the message to cur/ flagged Seen (``:2,S`` is the Maildir info suffix)."""
        target = self.path / "cur" / f"{item.path.name.split(':', 1)[0]}:2,S"
        try:
            item.path.rename(target)
        except FileNotFoundError:
            log.warning("maildir %s: %s was already moved", self.name, item.path.name)
