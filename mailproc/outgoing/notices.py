"""Which notice a decision calls for, the context its template gets, and queueing it.

A notice is rendered and stored in the outbox inside the message's own transaction, so a
reply exists exactly when its outcome does; sending happens later (mailproc.outgoing.outbox).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailproc.config import Config
from mailproc.decision.business_hours import ELAPSED, Clock, clock_for
from mailproc.decision.proofs import ReplyKeys
from mailproc.decision.states import PRIORITY_LABELS, state_label
from mailproc.decision.values import Decision
from mailproc.mail.addresses import is_own
from mailproc.mail.machine import ALERT_ID_PREFIX
from mailproc.mail.message import Attachment
from mailproc.mail.subject_codes import tag_subject
from mailproc.outgoing import bounces, loops
from mailproc.outgoing.links import RequesterLinks
from mailproc.outgoing.notice import Notice
from mailproc.outgoing.replies import ReplyRenderer, build_email, deadline_text, make_message_id
from mailproc.rules.requirements import MissingItem
from mailproc.rules.rulebook import Rulebook, Theme
from mailproc.storage import models as m
from mailproc.storage import store

Guard = Callable[[Notice, store.MailTally, Config, datetime], loops.Hold | None]
"""One reason to leave a notice unsent: the notice about to be queued and its tally -> why,
or None."""

# The purpose of the mail that tells the operator of an alert (Replier.tell_operator).
OPERATOR_ALERT = "operator_alert"
# Why a silent replier's notices stay unsent: on each one's ticket as a reply_held event.
HISTORY_HOLD = loops.Hold("imported as history: mailproc import answers nobody")
# The most people a notice to a ticket's requester copies: its participants can grow by ten
# with each proven mail (decide.MAX_COPIED), and a notice must not become a mailing list.
MAX_NOTICE_COPIES = 10

# Checked in this order; the first that holds a notice back says why.
GUARDS: tuple[Guard, ...] = (
    bounces.failing_recipient,
    loops.operator_only,
    loops.sender_cap,
    loops.domain_cap,
    loops.ticket_cap,
    loops.overall_cap,
)


def first_hold(
    notice: Notice, tally: store.MailTally, config: Config, now: datetime
) -> loops.Hold | None:
    """Why ``notice`` must stay unsent: the first of GUARDS that holds it back, or None."""
    for guard in GUARDS:
        hold = guard(notice, tally, config, now)
        if hold is not None:
            return hold
    return None


def read_tally(session: Session, notice: Notice, now: datetime) -> store.MailTally:
    """Everything GUARDS and the copies' check read about ``notice``, in one statement.

    Mail to staff is neither checked for failing addresses nor counted per address or
    domain (it is exempt from all three): only what a guard can use is asked for."""
    asked = () if notice.internal else (notice.to, *notice.cc)
    return store.mail_tally(
        session,
        to=None if notice.internal else loops.mailbox_of(notice.to),
        domain=counted_domain(notice),
        ticket_id=ticket_id(notice.ticket),
        addresses=sorted({address.lower() for address in asked}),
        day_since=now - loops.DAY,
        hour_since=now - loops.HOUR,
    )


def counted_domain(notice: Notice) -> str | None:
    """The domain the domain cap counts ``notice`` under: none for mail to staff."""
    return None if notice.internal else loops.counted_domain(notice.to)


def ticket_id(ticket: m.Ticket | None) -> int | None:
    """The id of a notice's ticket: a new ticket has one already (store.open_ticket inserts
    it at once), so the statements here, run without the ORM's autoflush, can use it."""
    return ticket.id if ticket is not None else None


