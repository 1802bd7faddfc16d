"""The staff queue's reads: the tickets a staff member sees, filtered, searched, sorted and
paged; one ticket's page; one of its files.

A queue page is two statements whatever it shows: a count and the page's rows, columns of
the tickets table only (the theme's name and area come from the rulebook). The search
matches a ticket's subject or the text of any of its messages: on PostgreSQL by full text
in Portuguese (stemmed: "publicar" finds "publicação"), on the GIN indexes of migration
0009; on SQLite by whole words, ignoring case and accents ("publicacao" finds
"publicação"), on the FTS5 tables of migration 0010.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, case, false, func, select, union
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from mailproc.decision.states import PRIORITY_LEVELS
from mailproc.decision.ticket_state import TicketState
from mailproc.mail.safe_names import safe_text
from mailproc.storage import models as m
from mailproc.storage import store

PER_PAGE = 50
# The largest id a row can have (a BIGINT).
MAX_ID = 2**63 - 1
# Longer searches are cut here: a question, not a document (and a bound on the query's cost).
MAX_SEARCH_LENGTH = 200
# "Due soon": the deadline filter "24h" and the badge that counts the hours left.
DUE_SOON = timedelta(hours=24)

# The deadline runs only while the area has the ticket in hand (mailproc.tickets.upkeep
# reminds and escalates these only): pending and waiting tickets wait on the requester.
DEADLINE_RUNS = TicketState.OPEN


class QueueSort(StrEnum):
    """The orders of the queue, by the word its link carries (?ordenar=)."""

    NEWEST = "recentes"
    OLDEST = "antigos"
    DEADLINE = "prazo"  # running deadlines first, soonest first
    PRIORITY = "prioridade"  # highest first, then soonest deadline
    UPDATED = "atualizados"  # last changed first


class DeadlineFilter(StrEnum):
    OVERDUE = "vencido"
    DUE_SOON = "24h"


@dataclass(frozen=True)
class QueueFilters:
    """What narrows the queue; the defaults narrow nothing. ``themes``: the theme and area
    filters as theme ids (None: any theme)."""

    themes: frozenset[str] | None = None
    state: str | None = None
    priority: str | None = None
    deadline: DeadlineFilter | None = None
    requester: str = ""  # part of the requester's address
    text: str = ""  # words of the subject or of any message, or a ticket's code


@dataclass(frozen=True)
class QueueRow:
    """What a line of the queue shows of a ticket."""

    code: str
    subject: str
    requester_email: str
    requester_name: str
    theme_id: str | None
    state: str
    priority: str
    created_at: datetime
    updated_at: datetime
    due_at: datetime | None


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue: its rows, how many tickets match in all, which page of how
    many (at least 1, even when nothing matches)."""

    rows: list[QueueRow]
    total: int
    page: int
    pages: int


def queue_page(
    session: Session,
    filters: QueueFilters,
    scope_themes: frozenset[str] | None,
    sort: QueueSort = QueueSort.NEWEST,
    page: int = 1,
    per_page: int = PER_PAGE,
    *,
    now: datetime,
) -> QueuePage:
    """The tickets of ``scope_themes`` (None: every ticket) that ``filters`` let through, in
    ``sort`` order: page ``page`` of ``per_page`` rows (a page past the last is the last).

    Two statements: a count, and the page's rows. A search is one: the rows with the count
    beside them (a window over the matches), so the texts are read once; a search's page
    past the last takes two more."""
    dialect = session.get_bind().dialect.name
    conditions = _conditions(filters, scope_themes, now, dialect)
    query = select(*_ROW_COLUMNS).where(*conditions).order_by(*_ORDERS[sort]).limit(per_page)
    page = max(page, 1)
    searches = bool(search_text(filters.text))
    rows: list[QueueRow] = []
    with _searching(session, dialect, searches=searches):
        if searches:
            rows, total = _rows_and_count(session, query, page, per_page)
        if not searches or (not rows and page > 1):
            count = select(func.count()).select_from(m.Ticket).where(*conditions)
            total = session.scalar(count) or 0
            page = min(page, _pages(total, per_page))
            rows = [_row(row) for row in session.execute(_offset(query, page, per_page))]
    return QueuePage(rows, total, page, _pages(total, per_page))


# A query of any columns (Select is generic over its columns' types).
_Query = Select[*tuple[Any, ...]]


def _pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


def _offset(query: _Query, page: int, per_page: int) -> _Query:
    return query.offset((page - 1) * per_page)


def _row(values: Sequence[Any]) -> QueueRow:
    return QueueRow(*values)


def _rows_and_count(
    session: Session, query: _Query, page: int, per_page: int
) -> tuple[list[QueueRow], int]:
    """A page's rows and how many rows match in all, in one statement."""
    counted = _offset(query.add_columns(func.count().over().label("total")), page, per_page)
    found = session.execute(counted).all()
    rows = [_row(row[:-1]) for row in found]
    return rows, found[0].total if found else 0


