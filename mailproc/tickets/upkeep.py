"""Scheduled upkeep: deadlines (remind the area before, warn after), close tickets whose missing
information or whose requester's answer never came, finish stray raws.

Each job is one function taking the pipeline and returning how many things it did; the
scheduler (mailproc.service.scheduler) runs them. Each runs in one transaction whose rows
are locked, so two workers never remind, warn or close twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from mailproc.decision.ticket_state import TicketState
from mailproc.outgoing.notice import Notice
from mailproc.outgoing.notices import missing_context
from mailproc.rules.requirements import check_message
from mailproc.storage import models as m
from mailproc.storage import store
from mailproc.storage.db import utcnow
from mailproc.tickets.conversation import last_answer_context
from mailproc.tickets.pipeline import Pipeline
from mailproc.tickets.routing import area_notice, theme_of

log = logging.getLogger(__name__)

# A raw message younger than this may still be in the hands of the worker that stored it.
STRAY_AFTER = timedelta(minutes=10)


def close_expired_incomplete(pipeline: Pipeline) -> int:
    """Close untreated every incomplete ticket past its waiting period, telling the requester
    what was still missing (the seed: without the information the ticket is closed)."""
    replier, now = pipeline.replier, utcnow()
    closed = 0
    with pipeline.sessions.begin() as session:
        for ticket in store.expired_incomplete(session, now):
            theme = replier.rulebook.get(ticket.theme_id) if ticket.theme_id else None
            ticket.state, ticket.updated_at = TicketState.CLOSED_UNTREATED, now
            store.add_event(session, "closed_incomplete", ticket=ticket)
            closed += 1
            if theme is None:
                continue
            attachments = store.ticket_attachments(session, ticket.id)
            still = check_message(theme, "", attachments, earlier_answers=dict(ticket.answers))
            context = replier.base_context(
                ticket.requester_email, ticket.requester_name, ticket.subject
            )
            context["ticket"] = replier.ticket_context(ticket, theme)
            context.update(missing_context(still.missing))
            replier.queue(
                session, Notice("closed_incomplete", ticket.requester_email, context, ticket), now
            )
    if closed:
        log.info("closed %d incomplete tickets past their waiting period", closed)
    return closed


def close_unanswered_pending(pipeline: Pipeline) -> int:
    """Close every pending ticket whose requester did not answer the staff within
    ``incomplete_close_days``, telling them that a reply reopens it (as it does)."""
    replier, now = pipeline.replier, utcnow()
    closed = 0
    with pipeline.sessions.begin() as session:
        for ticket in store.unanswered_pending(session, now):
            ticket.state, ticket.updated_at = TicketState.CLOSED_UNANSWERED, now
            ticket.incomplete_until = None
            store.add_event(session, "closed_unanswered", ticket=ticket)
            closed += 1
            theme = replier.rulebook.get(ticket.theme_id) if ticket.theme_id else None
            context = replier.base_context(
                ticket.requester_email, ticket.requester_name, ticket.subject
            )
            context["ticket"] = replier.ticket_context(ticket, theme)
            context["wait_days"] = replier.config.desk.incomplete_close_days
            context["last_answer"] = last_answer_context(replier, session, ticket)
            notice = Notice("closed_unanswered", ticket.requester_email, context, ticket)
            replier.queue(session, notice, now)
    if closed:
        log.info("closed %d pending tickets whose requester did not answer", closed)
    return closed


def remind_due(pipeline: Pipeline) -> int:
    """Remind each routing area, once, of its tickets whose deadline is near (by default
    24 hours before it, counted as the theme counts its deadline: working hours, or every
    hour). A ticket whose deadline changes is reminded again. A reminder is not sent while
    the desk is closed: one that falls due at night goes when it opens."""
    replier, now = pipeline.replier, utcnow()
    before = pipeline.settings.remind_before
    # Working hours reach at least as far as the wall clock's: the candidates of every theme.
    until = replier.config.calendar.add(now, before)
    reminded = 0
    with pipeline.sessions.begin() as session:
        for ticket in store.due_for_reminder(session, now, until):
            theme = theme_of(replier.rulebook, ticket)
            clock = replier.clock(theme)
            if not clock.is_open(now) or clock.between(now, _due(ticket)) > before:
                continue
            ticket.reminded_at = now  # even without a theme: there is nobody to remind later
            reminded += 1
            if theme is None:
                continue
            left = {"hours_left": _hours(clock.between(now, _due(ticket)))}
            replier.queue(
                session, area_notice(replier, ticket, theme, "deadline_reminder", left), now
            )
            store.add_event(session, "reminded", ticket=ticket, to=theme.routing.address)
    if reminded:
        log.info("reminded the areas of %d tickets near their deadline", reminded)
    return reminded


def escalate_overdue(pipeline: Pipeline) -> int:
    """Warn each routing area, once, of its tickets past their deadline, copying the
    escalation address when one is set; while the desk is closed, at its next opening (a
    deadline at Friday's closing is escalated on Monday morning, "há cerca de 1 hora útil")."""
    replier, now = pipeline.replier, utcnow()
    escalation = pipeline.settings.escalation_address
    escalated = 0
    with pipeline.sessions.begin() as session:
        for ticket in store.overdue(session, now):
            theme = theme_of(replier.rulebook, ticket)
            clock = replier.clock(theme)
            if not clock.is_open(now):
                continue
            ticket.escalated_at = now
            escalated += 1
            if theme is None:
                continue
            extra: dict[str, object] = {
                "overdue_hours": _hours(clock.between(_due(ticket), now)),
                "escalated_to": escalation or "",
            }
            cc = (escalation,) if escalation else ()
            notice = area_notice(replier, ticket, theme, "deadline_escalation", extra, cc=cc)
            replier.queue(session, notice, now)
            store.add_event(session, "escalated", ticket=ticket, to=theme.routing.address,
                            cc=list(cc))  # fmt: skip
    if escalated:
        log.warning("%d tickets are past their deadline; their areas were warned", escalated)
    return escalated


def _due(ticket: m.Ticket) -> datetime:
    assert ticket.due_at is not None  # the queries select tickets with a deadline
    return ticket.due_at


def _hours(span: timedelta) -> int:
    """The nearest whole hour, at least one: the mails say "cerca de N horas"."""
    return max(1, round(span.total_seconds() / 3600))


def finish_stray_raws(pipeline: Pipeline) -> int:
    """Give an outcome to raw messages stored but never processed (a crash in between, with
    a source such as stdin that will not deliver them again)."""
    cutoff = utcnow() - STRAY_AFTER
    with pipeline.sessions.begin() as session:
        strays = session.execute(
            select(m.RawMessage.data, m.RawMessage.source).where(
                m.RawMessage.outcome.is_(None),
                m.RawMessage.received_at < cutoff,
                m.RawMessage.data.is_not(None),
            )
        ).all()
    for data, source in strays:
        pipeline.process(data or b"", source)
    return len(strays)