@dataclass(frozen=True)
class Replier:
    """Everything needed to render and queue notices: built once at start."""

    config: Config
    rulebook: Rulebook
    renderer: ReplyRenderer
    # Signs each ticket mail's Reply-To; None: mail goes out without one (see DeskConfig).
    reply_keys: ReplyKeys | None = None
    # Every notice is held (HISTORY_HOLD): past mail imported as history is answered by
    # nobody (mailproc.tickets.pipeline.Pipeline.history).
    silent: bool = False
    # The web view's signed links ("Acompanhe seu chamado"); None: no [web] public_url, and
    # the mail carries no link.
    links: RequesterLinks | None = None

    def base_context(
        self, requester_email: str, requester_name: str, subject: str
    ) -> dict[str, object]:
        desk = self.config.desk
        return {
            "desk": {"name": desk.name, "address": desk.address, "phone": desk.phone},
            "requester": {"name": requester_name, "email": requester_email},
            "original_subject": subject,
        }

    def ticket_context(self, ticket: m.Ticket, theme: Theme | None) -> dict[str, object]:
        """The ticket as every notice shows it. After an urgency request its deadline is the
        shortened one, and the theme's usual hours are not shown beside it (they no longer
        hold), nor is the way to ask for urgency offered again (``offer_urgency``).
        ``tracking_url``, the link to the ticket's page, is made for each mail as it is queued
        (``enqueue``): "" here."""
        urgent = ticket.urgent_at is not None
        return {
            "code": ticket.code,
            "tag": self.config.desk.code_tag.format(code=ticket.code),
            "subject": ticket.subject,
            "theme_name": theme.name if theme else "",
            "priority": PRIORITY_LABELS.get(ticket.priority, ticket.priority),
            "due_at": self.format_deadline(ticket.due_at) if ticket.due_at else "",
            "response_hours": theme.response_hours if theme and not urgent else 0,
            "business_hours": self.clock(theme) is not ELAPSED,
            "urgent": urgent,
            "offer_urgency": not urgent and theme is not None and not theme.no_urgency,
            "state": ticket.state,
            "state_label": state_label(ticket.state),
            "created_at": self.format_time(ticket.created_at),
            "tracking_url": "",
        }

    def tracked(self, notice: Notice) -> dict[str, object]:
        """``notice``'s context with the link to its ticket's page, for the address the mail
        goes to, shared when the mail has copies (mailproc.outgoing.links): one mail reaches
        them all, and only the requester alone may cancel or rate through a link. Mail to
        staff, and a desk without a web view, carry none."""
        shown = notice.context.get("ticket")
        if self.links is None or notice.ticket is None or notice.role == "staff":
            return notice.context
        assert isinstance(shown, dict), "a notice about a ticket shows it"
        link = self.links.ticket_url(notice.ticket.code, notice.to, shared=bool(notice.cc))
        return {**notice.context, "ticket": {**shown, "tracking_url": link}}

    def clock(self, theme: Theme | None) -> Clock:
        """How ``theme``'s deadline hours count: the desk's calendar, or the wall clock."""
        return clock_for(theme, self.config.calendar)

    def format_deadline(self, moment: datetime) -> str:
        return deadline_text(moment, self.config.desk.timezone)

    def format_time(self, moment: datetime) -> str:
        local = moment.astimezone(self.config.desk.timezone)
        return local.strftime("%d/%m/%Y às %H:%M")

    def queue(self, session: Session, notice: Notice, now: datetime) -> bool:
        """Render and store the notice in the outbox; False when held back (an address that
        bounces, a loop cap, a silent replier)."""
        checked = HISTORY_HOLD if self.silent else self.held_back(session, notice, now)
        if isinstance(checked, loops.Hold):
            self.keep_unsent(session, notice, checked, now)
            return False
        self.enqueue(session, checked, now)
        return True

    def held_back(self, session: Session, notice: Notice, now: datetime) -> loops.Hold | Notice:
        """Why ``notice`` must stay unsent (the first of GUARDS that says so), else the notice
        to send: without its copies to failing addresses. One query (read_tally) for all."""
        tally = read_tally(session, notice, now)
        hold = first_hold(notice, tally, self.config, now)
        if hold is not None:
            return hold
        return bounces.without_failing_copies(notice, tally.failing)

    def keep_unsent(
        self, session: Session, notice: Notice, hold: loops.Hold, now: datetime
    ) -> None:
        """Leave ``notice`` unsent: its ticket records why, and the operator is told once."""
        if notice.ticket is not None:
            store.add_event(session, "reply_held", ticket=notice.ticket, reason=hold.reason,
                            purpose=notice.purpose, to=notice.to)  # fmt: skip
        if hold.alert is None:
            return
        if store.add_alert(session, hold.alert, hold.reason, hold.detail):
            loops.log_alert(hold)
            self.tell_operator(session, hold.alert, hold.detail, now)

    def tell_operator(
        self, session: Session, key: str, detail: Mapping[str, object], now: datetime
    ) -> None:
        """One mail to the operator about a new alert, when an operator address is set.

        Queued past the guards: there is one per alert, and it must not be held itself. It
        answers no mail (it is about a condition, not a message: no In-Reply-To, no
        References, no ticket), says Auto-Submitted: auto-generated and Precedence: bulk,
        and its Message-ID marks it, so that an answer to it is machine mail (mail.machine
        answers_an_alert); mail from the operator address gets no answer (loops.operator_only).
        """
        operator = self.config.desk.operator_address
        if operator is None:
            return
        context = self.base_context(operator, "", "")
        context["alert"] = {**detail, "key": key}
        self.enqueue(session, Notice(OPERATOR_ALERT, operator, context, internal=True), now)

    def enqueue(self, session: Session, notice: Notice, now: datetime) -> None:
        """Render the notice and add it to the outbox, unchecked.

        The row is inserted at once (store.insert_row), not kept for the unit of work's next
        flush: the caps of the next notice of the same transaction count it without an
        autoflush (store.mail_tally), the ORM would cost as much again, and a routed copy
        carrying a 25 MB message's files is written in pieces rather than copied twice."""
        desk = self.config.desk
        rendered = self.renderer.render(notice.purpose, self.tracked(notice))
        alert = notice.purpose == OPERATOR_ALERT
        message_id = (ALERT_ID_PREFIX if alert else "") + make_message_id(desk.message_id_domain)
        tag = desk.code_tag.format(code=notice.ticket.code) if notice.ticket else None
        sender = self.config.smtp.from_address if self.config.smtp else desk.address
        raw = build_email(
            rendered,
            sender=sender,
            sender_name=desk.name,
            to=[notice.to],
            cc=list(notice.cc),
            tag=tag,
            in_reply_to=notice.in_reply_to,
            references=list(notice.references),
            message_id=message_id,
            auto_submitted="auto-generated" if notice.internal else "auto-replied",
            attachments=notice.attachments,
            reply_to=self.reply_address(notice),
            precedence="bulk" if alert else "",
        )
        subject = (
            tag_subject(rendered.subject, notice.ticket.code, desk.code_tag)
            if (notice.ticket)
            else rendered.subject
        )
        values = {
            "ticket_id": ticket_id(notice.ticket),
            "message_id": message_id,
            "purpose": notice.purpose,
            "sender": sender,
            "recipients": [notice.to, *notice.cc],
            "to_address": loops.mailbox_of(notice.to),
            "to_domain": counted_domain(notice),
            "subject": subject,
            "status": "pending",
            "next_attempt_at": now,
        }
        store.add_outbox_mail(session, values, raw)

    def reply_address(self, notice: Notice) -> str | None:
        """The signed address a reply to ``notice`` must come to, to act on its ticket in the
        role of the people it goes to."""
        if self.reply_keys is None or notice.ticket is None:
            return None
        return self.reply_keys.reply_address(notice.ticket.code, notice.role)


