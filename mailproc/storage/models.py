"""The database schema: raw mail, tickets, their messages, history and evaluations, the outbox,
counters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    column,
    func,
    table,
)
from sqlalchemy import text as sql_text

# Loaded for its full-text search functions: SQLAlchemy compiles func.to_tsvector only then.
from sqlalchemy.dialects import postgresql  # noqa: F401
from sqlalchemy.ext.associationproxy import AssociationProxy, association_proxy
from sqlalchemy.ext.mutable import MutableDict
from sqlalchemy.orm import (
    DeclarativeBase,
    InstrumentedAttribute,
    Mapped,
    mapped_column,
    relationship,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.types import TypeEngine

from mailproc.storage.db import utcnow

# Alembic's batch mode on SQLite re-creates tables and must name every constraint it copies.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC and returns aware UTC, so SQLite and PostgreSQL behave alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # A naive value has no known offset; guessing would silently shift deadlines.
        if value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: pass an aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base: every ``Mapped[datetime]`` column is a UTCDateTime."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[Mapping[Any, TypeEngine[Any]]] = {datetime: UTCDateTime()}


class RawMessage(Base):
    """The bytes of an inbound mail, stored before anything else looks at them."""

    __tablename__ = "raw_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)  # purged after retention
    source: Mapped[str] = mapped_column(String(200))  # "maildir:local", "imap:suporte/INBOX"
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Null until processed: after a crash, the unprocessed raws are found through this index.
    outcome: Mapped[str | None] = mapped_column(String(20), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]


class Ticket(Base):
    """A requester's case, known to everyone by its yearly code."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_state_due_at", "state", "due_at"),
        Index("ix_tickets_state_incomplete_until", "state", "incomplete_until"),
        # The staff queue lists the newest first (mailproc.storage.queue), fifty at a time.
        Index("ix_tickets_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    theme_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str] = mapped_column(String(20))
    requester_email: Mapped[str] = mapped_column(String(320), index=True)
    requester_name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    # Mutable so that a reply completing one answer is saved without replacing the dict.
    answers: Mapped[dict[str, Any]] = mapped_column(MutableDict.as_mutable(JSON), default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    due_at: Mapped[datetime | None]
    incomplete_until: Mapped[datetime | None]  # when an incomplete ticket is closed untreated
    # The routing area is reminded before the deadline and warned after it, once each; a new
    # deadline clears both (mailproc.storage.store.set_deadline).
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    # The first "urgente" shortens the deadline; later ones only raise the priority.
    urgent_at: Mapped[datetime | None]

    # The thread and the history load on access; participants come with the ticket because
    # every reply is checked against them.
    messages: Mapped[list[Message]] = relationship(
        back_populates="ticket", order_by="Message.id", cascade="all", passive_deletes=True
    )
    participants: Mapped[list[Participant]] = relationship(
        back_populates="ticket",
        order_by="Participant.id",
        lazy="selectin",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    events: Mapped[list[Event]] = relationship(
        back_populates="ticket", order_by="Event.id", cascade="all", passive_deletes=True
    )
    evaluation: Mapped[Evaluation | None] = relationship(
        back_populates="ticket", cascade="all", passive_deletes=True
    )


class Message(Base):
    """One mail of a ticket's thread, inbound or recorded; exactly one per raw message."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Null for messages we did not receive (e.g. recorded from a staff action).
    raw_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("raw_messages.id"), unique=True)
    dedup_key: Mapped[str] = mapped_column(String(320), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(20))
    theme_id: Mapped[str | None] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(320))
    sender_name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    # Replies are tied to tickets by looking up their In-Reply-To/References here.
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    body_text: Mapped[str] = mapped_column(Text)
    # The sender's HTML part, sanitized for display (nh3); null for plain-text mail.
    body_html: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket | None] = relationship(back_populates="messages")
    raw: Mapped[RawMessage | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="message",
        order_by="Attachment.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class Attachment(Base):
    """A file that came with a message; ``data`` may be purged, the metadata stays."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    declared_type: Mapped[str] = mapped_column(String(255))
    detected_type: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    inline: Mapped[bool] = mapped_column(Boolean, default=False)

    message: Mapped[Message] = relationship(back_populates="attachments")


# The staff queue's full-text search on PostgreSQL (mailproc.storage.queue, migration 0009):
# a GIN index on the words of each ticket's subject and each message's body. Only their
# first SEARCHED_LENGTH characters: a tsvector holds at most 1 MB of words, and a longer
# body must not make its mail fail to store. SQLite's are FTS5 tables (SQLITE_SEARCH).
SEARCH_LANGUAGE = "portuguese"
SEARCHED_LENGTH = 65536


def search_words(column: Any) -> ColumnElement[Any]:
    """``column``'s words as the search indexes hold them; queries must use this very
    expression, or PostgreSQL does not use the index. Constants, not bound parameters, for
    the same reason."""
    shown = func.left(column, sql_text(str(SEARCHED_LENGTH)))
    return func.to_tsvector(sql_text(f"'{SEARCH_LANGUAGE}'"), shown)


def _search_index(name: str, column: Any) -> Index:
    """A GIN index on ``column``'s words: made on PostgreSQL only (SQLite has no tsvector);
    an index made of columns joins their table."""
    return Index(name, search_words(column), postgresql_using="gin").ddl_if(dialect="postgresql")


_search_index("ix_tickets_subject_search", Ticket.subject)
_search_index("ix_messages_body_text_search", Message.body_text)


# The staff queue's full-text search on SQLite (migration 0010): an FTS5 table of each text,
# holding its words only (its rowid is the row's id), kept in step by triggers. Not in the
# metadata: PostgreSQL has no such tables, and Alembic cannot compare virtual tables.
SQLITE_SEARCH: dict[str, InstrumentedAttribute[str]] = {
    "ticket_search": Ticket.subject,
    "message_search": Message.body_text,
}


def sqlite_search_table(name: str) -> TableClause:
    """The FTS5 table ``name`` of SQLITE_SEARCH, to query: its rowid and its text's column."""
    return table(name, column("rowid", Integer), column(SQLITE_SEARCH[name].key, Text))


def compared_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic's include_name: whether to compare a database object with the models; not
    the SQLite search tables, nor the tables FTS5 keeps behind each ("<name>_data"...)."""
    return type_ != "table" or not any(
        name == fts or str(name).startswith(f"{fts}_") for fts in SQLITE_SEARCH
    )


class Participant(Base):
    """Someone entitled to update a ticket by mail: requester, cc, forwarder or staff."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("ticket_id", "email"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(BigId, ForeignKey("tickets.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="participants")


class Event(Base):
    """One entry of a ticket's history (or of a message that never became a ticket)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_ticket_id_created_at", "ticket_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE")
    )
    message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket | None] = relationship(back_populates="events")


class Evaluation(Base):
    """The requester's rating of a resolved ticket, 1 to 5 (the seed's "Avaliações").

    One per ticket: rating it again replaces the score and comment.
    """

    __tablename__ = "evaluations"
    __table_args__ = (CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), unique=True
    )
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    rater: Mapped[str] = mapped_column(String(320))
    # The reply that gave the rating; kept when that message is purged.
    message_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="evaluation")


class OutboxMail(Base):
    """A fully rendered mail waiting to be sent; workers claim it with a lease."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        # The daily reply cap counts mail to one address: an index, not a scan of the outbox.
        Index("ix_outbox_to_address_created_at", "to_address", "created_at"),
        # The hourly domain cap counts mail to one domain.
        Index("ix_outbox_to_domain_created_at", "to_domain", "created_at"),
        # The hourly caps count automatic mail per ticket and overall.
        Index("ix_outbox_ticket_id_created_at", "ticket_id", "created_at"),
        Index("ix_outbox_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(String(998), unique=True)  # of the mail we send
    purpose: Mapped[str] = mapped_column(String(40))
    sender: Mapped[str] = mapped_column(String(320))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    # The main recipient's mailbox and domain, as the loop caps count them (outgoing.loops);
    # no domain for mail to staff, which the domain cap does not count.
    to_address: Mapped[str | None] = mapped_column(String(320))
    to_domain: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(Text)
    # pending / sending / sent / failed / uncertain (see mailproc.outgoing.outbox)
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    # A crashed worker's claim expires at lease_until, so another worker can take the mail.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]

    # Loaded with the row, as the bytes were when they were one of its columns; the listings
    # that do not want them say so (store.outbox_entries).
    body: Mapped[OutboxBody] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="joined"
    )
    # The mail's bytes, read (and set) through its body row.
    raw: AssociationProxy[bytes] = association_proxy(
        "body", "raw", creator=lambda raw: OutboxBody(raw=raw)
    )


class OutboxBody(Base):
    """The bytes of an outbox mail, apart from the row whose status changes: every change
    of a row rewrites all of it, and on SQLite builds it in memory (a routed copy carrying a
    25 MB message's files, three times per delivery)."""

    __tablename__ = "outbox_bodies"

    outbox_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class CodeCounter(Base):
    """The last ticket code handed out in a year (see mailproc.storage.codes)."""

    __tablename__ = "code_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer)


class MailboxState(Base):
    """How far a mailbox folder has been read: UIDs are only meaningful with UIDVALIDITY."""

    __tablename__ = "mailbox_states"
    __table_args__ = (UniqueConstraint("mailbox", "folder"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(100))
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    last_poll_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class FailingAddress(Base):
    """An address our mail bounced from: nothing automatic is sent to it until it writes to
    us again (then the row is deleted)."""

    __tablename__ = "failing_addresses"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    since: Mapped[datetime] = mapped_column(default=utcnow)
    last_bounce_at: Mapped[datetime] = mapped_column(default=utcnow)
    bounces: Mapped[int] = mapped_column(Integer, default=1)
    # The bounced mail of ours, when the report let us find it.
    outbox_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("outbox.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(Text, default="")


class Alert(Base):
    """Something the operator is told once (a loop cap reached, say): ``key`` names the
    condition and its period, so the same condition in the same period is not told twice."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DeskKey(Base):
    """A secret of the desk kept with its data, so that every worker shares it: the key that
    signs reply addresses (mailproc.decision.proofs), made at first use when the
    configuration names none."""

    __tablename__ = "desk_keys"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebLogin(Base):
    """A one-time link that logs a staff member into the web view (mailproc.web.login).

    Only the SHA-256 of the link's token is kept: someone reading the database (or a backup)
    cannot log in with it. ``used_at`` is set once, by the request that logs in.
    """

    __tablename__ = "web_logins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Purging finds the old links by it.
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
