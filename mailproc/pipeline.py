"""The pipeline for one inbound message: store raw -> parse -> decide -> apply -> (ack).

    raw bytes stored first (own commit)      save_raw
    parse                                    parse_message          pure
    thread lookup + decide                   find_ticket, decide    pure decision
    apply in ONE transaction                 APPLY[outcome]         ticket/update, events, outbox
    the caller acknowledges at the source only after process() returned

Anything unexpected after the raw bytes are safe becomes a ``quarantined`` outcome with the
error as reason (the shunt): the poller never dies on a message and never loses one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailproc import models as m
from mailproc import store
from mailproc.db import utcnow
from mailproc.decide import Facts, Policy, Thread, decide
from mailproc.decision import Decision, Outcome, Request
from mailproc.errors import StoreError
from mailproc.message import InboundMessage
from mailproc.notices import (
    Notice,
    Replier,
    knowledge_context,
    missing_context,
    received_context,
    themes_context,
)
from mailproc.parse import parse_message
from mailproc.rulebook import Theme
from mailproc.threading_codes import find_ticket_code

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Result:
    """What happened to one message; printed by ``mailproc ingest`` as one JSON line."""

    outcome: Outcome
    ticket: str | None = None
    theme: str | None = None
    missing: tuple[str, ...] = ()
    replies: int = 0
    reason: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "outcome": self.outcome.value,
            "ticket": self.ticket,
            "theme": self.theme,
            "missing": list(self.missing),
            "replies": self.replies,
        }


@dataclass(frozen=True)
class Pipeline:
    """The pipeline with its collaborators, built once at start (see mailproc.app)."""

    sessions: sessionmaker[Session]
    replier: Replier

    @cached_property
    def policy(self) -> Policy:
        config = self.replier.config
        desk = config.desk
        return Policy(
            desk.own_addresses,
            desk.trusted_forwarders,
            desk.default_theme,
            config.max_message_bytes,
        )

    def process(self, raw: bytes, origin: str, *, full_size: int | None = None) -> Result:
        """Give one message its one outcome; raises only StoreError (database unusable).

        ``full_size`` is given when ``raw`` holds only the header of a message too large to
        download; a whole message over the limit is treated the same way.
        """
        limit = self.policy.max_message_bytes
        oversize = full_size if full_size is not None else (len(raw) if len(raw) > limit else None)
        try:
            record = store.save_raw(self.sessions, raw, origin)
            if record.outcome is not None:
                return Result(Outcome.DUPLICATE, reason="the same bytes were processed before")
            message = parse_message(raw)
            try:
                result = self._decide_and_apply(record, message, oversize)
            except (StoreError, OperationalError):
                raise
            except Exception as exc:  # the shunt: see the module docstring
                log.exception("message %s could not be processed; quarantined", record.id)
                result = self._quarantine(record.id, f"internal error: {type(exc).__name__}: {exc}")
        except OperationalError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc
        log.info(
            "message outcome=%s ticket=%s theme=%s replies=%d origin=%s",
            result.outcome.value,
            result.ticket,
            result.theme,
            result.replies,
            origin,
        )
        return result

    def _decide_and_apply(
        self, record: store.RawRecord, message: InboundMessage, oversize: int | None
    ) -> Result:
        with self.sessions.begin() as session:
            key = store.dedup_key(message, record.sha256)
            earlier = store.find_earlier(session, key)
            if earlier is not None:
                store.mark_raw(
                    session, record.id, Outcome.DUPLICATE, f"same as message {earlier.id}"
                )
                code = earlier.ticket.code if earlier.ticket else None
                return Result(Outcome.DUPLICATE, ticket=code, theme=earlier.theme_id)
            thread = self._thread(session, message)
            facts = Facts(message, thread, self.replier.rulebook, self.policy, oversize)
            decision = decide(facts)
            row = store.record_message(session, record.id, key, message, decision)
            now = utcnow()
            applied = APPLY[decision.outcome](self, Applying(session, row, message, decision, now))
            store.mark_raw(session, record.id, decision.outcome, decision.reason)
            return applied

    def _thread(self, session: Session, message: InboundMessage) -> Thread | None:
        desk = self.replier.config.desk
        code = find_ticket_code(message.subject, desk.code_tag)
        ticket = store.find_ticket(session, code, message)
        if ticket is None or message.sender is None:
            return None
        staff = (desk.staff_addresses, desk.staff_domains)
        return store.thread_view(session, ticket, message.sender.email, staff)

    def _quarantine(self, raw_id: int, reason: str) -> Result:
        with self.sessions.begin() as session:
            store.mark_raw(session, raw_id, Outcome.QUARANTINED, reason[:2000])
        return Result(Outcome.QUARANTINED, reason=reason)

    # -- applying each outcome ------------------------------------------------------------

    def created(self, a: Applying) -> Result:
        """A new ticket: complete (acknowledged with its code) or waiting for what is missing."""
        decision, request = a.decision, a.request
        theme = self._theme(decision.theme_id)
        desk = self.replier.config.desk
        # The code's year is the desk's local year: 31 December 22:00 in Rio is still that year.
        year = a.now.astimezone(desk.timezone).year
        ticket = store.open_ticket(
            a.session, theme, decision, desk.incomplete_close_days, a.now, year
        )
        store.add_participants(ticket, request, a.copied(self.policy.own_addresses))
        a.row.ticket = ticket
        store.add_event(
            a.session,
            decision.outcome.value,
            ticket=ticket,
            message=a.row,
            missing=[i.key for i in decision.missing],
            quoted=decision.quoted_code,
        )
        context = self._ticket_context(a, ticket, theme)
        if decision.outcome is Outcome.CREATED:
            purpose = "created"
            context["knowledge"] = knowledge_context(theme)
        else:
            purpose = "incomplete"
            context.update(
                missing_context(theme, decision.missing), close_days=desk.incomplete_close_days
            )
        replies = self._send(
            a,
            Notice(
                purpose,
                request.requester.email,
                context,
                ticket,
                cc=(request.forwarder,) if request.forwarder else (),
            ),
        )
        return a.result(ticket.code, replies)

    def updated(self, a: Applying) -> Result:
        """A reply joins its ticket; if it completes an incomplete ticket, say so."""
        decision = a.decision
        ticket = store.ticket_by_code(a.session, decision.ticket_code or "")
        theme = self.replier.rulebook.get(ticket.theme_id) if ticket.theme_id else None
        a.row.ticket = ticket
        close_days = self.replier.config.desk.incomplete_close_days
        store.update_ticket(ticket, theme, decision, close_days, a.now)
        store.add_participants(ticket, a.request, a.copied(self.policy.own_addresses))
        store.add_event(
            a.session, "updated", ticket=ticket, message=a.row, completed=decision.completed
        )
        replies = 0
        if theme is not None and decision.theme_id is not None:  # it was incomplete
            context = self._ticket_context(a, ticket, theme)
            if decision.completed:
                purpose = "completed"
            else:
                purpose = "incomplete"
                context.update(
                    missing_context(theme, decision.missing),
                    close_days=self.replier.config.desk.incomplete_close_days,
                )
            replies = self._send(a, Notice(purpose, ticket.requester_email, context, ticket))
        return a.result(ticket.code, replies)

    def no_theme(self, a: Applying) -> Result:
        store.add_event(a.session, "no_theme", message=a.row, quoted=a.decision.quoted_code)
        context = self._base_context(a)
        context["themes"] = themes_context(self.replier.rulebook)
        return a.result(None, self._send(a, Notice("no_theme", a.request.requester.email, context)))

    def ignored(self, a: Applying) -> Result:
        store.add_event(a.session, "ignored", message=a.row, reason=a.decision.reason)
        return a.result(None, 0)

    def quarantined(self, a: Applying) -> Result:
        store.add_event(a.session, "quarantined", message=a.row, reason=a.decision.reason)
        if not a.decision.notice or a.decision.request is None:
            return a.result(None, 0)
        context = self._base_context(a)
        context["reason"] = a.decision.notice
        return a.result(
            None, self._send(a, Notice("quarantined", a.request.requester.email, context))
        )

    # -- helpers --------------------------------------------------------------------------

    def _theme(self, theme_id: str | None) -> Theme:
        theme = self.replier.rulebook.get(theme_id or "")
        if theme is None:  # decide() only names themes of this rulebook
            raise KeyError(f"unknown theme {theme_id!r}")
        return theme

    def _base_context(self, a: Applying) -> dict[str, object]:
        requester = a.request.requester
        return self.replier.base_context(requester.email, requester.name, a.request.subject)

    def _ticket_context(self, a: Applying, ticket: m.Ticket, theme: Theme) -> dict[str, object]:
        context = self._base_context(a)
        context["ticket"] = self.replier.ticket_context(ticket, theme)
        context["received"] = received_context(theme, dict(ticket.answers), a.request.attachments)
        context["forwarder"] = a.request.forwarder or ""
        return context

    def _send(self, a: Applying, notice: Notice) -> int:
        threaded = Notice(
            notice.purpose,
            notice.to,
            notice.context,
            notice.ticket,
            notice.cc,
            in_reply_to=a.message.message_id,
            references=(*a.message.references, *filter(None, [a.message.message_id])),
        )
        return int(self.replier.queue(a.session, threaded, a.now))


@dataclass(frozen=True)
class Applying:
    """One decision being applied inside its transaction."""

    session: Session
    row: m.Message
    message: InboundMessage
    decision: Decision
    now: datetime

    @property
    def request(self) -> Request:
        assert self.decision.request is not None
        return self.decision.request

    def copied(self, own: Collection[str]) -> list[str]:
        """People copied on the mail (not us): they join the ticket as participants."""
        addresses = [a.email for a in (*self.message.to, *self.message.cc)]
        return [e for e in addresses if e and e not in own]

    def result(self, code: str | None, replies: int) -> Result:
        d = self.decision
        return Result(
            d.outcome, code, d.theme_id, tuple(i.key for i in d.missing), replies, d.reason
        )


APPLY: dict[Outcome, Callable[[Pipeline, Applying], Result]] = {
    Outcome.CREATED: Pipeline.created,
    Outcome.INCOMPLETE: Pipeline.created,
    Outcome.UPDATED: Pipeline.updated,
    Outcome.NO_THEME: Pipeline.no_theme,
    Outcome.IGNORED: Pipeline.ignored,
    Outcome.QUARANTINED: Pipeline.quarantined,
}