def copies(ticket: m.Ticket, to: str, own: Collection[str]) -> tuple[str, ...]:
    """Whom a notice about ``ticket`` to ``to`` copies: its requester and participants (the
    forwarder, and colleagues copied on proven mail only: decide._copied), never ``to`` nor
    our own addresses, at most MAX_NOTICE_COPIES, the earliest to join first."""
    emails = [ticket.requester_email, *(p.email for p in ticket.participants)]
    joined = dict.fromkeys(e for e in emails if e and e != to and not is_own(e, own))
    return tuple(joined)[:MAX_NOTICE_COPIES]


def without_opening(subject: str, openings: Sequence[str]) -> str:
    """``subject`` without the first of ``openings`` (ReplyRenderer.subject_openings) that
    it starts with: a new ticket opened by a reply to our mail is not called "Chamado
    registrado: …", nor "Chamado aguardando informações: …" once complete."""
    folded = subject.casefold()
    for opening in openings:
        if folded.startswith(opening.casefold()):
            return subject[len(opening) :].strip() or subject
    return subject


def mailbox_text(name: str, email: str) -> str:
    """Someone as a notice names them: "Maria Souza <maria@…>", or the bare address."""
    return f"{name} <{email}>" if name.strip() else email


def files_context(attachments: Sequence[Attachment]) -> list[dict[str, object]]:
    return [{"filename": a.filename, "size_kb": max(1, round(a.size / 1024))} for a in attachments]


