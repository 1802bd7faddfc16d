"""Scheduled upkeep: close tickets whose missing information never came, finish stray raws."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from mailproc import models as m
from mailproc import store
from mailproc.db import utcnow
from mailproc.notices import Notice, missing_context
from mailproc.pipeline import Pipeline
from mailproc.requirements import check_message
from mailproc.states import TicketState

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
            context.update(missing_context(theme, still.missing))
            replier.queue(
                session, Notice("closed_incomplete", ticket.requester_email, context, ticket), now
            )
    if closed:
        log.info("closed %d incomplete tickets past their waiting period", closed)
    return closed


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
