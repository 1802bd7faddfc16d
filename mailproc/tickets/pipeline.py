"""The pipeline for one inbound message: store raw -> parse -> decide -> apply -> (ack).

    raw bytes stored first (own commit)      save_raw
    parse                                    parse_message          pure
    thread lookup + decide                   find_ticket, decide    pure decision
    apply in ONE transaction                 APPLY[outcome]         ticket/update, events, outbox
    the caller acknowledges at the source only after process() returned

Replies and commands are applied by mailproc.tickets.conversation (REPLIES, COMMANDS there); mail
to routing areas is built by mailproc.tickets.routing.

Anything unexpected after the raw bytes are safe becomes a ``quarantined`` outcome with the
error as reason (the shunt): the poller never dies on a message and never loses one.

Mail stored under a HISTORY_ORIGIN is the past, imported: Pipeline.history applies it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailproc.decision.commands import command_code
from mailproc.decision.decide import Facts, Policy, Thread, decide
from mailproc.decision.proofs import Proof, recipient_addresses
from mailproc.decision.settings import ConversationSettings
from mailproc.decision.states import state_label
from mailproc.decision.values import Decision, Outcome, Request
from mailproc.errors import StoreError
from mailproc.logsafe import fields, mask
from mailproc.mail.addresses import domain_of
from mailproc.mail.authresults import authenticated
from mailproc.mail.message import InboundMessage
from mailproc.mail.parse import parse_message
from mailproc.mail.subject_codes import find_ticket_code, strip_reply_prefixes, untagged
from mailproc.outgoing import bounces
from mailproc.outgoing.notice import Notice
from mailproc.outgoing.notices import (
    Replier,
    copies,
    knowledge_context,
    missing_context,
    no_theme_context,
    received_context,
    without_opening,
)
from mailproc.rules.rulebook import Theme
from mailproc.sources.dkim import DkimVerifier
from mailproc.storage import models as m
from mailproc.storage import store
from mailproc.storage.db import utcnow
from mailproc.tickets import conversation
from mailproc.tickets.applying import Applying, Result
from mailproc.tickets.routing import Transfer, routed_notice

log = logging.getLogger(__name__)


# The origin of mail imported as history ("history:2024.mbox": mailproc import without
# --replies). Pipeline.history applies it wherever it is processed, again too: the stray
# raw an interrupted import left, a quarantined message reprocessed.
HISTORY_ORIGIN = "history:"

# The defects kept on a message's event: enough to see what was wrong, bounded.
MAX_DEFECTS, DEFECT_CHARS = 50, 300


def defect_kinds(defects: Collection[str]) -> str:
    """What kinds of defects, for the log: the parser quotes each value it takes from the
    mail and names a MIME part's type before a colon, so the text before the first quote
    or colon says what was wrong without who wrote it ("unreadable Date", "text/html")."""
    kinds = (re.split(r"['\":]", defect, maxsplit=1)[0].strip()[:60] for defect in defects)
    return ", ".join(dict.fromkeys(kinds))


@dataclass(frozen=True)
class Stored:
    """A message whose raw bytes are committed, waiting to be parsed, decided and applied."""

    record: store.RawRecord
    origin: str
    oversize: int | None
    raw: bytes  # for the DKIM signatures, checked against them as received


@dataclass(frozen=True)
class Pipeline:
    """The pipeline with its collaborators, built once at start (see mailproc.service.app).

    ``conversation`` overrides the conversation settings of the ``[desk]`` configuration;
    ``past`` is set on the pipeline ``history`` gives.
    """

    sessions: sessionmaker[Session]
    replier: Replier
    conversation: ConversationSettings | None = None
    past: bool = False

    @cached_property
    def history(self) -> Pipeline:
        """This pipeline for past mail, imported to know the desk's history (HISTORY_ORIGIN).
        It is answered by nobody: each notice it calls for is held on its ticket (a silent
        Replier). Each message happened when it was written (``clock``), and the tickets it
        joins keep no deadline and no waiting period (store.keep_as_history), so that no
        reminder, escalation or closing notice comes of history later. Live mail on such a
        ticket is handled as usual: a reply that completes it gives it a deadline."""
        return replace(self, replier=replace(self.replier, silent=True), past=True)

    def clock(self, message: InboundMessage) -> datetime:
        """When ``message`` is applied: now; for past mail, when it was written (its Date),
        unless it has none or claims a time still to come."""
        now = utcnow()
        written = message.date
        return written if self.past and written is not None and written < now else now

    @cached_property
    def settings(self) -> ConversationSettings:
        return self.conversation or self.replier.config.desk.conversation

    @cached_property
    def policy(self) -> Policy:
        config = self.replier.config
        desk = config.desk
        return Policy(
            desk.own_addresses,
            desk.trusted_forwarders,
            desk.default_theme,
            config.max_message_bytes,
            code_tag=desk.code_tag,
            stranger_reply=self.settings.stranger_reply,
            authserv_id=config.authentication.authserv_id,
            on_auth_failure=config.authentication.on_failure,
            timezone=desk.timezone,
        )

    @cached_property
    def staff(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Staff addresses and domains. The routing areas' addresses count as staff: a reply
        from the area mailbox to the ticket it was sent is the area's answer. So do the
        people the web view names ([web] coordinators, [web.areas] members, "@domain" ones
        as domains): whoever works a ticket on the web answers it by mail too."""
        config = self.replier.config
        areas = tuple(t.routing.address.lower() for t in self.replier.rulebook.themes)
        web = config.web
        members = [m for people in web.areas.values() for m in people]
        named = (*web.coordinators, *(m for m in members if not m.startswith("@")))
        domains = (m.lstrip("@") for m in members if m.startswith("@"))
        desk = config.desk
        return (
            (*desk.staff_addresses, *areas, *named),
            (*desk.staff_domains, *domains),
        )

    def process(self, raw: bytes, origin: str, *, full_size: int | None = None) -> Result:
        """Give one message its one outcome; raises only StoreError (database unusable).

        ``full_size`` is given when ``raw`` holds only the header of a message too large to
        download; a whole message over the limit is treated the same way.
        """
        stored = self.store_raw(raw, origin, full_size=full_size)
        if isinstance(stored, Result):
            return stored
        return self.complete(stored, parse_message(raw))

    def store_raw(
        self, raw: bytes, origin: str, *, full_size: int | None = None
    ) -> Stored | Result:
        """``process`` in two steps, so that parsing can happen elsewhere in between: first
        the raw bytes, committed; a Result already when they were processed before."""
        limit = self.policy.max_message_bytes
        oversize = full_size if full_size is not None else (len(raw) if len(raw) > limit else None)
        try:
            record = store.save_raw(self.sessions, raw, origin)
        except OperationalError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc
        if record.outcome is not None:
            return Result(Outcome.DUPLICATE, reason="the same bytes were processed before")
        return Stored(record, origin, oversize, raw)

    def complete(self, stored: Stored, message: InboundMessage) -> Result:
        """The second step of ``process``: the parsed message decided and applied."""
        record = stored.record
        try:
            try:
                proof = self.prove(stored.raw, message)  # before the transaction: DKIM asks DNS
                past = stored.origin.startswith(HISTORY_ORIGIN)
                applier = self.history if past else self
                result = applier._decide_and_apply(record, message, stored.oversize, proof)
            except (StoreError, OperationalError):
                raise
            except Exception as exc:  # the shunt: see the module docstring
                log.exception("message %s could not be processed; quarantined", record.id)
                # Kept with the raw mail: an exception's text may quote the mail (logsafe).
                reason = mask(f"internal error: {type(exc).__name__}: {exc}")
                result = self._quarantine(record.id, reason)
        except OperationalError as exc:
            raise StoreError(f"database error: {exc.orig}") from exc
        log.info(
            "message processed",
            extra=fields(
                outcome=result.outcome.value,
                ticket=result.ticket,
                theme=result.theme,
                replies=result.replies,
                origin=stored.origin,
                raw_id=record.id,
            ),
        )
        if message.defects:
            kinds = defect_kinds(message.defects)
            log.info("message %s: %d MIME defects (%s)", record.id, len(message.defects), kinds)
        return result

    def prove(self, raw: bytes, message: InboundMessage) -> Proof:
        """What the message proves beyond its From (mailproc.decision.proofs): the signed
        reply addresses it came to, and whether its From is authentic: an aligned pass from
        our receiving server, else an aligned DKIM signature that mailproc verifies itself."""
        keys = self.replier.reply_keys
        signed = keys.signed(recipient_addresses(message)) if keys else frozenset()
        return Proof(signed, self._authentic_from(raw, message))

    def _authentic_from(self, raw: bytes, message: InboundMessage) -> str:
        if message.sender is None:
            return ""
        authserv = self.policy.authserv_id
        if authserv and authenticated(message, authserv):
            return f"aligned pass from {authserv}"
        result = self.dkim.verify(raw, domain_of(message.sender.email))
        return f"dkim {result.reason}" if result.aligned else ""

    @cached_property
    def dkim(self) -> DkimVerifier:
        return DkimVerifier(self.replier.config.authentication.dkim)

    def _decide_and_apply(
        self, record: store.RawRecord, message: InboundMessage, oversize: int | None, proof: Proof
    ) -> Result:
        with self.sessions.begin() as session:
            key = store.dedup_key(message, record.sha256)
            earlier = store.find_earlier(session, key)
            if earlier is not None:
                store.mark_raw(
                    session, record.id, Outcome.DUPLICATE, f"same as message {earlier.id}"
                )
                return Result(Outcome.DUPLICATE, ticket=earlier.ticket_code, theme=earlier.theme_id)
            ticket, thread = self._thread(session, message)
            files = (*message.attachments, *(a for f in message.forwarded for a in f.attachments))
            sender = message.sender.email if message.sender else ""
            logos = store.images_sent_before(session, sender, files, ticket.id if ticket else None)
            facts = Facts(
                message, thread, self.replier.rulebook, self.policy, oversize, proof, logos
            )
            decision = decide(facts)
            now = self.clock(message)
            row = store.record_message(session, record.id, key, message, decision, now)
            restored = bounces.restore(session, message, decision.outcome)  # before any reply
            applying = Applying(session, row, message, decision, now, ticket, thread)
            applied = APPLY[decision.outcome](self, applying)
            _note_authentication(session, row, decision)
            if restored is not None:  # on the ticket the message joined, now that it has one
                store.add_event(
                    session, "address_restored", ticket=row.ticket, message=row, bounces=restored
                )
            if message.defects:  # on the ticket too, so staff see why a part is missing
                store.add_event(
                    session, "parse_defects", ticket=row.ticket, message=row,
                    defects=[d[:DEFECT_CHARS] for d in message.defects[:MAX_DEFECTS]],
                )  # fmt: skip
            if self.past:
                store.keep_as_history(session, row, now)
            store.mark_raw(session, record.id, decision.outcome, decision.reason)
            return applied

    def _thread(
        self, session: Session, message: InboundMessage
    ) -> tuple[m.Ticket, Thread] | tuple[None, None]:
        """The ticket the message refers to, and the view of it decide() gets: by the code
        in the subject, else by a code a command names ("status 2026-000123", whose bare
        code the subject finder refuses), else by the headers."""
        tag = self.replier.config.desk.code_tag
        code = find_ticket_code(message.subject, tag) or command_code(
            message.subject, message.fresh_text, tag
        )
        ticket = store.find_ticket(session, code, message)
        if ticket is None or message.sender is None:
            return None, None
        return ticket, store.thread_view(session, ticket, message.sender.email, self.staff)

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
        quoted = self._quoted_code(a)
        opened = replace(decision, request=replace(request, subject=self._subject(a, quoted)))
        clock = self.replier.clock(theme)
        ticket = store.open_ticket(
            a.session, theme, opened, desk.incomplete_close_days, a.now, year, clock
        )
        store.add_participants(a.session, ticket, request, list(a.decision.copied), a.now)
        store.link_message(a.session, a.row, ticket)
        store.add_event(
            a.session,
            decision.outcome.value,
            ticket=ticket,
            message=a.row,
            missing=[i.key for i in decision.missing],
            quoted=decision.quoted_code,
        )
        self._note_on_quoted(a, ticket.code)
        context = self.ticket_context(a, ticket, theme)
        context["quoted"] = self._quoted_context(a, quoted)
        if decision.outcome is Outcome.CREATED:
            purpose = "created"
            context["knowledge"] = knowledge_context(theme)
            self.route(a.session, ticket, theme, a.now, opening=request)
        else:
            purpose = "incomplete"
            context.update(missing_context(decision.missing), close_days=desk.incomplete_close_days)
        return a.result(ticket.code, self.send(a, self.ticket_notice(purpose, ticket, context)))

    def updated(self, a: Applying) -> Result:
        """A reply joins its ticket: a staff answer, a rating, or the requester's reply."""
        ticket = a.ticket(a.decision.ticket_code or "")
        store.link_message(a.session, a.row, ticket)
        store.add_participants(a.session, ticket, a.request, list(a.decision.copied), a.now)
        replies = conversation.REPLIES[conversation.reply_kind(a.decision)](self, a, ticket)
        return a.result(ticket.code, replies)

    def command(self, a: Applying) -> Result:
        """A requester's command: answered, and applied to the ticket it names."""
        command = a.decision.command
        assert command is not None  # decide() gives every command decision its command
        code = a.decision.ticket_code
        ticket = a.ticket(code) if code else None
        store.link_message(a.session, a.row, ticket)
        replies = conversation.COMMANDS[command.kind](self, a, ticket)
        return a.result(ticket.code if ticket else None, replies)

    def rejected(self, a: Applying) -> Result:
        """A stranger quoting someone's code, told that it is not their ticket."""
        store.add_event(a.session, "rejected", message=a.row, reason=a.decision.reason)
        self._note_on_quoted(a, None)
        context = self.base_context(a)
        context["quoted_code"] = a.decision.quoted_code or ""
        notice = Notice("stranger_notice", a.request.requester.email, context)
        return a.result(None, self.send(a, notice))

    def no_theme(self, a: Applying) -> Result:
        store.add_event(a.session, "no_theme", message=a.row, quoted=a.decision.quoted_code)
        self._note_on_quoted(a, None)
        context = self.base_context(a)
        context.update(no_theme_context(self.replier.rulebook, a.decision))
        return a.result(None, self.send(a, Notice("no_theme", a.request.requester.email, context)))

    def ignored(self, a: Applying) -> Result:
        store.add_event(a.session, "ignored", message=a.row, reason=a.decision.reason)
        bounces.record_bounce(a.session, a.row, a.message, a.now)
        return a.result(None, 0)

    def quarantined(self, a: Applying) -> Result:
        store.add_event(a.session, "quarantined", message=a.row, reason=a.decision.reason)
        if a.decision.unproven is not None:
            return self.unproven(a)
        if not a.decision.notice or a.decision.request is None:
            return a.result(None, 0)
        context = self.base_context(a)
        context["reason"] = a.decision.notice
        return a.result(
            None, self.send(a, Notice("quarantined", a.request.requester.email, context))
        )

    def unproven(self, a: Applying) -> Result:
        """An action without its proof: the ticket records the attempt, and the address in
        From is told to reply to the desk's mail about the ticket. The notice carries that
        ticket's signed address for the role, so replying to it is the way to act."""
        unproven, sender = a.decision.unproven, a.request.requester
        assert unproven is not None  # quarantined() chose this handler for it
        ticket = a.ticket(a.decision.ticket_code or "")
        store.add_event(a.session, "action_unproven", ticket=ticket, message=a.row,
                        action=unproven.action, role=unproven.role)  # fmt: skip
        context = self.base_context(a)
        context["ticket"] = conversation.ticket_context(self, ticket)
        context["action"] = unproven.action
        context["staff"] = unproven.role == "staff"
        notice = Notice("proof_needed", sender.email, context, ticket, role=unproven.role)
        return a.result(ticket.code, self.send(a, notice))

    # -- helpers --------------------------------------------------------------------------

    def route(
        self,
        session: Session,
        ticket: m.Ticket,
        theme: Theme,
        now: datetime,
        *,
        opening: Request | None = None,
        transfer: Transfer | None = None,
    ) -> None:
        """Send a ticket now in service to its theme's routing area, with its files
        (``opening``, ``transfer``: see routing.routed_notice)."""
        notice = routed_notice(session, self.replier, ticket, theme, opening, transfer)
        self.replier.queue(session, notice, now)
        store.add_event(session, "routed", ticket=ticket, to=theme.routing.address)

    def _note_on_quoted(self, a: Applying, new_code: str | None) -> None:
        """Log on the quoted ticket that a stranger quoted its code, or that its own side
        followed up a cancelled ticket, and what came of it."""
        quoted = a.decision.quoted_code
        ticket = store.find_ticket_by_code(a.session, quoted) if quoted else None
        if ticket is not None:
            sender = a.request.requester.email
            kind = "followed_up" if store.takes_part(ticket, sender) else "quoted_by_stranger"
            store.add_event(
                a.session, kind, ticket=ticket, message=a.row, sender=sender,
                outcome=a.decision.outcome.value, new_ticket=new_code,
            )  # fmt: skip

    def _theme(self, theme_id: str | None) -> Theme:
        theme = self.replier.rulebook.get(theme_id or "")
        if theme is None:  # decide() only names themes of this rulebook
            raise KeyError(f"unknown theme {theme_id!r}")
        return theme

    def base_context(self, a: Applying) -> dict[str, object]:
        requester = a.request.requester
        return self.replier.base_context(requester.email, requester.name, a.request.subject)

    def ticket_context(self, a: Applying, ticket: m.Ticket, theme: Theme) -> dict[str, object]:
        """The context of a notice to the ticket's requester (created, incomplete, completed):
        greeted by name whoever wrote the message, with everything the ticket has received.
        ``by`` (who sent what completed it), ``added`` (what a reply brought) and ``quoted``
        (the ticket a new one's mail quoted) are set by the notices that have them."""
        replier = self.replier
        context = replier.base_context(ticket.requester_email, ticket.requester_name,
                                       a.request.subject)  # fmt: skip
        context["ticket"] = replier.ticket_context(ticket, theme)
        files = a.received_files(ticket)
        context["received"] = received_context(theme, dict(ticket.answers), files)
        context["forwarder"] = a.request.forwarder or ""
        context.update(by="", added=None, quoted=None)
        return context

    def ticket_notice(
        self, purpose: str, ticket: m.Ticket, context: dict[str, object], *, to: str = ""
    ) -> Notice:
        """A notice about ``ticket`` to ``to`` (by default its requester), copying the
        requester and participants (notices.copies)."""
        to = to or ticket.requester_email
        cc = copies(ticket, to, self.policy.own_addresses)
        return Notice(purpose, to, context, ticket, cc)

    def _quoted_code(self, a: Applying) -> str | None:
        """The code of another ticket that the mail opening a new one refers to: its thread's
        (a reply to a cancelled ticket, a stranger's reply), else one in its subject."""
        tag = self.replier.config.desk.code_tag
        return a.decision.quoted_code or find_ticket_code(a.request.subject, tag)

    def _subject(self, a: Applying, quoted: str | None) -> str:
        """A new ticket's subject: without reply and forward prefixes ("ENC: Erro …" is
        the ticket "Erro …"), the quoted ticket's tag and the opening of our own subject that
        a reply to our mail carries."""
        subject = strip_reply_prefixes(a.request.subject) or a.request.subject
        if quoted is None:
            return subject
        untouched = untagged(subject, quoted, self.replier.config.desk.code_tag)
        return without_opening(untouched, self.replier.renderer.subject_openings)

    def _quoted_context(self, a: Applying, code: str | None) -> dict[str, object] | None:
        """The ticket a new ticket's mail quoted, and whether its sender takes part in it (a
        follow-up of a cancelled ticket: its state is said) or not (they were not added to
        it). The same words whether the code names a ticket or not: a stranger learns
        nothing of other people's tickets."""
        quoted = store.find_ticket_by_code(a.session, code) if code else None
        if quoted is not None and store.takes_part(quoted, a.request.requester.email):
            return {"code": code, "own": True, "state_label": state_label(quoted.state)}
        return {"code": code, "own": False, "state_label": ""} if code else None

    def send(self, a: Applying, notice: Notice) -> int:
        """Queue a reply to the message being applied, threaded under it."""
        threaded = replace(
            notice,
            in_reply_to=a.message.message_id,
            references=(*a.message.references, *filter(None, [a.message.message_id])),
        )
        return int(self.replier.queue(a.session, threaded, a.now))