def received_context(
    theme: Theme | None,
    answers: dict[str, str],
    attachments: Sequence[Attachment],
    earlier: Theme | None = None,
) -> dict[str, object]:
    """The files and the answers, each named by its question (``earlier``: the theme the
    ticket was moved from, whose questions name the answers given under it)."""
    labels = {a.key: a.label for t in (earlier, theme) if t is not None for a in t.answers}
    return {
        "attachments": files_context(attachments),
        "answers": [
            {"label": labels.get(key, key), "value": value} for key, value in answers.items()
        ],
    }


def added_context(
    theme: Theme,
    before: Mapping[str, str],
    after: Mapping[str, str],
    attachments: Sequence[Attachment],
) -> dict[str, object]:
    """What one reply brought to its ticket: its files, and the answers it gave or changed
    (``before`` and ``after`` are the ticket's answers around it)."""
    given = {key: value for key, value in after.items() if before.get(key) != value}
    return received_context(theme, given, attachments)


def missing_context(missing: Sequence[MissingItem]) -> dict[str, object]:
    """What is missing, each hint printed once (two files asked for alike share one), and
    the questionnaire lines (only the missing answers) to fill in."""
    seen: set[str] = set()
    items = []
    for i in missing:
        hint = "" if i.hint in seen else i.hint
        seen.add(i.hint)
        items.append({"kind": i.kind, "label": i.label, "reason": i.reason, "hint": hint})
    wanted = [i for i in missing if i.kind == "answer"]
    return {"missing": items, "questionnaire": [{"label": i.label} for i in wanted]}


def themes_context(rulebook: Rulebook) -> list[dict[str, str]]:
    return [_theme_context(t) for t in rulebook.themes]


def _theme_context(theme: Theme) -> dict[str, str]:
    return {
        "name": theme.name,
        "description": theme.description,
        "example_subject": theme.example_subject,
    }


def no_theme_context(rulebook: Rulebook, decision: Decision) -> dict[str, object]:
    """What the no-theme notice adds: every theme, and first the one or two the mail most
    likely is about (the way to confirm one is to send the mail again with its example
    subject, which leads to it surely: rulebook._examples_route_home); whether it opened
    with "Urgente" (how to ask for urgency once a ticket exists)."""
    likely = [rulebook.get(theme_id) for theme_id in decision.likely]
    return {
        "themes": themes_context(rulebook),
        "likely": [_theme_context(theme) for theme in likely if theme is not None],
        "asked_urgency": decision.asked_urgency,
    }


def knowledge_context(theme: Theme) -> list[dict[str, str]]:
    return [{"title": k.title, "url": k.url} for k in theme.knowledge]
