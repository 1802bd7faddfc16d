"""Helpers for retention and erasure tests: personal data in real mail, a desk aged by hand,
and where in the database (every table, every column, and SQLite's file) that data is."""

from __future__ import annotations

import base64
import email
import io
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import decode_header, make_header
from pathlib import Path

from sqlalchemy import MetaData, select, text
from sqlalchemy.engine import make_url

from mailproc.service.app import App
from mailproc.storage import models as m
from mailproc.storage.db import make_engine


@dataclass(frozen=True)
class Person:
    """The personal data one person's mail carries, and how it can be found."""

    cpf: str
    cnpj: str
    print_png: bytes

    @property
    def needles(self) -> dict[str, bytes]:
        """What to look for: CPF and CNPJ formatted and bare, the print's bytes."""
        digits = {f"{name} digits": "".join(c for c in value if c.isdigit()) for name, value in
                  (("cpf", self.cpf), ("cnpj", self.cnpj))}  # fmt: skip
        found = {"cpf": self.cpf, "cnpj": self.cnpj, **digits}
        return {name: value.encode() for name, value in found.items()} | {"print": self.print_png}

    @property
    def file_needles(self) -> dict[str, bytes]:
        """What to look for in a database file, where mail is stored undecoded: the needles,
        and the print's first line as base64 (how the desk's own mail carries it)."""
        first_line = base64.b64encode(self.print_png)[:76]
        return self.needles | {"print as base64": first_line}

    def identification(self) -> str:
        """Lines of a mail body naming the person and her unit."""
        return f"CPF do usuário: {self.cpf}\nCNPJ do órgão: {self.cnpj}\n"


def window_print(width: int, height: int) -> bytes:
    """A print of a window (a print counts from 300x200 pixels) without text: a PNG of
    about a kilobyte, which SQLite keeps whole in a page, so that the scans of the
    database file find it. Its size makes it one of its own, down to its first bytes."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (240, 240, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width - 1, 24), fill=(32, 80, 150))
    draw.rectangle((40, 60, width - 40, height - 40), outline=(150, 150, 150), fill="white")
    draw.rectangle((120, 130, 280, 190), outline=(180, 0, 0), fill=(255, 235, 235), width=3)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# Two servants' data: each print a PNG of its own size, found nowhere else.
MARIAS = Person("529.982.247-25", "11.222.333/0001-81", window_print(400, 300))
CARLAS = Person("111.444.777-35", "11.444.777/0001-61", window_print(420, 310))


@dataclass(frozen=True, order=True)
class Finding:
    """One needle in one column of one row."""

    table: str
    column: str
    needle: str
    row: str  # the row's primary key


def findings(database_url: str, needles: Mapping[str, bytes]) -> set[Finding]:
    """Every place of the database holding a needle: each column of each table (found by
    reflection, so a table added later is scanned too); bytes are also read as mail, with
    each part decoded (a print in base64, a body in quoted-printable)."""
    engine = make_engine(database_url)
    metadata = MetaData()
    metadata.reflect(engine)
    found: set[Finding] = set()
    try:
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                key = [c.name for c in table.primary_key.columns]
                for row in connection.execute(select(table)).mappings():
                    where = ",".join(str(row[k]) for k in key)
                    for column, value in row.items():
                        for reading in readings(value):
                            found |= {
                                Finding(table.name, column, name, where)
                                for name, needle in needles.items()
                                if needle in reading
                            }
    finally:
        engine.dispose()
    return found


def readings(value: object) -> Iterator[bytes]:
    """A column's value as bytes, and a mail's decoded parts and headers."""
    if value is None:
        return
    if isinstance(value, memoryview):
        value = bytes(value)
    if isinstance(value, bytes):
        yield value
        yield from _mail_readings(value)
    elif isinstance(value, (dict, list)):
        yield json.dumps(value, ensure_ascii=False).encode()
    else:
        yield str(value).encode()


def _mail_readings(raw: bytes) -> Iterator[bytes]:
    message = email.message_from_bytes(raw)
    for part in message.walk():
        for header in part.values():
            yield str(make_header(decode_header(str(header)))).encode(errors="replace")
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                yield payload


def in_file(database_url: str, needles: Mapping[str, bytes]) -> set[str]:
    """The needles in a SQLite database's files: the database and its write-ahead log."""
    path = Path(make_url(database_url).database or "")
    contents = b"".join(
        candidate.read_bytes()
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )
    return {name for name, needle in needles.items() if needle in contents}


# A column of each table holding personal data that can grow by one character and shrink back.
_REWRITABLE = {
    "raw_messages": "source",
    "attachments": "filename",
    "messages": "subject",
    "tickets": "subject",
    "outbox_bodies": "raw",
}


def free_old_copies(database_url: str) -> None:
    """Leave earlier copies of rows in a SQLite file's free pages, as normal work does on a
    SQLite built without SECURE_DELETE (Debian's has it on): every row rewritten once,
    longer and back, its old pages freed and not overwritten."""
    path = make_url(database_url).database or ""
    with closing(sqlite3.connect(path, isolation_level=None)) as database:
        database.execute("PRAGMA secure_delete = OFF")
        for table, column in _REWRITABLE.items():
            # || makes text of a blob: cast back, and substr() of a blob counts bytes.
            longer = f"CAST({column} || x'20' AS BLOB)" if column == "raw" else f"{column} || ' '"
            database.execute(f"UPDATE {table} SET {column} = {longer}")
            shorter = f"substr({column}, 1, length({column}) - 1)"
            database.execute(f"UPDATE {table} SET {column} = {shorter}")


def vacuumed(database_url: str) -> set[str]:
    """The tables of a PostgreSQL database that a VACUUM (not autovacuum) went through."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            query = "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL"
            return set(connection.execute(text(query)).scalars())
    finally:
        engine.dispose()


def tables(found: set[Finding]) -> set[tuple[str, str]]:
    """The (table, column) pairs of some findings."""
    return {(f.table, f.column) for f in found}


def dump(database_url: str) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table, for telling whether anything changed."""
    engine = make_engine(database_url)
    metadata = MetaData()
    metadata.reflect(engine)
    try:
        with engine.connect() as connection:
            return {
                table.name: sorted(
                    tuple(repr(v) for v in row) for row in connection.execute(select(table))
                )
                for table in metadata.sorted_tables
            }
    finally:
        engine.dispose()


# Every time a purge looks at, by table.
_CLOCKS: dict[type[m.Base], tuple[str, ...]] = {
    m.RawMessage: ("received_at", "processed_at"),
    m.Ticket: ("created_at", "updated_at", "due_at", "incomplete_until"),
    m.Message: ("created_at",),
    m.Event: ("created_at",),
    m.Evaluation: ("created_at", "updated_at"),
    m.OutboxMail: ("created_at", "next_attempt_at", "sent_at"),
    m.Participant: ("added_at",),
}


def age(app: App, by: timedelta) -> None:
    """Move everything the desk holds ``by`` into the past, as if it had happened then."""
    with app.sessions.begin() as session:
        for model, clocks in _CLOCKS.items():
            for row in session.scalars(select(model)):
                for clock in clocks:
                    moment: datetime | None = getattr(row, clock)
                    if moment is not None:
                        setattr(row, clock, moment - by)