APPLY: dict[Outcome, Callable[[Pipeline, Applying], Result]] = {
    Outcome.CREATED: Pipeline.created,
    Outcome.INCOMPLETE: Pipeline.created,
    Outcome.UPDATED: Pipeline.updated,
    Outcome.COMMAND: Pipeline.command,
    Outcome.REJECTED: Pipeline.rejected,
    Outcome.NO_THEME: Pipeline.no_theme,
    Outcome.IGNORED: Pipeline.ignored,
    Outcome.QUARANTINED: Pipeline.quarantined,
}


def _note_authentication(session: Session, row: m.Message, decision: Decision) -> None:
    """Log a failed sender authentication on the ticket the message joined or, blocked,
    would have joined (no personal data: the verdict names no address or domain)."""
    failure = decision.authentication
    if failure is None:
        return
    code = decision.ticket_code
    ticket = row.ticket or (store.find_ticket_by_code(session, code) if code else None)
    kind = "auth_blocked" if failure.blocked else "auth_flagged"
    store.add_event(session, kind, ticket=ticket, message=row, verdict=failure.verdict)
    log.warning(
        "message %s: sender authentication failed (%s): %s, ticket=%s",
        row.raw_id, failure.verdict, kind, ticket.code if ticket else None,
    )  # fmt: skip
