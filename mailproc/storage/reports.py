"""The coordinator's figures (mailproc.web.dashboard draws them): counts over tickets, their
history and their ratings, aggregated in the database and returned as plain values.

Days and weeks are the desk's (its time zone), which SQLite does not know: each query
sorts its rows into spans between boundaries worked out here in Python (the local midnights
of the window, in UTC) by a CASE expression, so both databases count alike and only the
counts come back. With 50,000 tickets and 177,000 events over a year, each query of a
90-day window took under 150 ms on SQLite and on PostgreSQL (a shared 2-core machine).

Who counts where:

- tickets per theme per day: tickets opened in the window, by the local day of opening;
- answered within the deadline, per area (the theme's routing area in the rules): tickets
  opened in the window that were put in service (they have a deadline). One is answered in
  time when its first staff answer ("answered" event) came at or before its deadline (the
  current one: urgency shortens it, a reopening sets a new one); late when the first answer
  came after it, or when it has none and the deadline has passed. One with no answer and
  its deadline still ahead is running, and not counted in the share; one cancelled before
  any answer is not counted at all;
- backlog by age: tickets now open or pending, by the time since they were opened;
- ratings per week: evaluations whose current score was given in the window, by the local
  week (from Monday; the first week starts with the window);
- incomplete tickets: those opened incomplete in the window ("incomplete" event), by what
  came of them: completed later (a reply that completed them, an "updated" event with
  completed=true), closed for want of the information, still waiting, or neither
  (cancelled, or moved on by staff without the information).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from mailproc.decision.ticket_state import TicketState
from mailproc.storage import models as m

# The backlog's ages: under 1 day, 1 to 3, 3 to 7, 7 to 15, 15 to 30, over 30 days.
AGE_LIMITS_DAYS = (1, 3, 7, 15, 30)
BACKLOG_STATES = (TicketState.OPEN, TicketState.PENDING)


@dataclass(frozen=True)
class ThemeDays:
    """Tickets opened per day, per theme: ``counts[theme_id][i]`` on ``days[i]``."""

    days: tuple[date, ...]
    counts: Mapping[str, tuple[int, ...]]  # themes with at least one ticket, most first


@dataclass(frozen=True)
class AreaDeadlines:
    """One area's tickets by how their deadline went (see the module's text)."""

    area: str
    in_time: int
    late: int
    running: int  # no answer yet, deadline ahead: not in the share

    @property
    def counted(self) -> int:
        return self.in_time + self.late


@dataclass(frozen=True)
class AgeBucket:
    """Tickets of the backlog opened between ``from_days`` and ``to_days`` ago (None: no end)."""

    from_days: int
    to_days: int | None
    open: int
    pending: int

    @property
    def total(self) -> int:
        return self.open + self.pending


@dataclass(frozen=True)
class WeekRatings:
    """The ratings of a week starting on ``start`` (the window's first day for the first)."""

    start: date
    count: int
    average: float | None  # None: no rating that week


@dataclass(frozen=True)
class IncompleteOutcomes:
    """What came of the tickets opened incomplete in the window."""

    completed: int
    closed: int  # closed for want of the information, and not completed since
    waiting: int  # still waiting for it
    other: int  # cancelled, or moved on by staff without it

    @property
    def total(self) -> int:
        return self.completed + self.closed + self.waiting + self.other


def window_start(until: datetime, days: int, zone: tzinfo) -> datetime:
    """The start (local midnight) of the last ``days`` days up to ``until``, today included."""
    first = until.astimezone(zone).date() - timedelta(days=days - 1)
    return _midnight(first, zone)


def tickets_per_theme_per_day(
    session: Session, since: datetime, until: datetime, zone: tzinfo
) -> ThemeDays:
    """Tickets opened from ``since`` to ``until``, per theme and local day."""
    days = _days(since, until, zone)
    cuts = [_midnight(day, zone) for day in days[1:]]
    opened = m.Ticket.created_at
    rows = _count_by_span(
        session,
        func.coalesce(m.Ticket.theme_id, ""),
        _span(opened, cuts),
        and_(opened >= since, opened < until),
    )
    counts: dict[str, list[int]] = {}
    for theme_id, day, count in rows:
        counts.setdefault(theme_id, [0] * len(days))[day] = count
    ranked = sorted(counts.items(), key=lambda item: (-sum(item[1]), item[0]))
    return ThemeDays(days, {theme_id: tuple(per_day) for theme_id, per_day in ranked})


def answered_in_time(
    session: Session, since: datetime, until: datetime, areas: Mapping[str, str]
) -> tuple[AreaDeadlines, ...]:
    """Tickets opened from ``since`` to ``until`` with a deadline, by area (``areas``: theme
    id -> area; a theme no longer in the rules is its own area). A deadline is past when it
    is before ``until``: the dashboard's windows end now."""
    opened = and_(m.Ticket.created_at >= since, m.Ticket.created_at < until)
    # Grouped apart, so that PostgreSQL computes each ticket's first answer once: a scalar
    # subquery in the select list would be run again wherever the outer query names it.
    first_answers = (
        select(m.Event.ticket_id, func.min(m.Event.created_at).label("answered_at"))
        .where(m.Event.kind == "answered", m.Event.ticket_id.in_(select(m.Ticket.id).where(opened)))
        .group_by(m.Event.ticket_id)
        .subquery()
    )
    served = (
        select(m.Ticket.theme_id, m.Ticket.state, m.Ticket.due_at, first_answers.c.answered_at)
        .outerjoin(first_answers, first_answers.c.ticket_id == m.Ticket.id)
        .where(opened, m.Ticket.due_at.is_not(None))
        .subquery()
    )
    answered_at, due_at = served.c.answered_at, served.c.due_at
    unanswered_overdue = and_(answered_at.is_(None), due_at <= until)
    # Cancelled before any answer: the requester withdrew it, nobody missed anything.
    withdrawn = and_(answered_at.is_(None), served.c.state == TicketState.CANCELLED)
    query = (
        select(
            served.c.theme_id,
            _how_many(answered_at <= due_at),
            _how_many(or_(answered_at > due_at, unanswered_overdue)),
            _how_many(and_(answered_at.is_(None), due_at > until)),
        )
        .where(~withdrawn)
        .group_by(served.c.theme_id)
    )
    tally: dict[str, list[int]] = {}
    for theme_id, in_time, late, running in session.execute(query):
        area = areas.get(theme_id or "", theme_id or "")
        totals = tally.setdefault(area, [0, 0, 0])
        for i, count in enumerate((in_time, late, running)):
            totals[i] += int(count or 0)
    return tuple(AreaDeadlines(area, *totals) for area, totals in sorted(tally.items()))


def backlog_by_age(session: Session, now: datetime) -> tuple[AgeBucket, ...]:
    """Tickets open or pending at ``now``, by how long ago they were opened, youngest first."""
    cuts = [now - timedelta(days=d) for d in reversed(AGE_LIMITS_DAYS)]  # oldest cut first
    rows = _count_by_span(
        session,
        m.Ticket.state,
        _span(m.Ticket.created_at, cuts),
        m.Ticket.state.in_(BACKLOG_STATES),
    )
    counts = {(state, span): count for state, span, count in rows}
    starts, ends = (0, *AGE_LIMITS_DAYS), (*AGE_LIMITS_DAYS, None)
    oldest = len(AGE_LIMITS_DAYS)  # span 0 holds the oldest tickets, this one the youngest
    return tuple(
        AgeBucket(
            start,
            end,
            counts.get((TicketState.OPEN, oldest - age), 0),
            counts.get((TicketState.PENDING, oldest - age), 0),
        )
        for age, (start, end) in enumerate(zip(starts, ends, strict=True))
    )


def ratings_per_week(
    session: Session, since: datetime, until: datetime, zone: tzinfo
) -> tuple[WeekRatings, ...]:
    """The number and average of ratings given from ``since`` to ``until``, per local week."""
    starts = [
        day for i, day in enumerate(_days(since, until, zone)) if i == 0 or day.weekday() == 0
    ]
    given = m.Evaluation.updated_at
    spans = (
        select(
            _span(given, [_midnight(d, zone) for d in starts[1:]]).label("span"), m.Evaluation.score
        )
        .where(given >= since, given < until)
        .subquery()
    )
    query = select(spans.c.span, func.count(), func.avg(spans.c.score)).group_by(spans.c.span)
    found = {span: (count, float(average)) for span, count, average in session.execute(query)}
    return tuple(WeekRatings(start, *found.get(i, (0, None))) for i, start in enumerate(starts))


def incomplete_outcomes(session: Session, since: datetime, until: datetime) -> IncompleteOutcomes:
    """What came of the tickets opened incomplete from ``since`` to ``until``."""
    opened_incomplete = _has_event(m.Event.kind == "incomplete")
    completed = _has_event(m.Event.kind == "updated", m.Event.detail["completed"].as_boolean())
    state = m.Ticket.state
    still_incomplete = (TicketState.AWAITING_INFORMATION, TicketState.CLOSED_UNTREATED)
    query = select(
        _how_many(completed),
        _how_many(and_(~completed, state == TicketState.CLOSED_UNTREATED)),
        _how_many(and_(~completed, state == TicketState.AWAITING_INFORMATION)),
        _how_many(and_(~completed, state.not_in(still_incomplete))),
    ).where(m.Ticket.created_at >= since, m.Ticket.created_at < until, opened_incomplete)
    counts = session.execute(query).one()
    return IncompleteOutcomes(*(int(count or 0) for count in counts))


# -- the pieces of the queries ----------------------------------------------------------------


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def _days(since: datetime, until: datetime, zone: tzinfo) -> tuple[date, ...]:
    """The local days from ``since`` to ``until`` (the one ``until`` falls in included)."""
    first, last = since.astimezone(zone).date(), until.astimezone(zone).date()
    return tuple(first + timedelta(days=i) for i in range((last - first).days + 1))


def _span(column: SQLColumnExpression[datetime], cuts: Sequence[datetime]) -> ColumnElement[int]:
    """Which span between ``cuts`` (ascending) ``column`` falls in: 0 before the first cut,
    ``len(cuts)`` from the last one on."""
    if not cuts:
        return literal(0)
    return case(*((column < cut, i) for i, cut in enumerate(cuts)), else_=len(cuts))


def _count_by_span(
    session: Session,
    key: SQLColumnExpression[str],
    span: ColumnElement[int],
    where: ColumnElement[bool],
) -> list[tuple[str, int, int]]:
    """How many tickets of ``where`` there are per (key, span). Grouped over a subquery:
    PostgreSQL refuses a GROUP BY on an expression whose parameters differ from the
    SELECT's, as each occurrence of the CASE's parameters would."""
    rows = select(key.label("key"), span.label("span")).where(where).subquery()
    query = select(rows.c.key, rows.c.span, func.count()).group_by(rows.c.key, rows.c.span)
    return [(key, int(span), int(count)) for key, span, count in session.execute(query)]


def _how_many(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.sum(case((condition, 1), else_=0))


def _has_event(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether the ticket has an event meeting ``conditions`` (through the ticket's index)."""
    return exists().where(m.Event.ticket_id == m.Ticket.id, *conditions)