@contextmanager
def _searching(session: Session, dialect: str, *, searches: bool) -> Iterator[None]:
    """On PostgreSQL, a search reads the GIN indexes even when a word is in most messages:
    the planner would rather read every message and compute its words again (seconds, at
    50,000 tickets), as it cannot know how costly to_tsvector is on a long text."""
    if dialect != "postgresql" or not searches:
        yield
        return
    session.execute(sql_text("SET LOCAL enable_seqscan = off"))
    try:
        yield
    finally:
        session.execute(sql_text("RESET enable_seqscan"))


_ROW_COLUMNS = (
    m.Ticket.code,
    m.Ticket.subject,
    m.Ticket.requester_email,
    m.Ticket.requester_name,
    m.Ticket.theme_id,
    m.Ticket.state,
    m.Ticket.priority,
    m.Ticket.created_at,
    m.Ticket.updated_at,
    m.Ticket.due_at,
)


def _conditions(
    filters: QueueFilters, scope: frozenset[str] | None, now: datetime, dialect: str
) -> list[ColumnElement[bool]]:
    ticket = m.Ticket
    conditions = [_among(themes) for themes in (scope, filters.themes) if themes is not None]
    if filters.state:
        conditions.append(ticket.state == filters.state)
    if filters.priority:
        conditions.append(ticket.priority == filters.priority)
    if filters.deadline is not None:
        conditions.append(_deadline(filters.deadline, now))
    requester = safe_text(filters.requester)
    if requester:
        conditions.append(ticket.requester_email.icontains(requester, autoescape=True))
    words = search_text(filters.text)
    if words:
        conditions.append(ticket.id.in_(matching_tickets(words, dialect)))
    return conditions


def _among(themes: frozenset[str]) -> ColumnElement[bool]:
    return m.Ticket.theme_id.in_(sorted(themes)) if themes else false()


def _deadline(wanted: DeadlineFilter, now: datetime) -> ColumnElement[bool]:
    """Running deadlines already passed, or passing within DUE_SOON (on the index
    ix_tickets_state_due_at)."""
    ticket = m.Ticket
    running = ticket.state == DEADLINE_RUNS
    if wanted is DeadlineFilter.OVERDUE:
        return running & (ticket.due_at <= now)
    return running & (ticket.due_at > now) & (ticket.due_at <= now + DUE_SOON)


def search_text(text: str) -> str:
    """What a search looks for: one line without control characters (a NUL would end a
    PostgreSQL string), at most MAX_SEARCH_LENGTH characters."""
    return safe_text(text[: MAX_SEARCH_LENGTH * 2])[:MAX_SEARCH_LENGTH]


def matching_tickets(words: str, dialect: str) -> Select[tuple[int]]:
    """The ids of the tickets whose code is ``words``, or whose subject or messages hold
    them: a union of three lookups, each on its own index on PostgreSQL."""
    ticket, message = m.Ticket, m.Message
    by_code = select(ticket.id).where(ticket.code == words)
    in_subject: ColumnElement[bool]
    in_body: ColumnElement[bool]
    if dialect == "postgresql":
        # websearch_to_tsquery reads any input: quotes, "or", "-word"; operators are words.
        query = func.websearch_to_tsquery(sql_text(f"'{m.SEARCH_LANGUAGE}'"), words)
        in_subject = m.search_words(ticket.subject).bool_op("@@")(query)
        in_body = m.search_words(message.body_text).bool_op("@@")(query)
    else:
        in_subject = ticket.id.in_(_sqlite_matches("ticket_search", words))
        in_body = message.id.in_(_sqlite_matches("message_search", words))
    by_subject = select(ticket.id).where(in_subject)
    by_body = select(message.ticket_id).where(message.ticket_id.is_not(None), in_body)
    return select(union(by_code, by_subject, by_body).subquery().c[0])


def _sqlite_matches(fts: str, words: str) -> Select[tuple[int]]:
    """The ids of the rows whose text, in the FTS5 table ``fts``, holds every one of ``words``."""
    table = m.sqlite_search_table(fts)
    return select(table.c.rowid).where(table.c[m.SQLITE_SEARCH[fts].key].match(fts5_query(words)))


def fts5_query(words: str) -> str:
    """An FTS5 query that finds the texts holding every word of ``words``, whatever the
    words are: each one a string ("..." with its quotes doubled), so that no word is read
    as FTS5's syntax (NEAR, AND, *, -, column:); strings side by side must all match. A
    word that holds no letter nor digit is an empty string, which FTS5 leaves out."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in words.split())


_PRIORITY_RANK = case(
    {level.value: rank for rank, level in enumerate(PRIORITY_LEVELS)},
    value=m.Ticket.priority,
    else_=-1,
)
_RUNNING_FIRST = case((m.Ticket.state == DEADLINE_RUNS, 0), else_=1)
_ORDERS: dict[QueueSort, tuple[ColumnElement[Any], ...]] = {
    QueueSort.NEWEST: (m.Ticket.created_at.desc(), m.Ticket.id.desc()),
    QueueSort.OLDEST: (m.Ticket.created_at.asc(), m.Ticket.id.asc()),
    QueueSort.DEADLINE: (_RUNNING_FIRST, m.Ticket.due_at.asc().nulls_last(), m.Ticket.id.asc()),
    QueueSort.PRIORITY: (
        _PRIORITY_RANK.desc(),
        _RUNNING_FIRST,
        m.Ticket.due_at.asc().nulls_last(),
        m.Ticket.id.asc(),
    ),
    QueueSort.UPDATED: (m.Ticket.updated_at.desc(), m.Ticket.id.desc()),
}


# -- a ticket's deadline ------------------------------------------------------------------


class Sla(StrEnum):
    """Where a ticket stands with its deadline (see sla_of)."""

    NO_DEADLINE = "sem_prazo"
    ON_TIME = "no_prazo"
    DUE_SOON = "vence_em_breve"
    OVERDUE = "vencido"
    ANSWERED_IN_TIME = "respondido_no_prazo"
    ANSWERED_LATE = "respondido_apos_o_prazo"
    NOT_RUNNING = "prazo_parado"


def running_sla(state: str, due_at: datetime | None, now: datetime) -> Sla | None:
    """A running deadline's standing (overdue, due within DUE_SOON, on time); None when
    the ticket's deadline does not run (its state is not DEADLINE_RUNS, or it has none)."""
    if state != DEADLINE_RUNS or due_at is None:
        return None
    if due_at <= now:
        return Sla.OVERDUE
    return Sla.DUE_SOON if due_at - now <= DUE_SOON else Sla.ON_TIME


def sla_of(
    state: str, due_at: datetime | None, first_answer_at: datetime | None, now: datetime
) -> Sla:
    """A ticket's standing with its deadline, as its page tells it.

    While the area has the ticket in hand, its running deadline (running_sla). Otherwise,
    once staff answered: in time when the first staff answer came by the deadline. Else the
    deadline stands still (waiting on the requester, closed, cancelled) or never was.
    """
    running = running_sla(state, due_at, now)
    if running is not None:
        return running
    if state == DEADLINE_RUNS or due_at is None:
        return Sla.NO_DEADLINE
    if first_answer_at is not None:
        return Sla.ANSWERED_IN_TIME if first_answer_at <= due_at else Sla.ANSWERED_LATE
    return Sla.NOT_RUNNING


# -- a ticket's page ----------------------------------------------------------------------


@dataclass(frozen=True)
class TicketPage:
    """A ticket as its page shows it: ``ticket`` with its messages, their files (without
    their bytes), its participants and its history loaded; its rating; the ids of the
    files whose bytes the retention policy removed; its standing with its deadline."""

    ticket: m.Ticket
    evaluation: m.Evaluation | None
    removed_files: frozenset[int]
    first_answer_at: datetime | None
    sla: Sla


# The event of a staff answer relayed to the requester (mailproc.tickets.conversation).
ANSWERED_EVENT = "answered"


def ticket_page(session: Session, code: str, now: datetime) -> TicketPage | None:
    """The page of the ticket ``code``, or None when there is none: a statement for the
    ticket and one for each kind of thing it holds, however many messages it has."""
    ticket = store.conversation(session, code)
    if ticket is None:
        return None
    answers = (e.created_at for e in ticket.events if e.kind == ANSWERED_EVENT)
    first_answer_at = min(answers, default=None)
    return TicketPage(
        ticket=ticket,
        evaluation=ticket.evaluation,
        removed_files=_removed_files(session, ticket.id),
        first_answer_at=first_answer_at,
        sla=sla_of(ticket.state, ticket.due_at, first_answer_at, now),
    )


def _removed_files(session: Session, ticket_id: int) -> frozenset[int]:
    """The files of the ticket's messages whose bytes were purged: asked of the database,
    as the bytes themselves are not loaded."""
    query = (
        select(m.Attachment.id)
        .join(m.Message)
        .where(m.Message.ticket_id == ticket_id, m.Attachment.data.is_(None))
    )
    return frozenset(session.scalars(query))


# -- one file -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketFile:
    """A file of a ticket's message, to download: ``data`` None once purged. ``theme_id``:
    the ticket's, to check who may have it."""

    filename: str
    data: bytes | None
    theme_id: str | None


def ticket_file(session: Session, code: str, attachment_id: int) -> TicketFile | None:
    """File ``attachment_id`` when it came with a message of ticket ``code``; None for an
    unknown id, and for a file of another ticket."""
    if not 0 < attachment_id <= MAX_ID:
        return None  # no such row; and SQLite cannot even take the number
    query = (
        select(m.Attachment.filename, m.Attachment.data, m.Ticket.theme_id)
        .join(m.Message, m.Attachment.message_id == m.Message.id)
        .join(m.Ticket, m.Message.ticket_id == m.Ticket.id)
        .where(m.Attachment.id == attachment_id, m.Ticket.code == code)
    )
    row = session.execute(query).first()
    return TicketFile(*row) if row else None
