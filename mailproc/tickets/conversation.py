"""Applying replies and commands to their ticket, inside the message's transaction.

    reply to a ticket      staff answer   relayed to requester and participants, #directives
                           rating         stored as the ticket's evaluation, thanked
                           reply          joins the ticket; completes it; puts it back in
                                          service (pending) or reopens it (resolved, closed
                                          unanswered); the area hears of it
    command                status, meus chamados, urgente, cancelar, help (decision.commands)

Each handler takes the pipeline, the decision being applied and its ticket, and returns how
many replies to the sender it queued (mail to routing areas is not counted). REPLIES and
COMMANDS below map decisions to handlers, in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from sqlalchemy.orm import Session

from mailproc.decision.commands import CommandKind
from mailproc.decision.ratings import read_rating
from mailproc.decision.staff import THEME_DIRECTIVE, StaffAnswer
from mailproc.decision.states import REOPENED_BY_REPLY, ROUTED, state_label
from mailproc.decision.ticket_state import TicketState
from mailproc.decision.values import Decision
from mailproc.outgoing.notice import Notice
from mailproc.outgoing.notices import (
    Replier,
    added_context,
    files_context,
    mailbox_text,
    missing_context,
    received_context,
)
from mailproc.rules.rulebook import Rulebook, Theme
from mailproc.storage import models as m
from mailproc.storage import store
from mailproc.tickets.applying import Applier, Applying
from mailproc.tickets.routing import Transfer, area_notice, theme_of, update_notice

# States in which the area has the ticket in hand: #aberto there changes nothing else.
IN_HAND = frozenset({TicketState.OPEN, TicketState.PENDING})
# How many tickets "meus chamados" lists (the newest); the reply says how many there are.
MY_TICKETS_LIMIT = 20
# The last answer as "status" quotes it; the whole answer went to the requester before.
ANSWER_EXCERPT = 1500
# The code shown in the help text's example, inside the desk's own tag.
EXAMPLE_CODE = "2026-000123"

ReplyHandler = Callable[[Applier, Applying, m.Ticket], int]
CommandHandler = Callable[[Applier, Applying, m.Ticket | None], int]


def reply_kind(decision: Decision) -> str:
    if decision.staff is not None:
        return "staff"
    return "rating" if decision.rating is not None else "reply"


# -- replies ------------------------------------------------------------------------------


def staff_answer(p: Applier, a: Applying, ticket: m.Ticket) -> int:
    """Apply a staff answer's directives, then relay its new text and files to the
    requester and participants; a directive not understood holds the whole answer back.
    A note (#nota) stays on the ticket for staff, and a move to another theme (#tema)
    sends the ticket to that theme's area: neither is relayed."""
    answer = a.decision.staff
    assert answer is not None  # reply_kind() chose this handler for it
    staff_member = a.request.requester.email
    unknown = (*answer.unknown, *_unknown_theme(p.replier.rulebook, answer))
    if unknown:
        return _hold(p, a, ticket, unknown)
    if answer.note:
        store.add_event(a.session, store.NOTE_EVENT, ticket=ticket, message=a.row, by=staff_member,
                        text=answer.note)  # fmt: skip
    if answer.theme_id is not None and answer.theme_id != ticket.theme_id:
        _reassign(p, a, ticket, answer.theme_id)
    if not answer.answers:  # a note, a move: for staff only
        return 0
    earlier = ticket.state
    changes = store.apply_staff_answer(
        ticket,
        answer,
        a.now,
        urgent_percent=p.settings.urgent_deadline_percent,
        wait_days=p.replier.config.desk.incomplete_close_days,
        clock=p.replier.clock(theme_of(p.replier.rulebook, ticket)),
    )
    store.add_event(a.session, "answered", ticket=ticket, message=a.row, by=staff_member, **changes)
    if changes.get("state") == TicketState.OPEN and earlier not in IN_HAND:
        _back_in_service(p, a, ticket)
    recipients = _relay_recipients(ticket, staff_member, p.policy.own_addresses)
    if not recipients or not (answer.text or changes or a.request.attachments):
        return 0
    context = p.replier.base_context(ticket.requester_email, ticket.requester_name, ticket.subject)
    context["ticket"] = ticket_context(p, ticket)
    context["answer"] = {
        "text": answer.text,
        "attachments": files_context(a.request.attachments),
        "state_label": state_label(changes["state"]) if "state" in changes else "",
        "priority": changes.get("priority", ""),
    }
    context["ask_rating"] = changes.get("state") == TicketState.RESOLVED
    to, *cc = recipients
    files = a.request.attachments
    return p.send(a, Notice("staff_answer", to, context, ticket, tuple(cc), attachments=files))


def rating(p: Applier, a: Applying, ticket: m.Ticket) -> int:
    """Store the requester's rating of a resolved ticket, and thank them."""
    given = a.decision.rating
    assert given is not None  # reply_kind() chose this handler for it
    store.save_evaluation(a.session, ticket, given, a.request.requester.email, a.row)
    store.add_event(a.session, "rated", ticket=ticket, message=a.row, score=given.score)
    context = p.base_context(a)
    context["ticket"] = ticket_context(p, ticket)
    context["rating"] = {"score": given.score, "comment": given.comment}
    return p.send(a, Notice("rating_received", a.request.requester.email, context, ticket))


def reply(p: Applier, a: Applying, ticket: m.Ticket) -> int:
    """A reply by the requester or a participant: it joins the ticket. An incomplete ticket is
    told what is still missing, or routed once complete; otherwise the area hears of it.

    A reply puts a pending ticket back in service, and reopens a resolved one (or one closed
    for want of an answer), as help desks do: "still broken" needs no new ticket. Either way
    the area gets a new deadline. A participant's rating of a resolved ticket (only the
    requester rates: rating()) is no reason to reopen it.
    """
    decision = a.decision
    theme = p.replier.rulebook.get(ticket.theme_id) if ticket.theme_id else None
    close_days = p.replier.config.desk.incomplete_close_days
    earlier = ticket.state
    urgent_percent = p.settings.urgent_deadline_percent
    store.update_ticket(
        ticket,
        theme,
        decision,
        a.now,
        close_days=close_days,
        urgent_percent=urgent_percent,
        clock=p.replier.clock(theme),
    )
    resumed = store.resume(ticket, a.now)
    rated = earlier == TicketState.RESOLVED and read_rating(a.request.text) is not None
    reopened = earlier in REOPENED_BY_REPLY and not rated
    store.add_event(a.session, "updated", ticket=ticket, message=a.row,
                    completed=decision.completed, resumed=resumed)  # fmt: skip
    if reopened:
        store.reopen(ticket, a.now)
        store.add_event(a.session, "reopened", ticket=ticket, message=a.row,
                        by=a.request.requester.email, was=earlier)  # fmt: skip
    if resumed or reopened:
        _back_in_service(p, a, ticket)
    if theme is not None and decision.theme_id is not None:  # it was incomplete
        return _progress(p, a, ticket, theme)
    if theme is not None and ticket.state in ROUTED:
        author = a.request.requester
        sender, files = mailbox_text(author.name, author.email), a.request.attachments
        was = state_label(earlier) if reopened else ""
        update = update_notice(p.replier, ticket, theme, sender, a.request.text, files, was)
        p.replier.queue(a.session, update, a.now)
    return 0


def _progress(p: Applier, a: Applying, ticket: m.Ticket, theme: Theme) -> int:
    """Tell the requester's side what a reply brought to an incomplete ticket: that it is
    complete now (and routed), or what came and what is still missing. A colleague who sent
    it is named, and copied with the others."""
    decision = a.decision
    context = p.ticket_context(a, ticket, theme)
    author = a.request.requester
    if author.email != ticket.requester_email:
        context["by"] = mailbox_text(author.name, author.email)
    if decision.completed:
        p.route(a.session, ticket, theme, a.now)
        return p.send(a, p.ticket_notice("completed", ticket, context))
    close_days = p.replier.config.desk.incomplete_close_days
    context.update(missing_context(decision.missing), close_days=close_days)
    context["added"] = added_context(
        theme, a.earlier_answers, dict(ticket.answers), a.request.attachments
    )
    return p.send(a, p.ticket_notice("incomplete", ticket, context))


REPLIES: dict[str, ReplyHandler] = {"staff": staff_answer, "rating": rating, "reply": reply}


# -- commands -----------------------------------------------------------------------------


def status(p: Applier, a: Applying, ticket: m.Ticket | None) -> int:
    """The ticket's state, theme, deadline and last answer."""
    assert ticket is not None  # decide() binds status to a ticket, or turns it into help
    _log_command(a, ticket)
    context = p.base_context(a)
    context["ticket"] = ticket_context(p, ticket)
    theme = p.replier.rulebook.get(ticket.theme_id or "")
    context["received"] = received_context(theme, dict(ticket.answers), a.received_files(ticket))
    context["last_answer"] = last_answer_context(p.replier, a.session, ticket)
    return p.send(a, Notice("status", a.request.requester.email, context, ticket))


def my_tickets(p: Applier, a: Applying, ticket: m.Ticket | None) -> int:
    """The sender's tickets, newest first, with state and deadline."""
    _log_command(a, None)
    found, total = store.tickets_of(a.session, a.request.requester.email, MY_TICKETS_LIMIT)
    context = p.base_context(a)
    context["tickets"] = [
        {
            "code": t.code,
            "subject": t.subject,
            "state_label": state_label(t.state),
            "due_at": p.replier.format_deadline(t.due_at) if t.due_at else "",
            "created_at": p.replier.format_time(t.created_at),
        }
        for t in found
    ]
    context["total"] = total
    return p.send(a, Notice("my_tickets", a.request.requester.email, context))


def urgent(p: Applier, a: Applying, ticket: m.Ticket | None) -> int:
    """Raise the priority, shorten the deadline (the first time), and tell the area: what
    the seed's servants do by phoning 0800 with the code."""
    assert ticket is not None  # decide() binds urgente to a ticket, or turns it into help
    command = a.decision.command
    reason = command.reason if command else ""
    theme = theme_of(p.replier.rulebook, ticket)
    store.make_urgent(ticket, p.settings.urgent_deadline_percent, a.now, p.replier.clock(theme))
    store.add_event(a.session, "urgent", ticket=ticket, message=a.row, reason=reason,
                    priority=ticket.priority)  # fmt: skip
    by = {"email": a.request.requester.email, "name": a.request.requester.name}
    if theme is not None:
        extra: dict[str, object] = {"reason": reason, "by": by}
        p.replier.queue(
            a.session, area_notice(p.replier, ticket, theme, "area_urgent", extra), a.now
        )
    context = p.base_context(a)
    context["ticket"] = p.replier.ticket_context(ticket, theme)
    context["reason"] = reason
    notice = p.ticket_notice("urgent_received", ticket, context, to=a.request.requester.email)
    return p.send(a, notice)


def cancel(p: Applier, a: Applying, ticket: m.Ticket | None) -> int:
    """Cancel the ticket at its requester's request; the area stops working on it."""
    assert ticket is not None  # decide() binds cancelar to a ticket, or turns it into help
    command = a.decision.command
    reason = command.reason if command else ""
    was_routed = ticket.state in ROUTED
    store.cancel(ticket, a.now)
    store.add_event(a.session, "cancelled", ticket=ticket, message=a.row, reason=reason)
    theme = theme_of(p.replier.rulebook, ticket)
    if was_routed and theme is not None:
        extra: dict[str, object] = {"reason": reason}
        notice = area_notice(p.replier, ticket, theme, "area_cancelled", extra)
        p.replier.queue(a.session, notice, a.now)
    context = p.base_context(a)
    context["ticket"] = p.replier.ticket_context(ticket, theme)
    context["reason"] = reason
    return p.send(a, p.ticket_notice("cancelled", ticket, context))


def help_reply(p: Applier, a: Applying, ticket: m.Ticket | None) -> int:
    """The short list of commands, with what was wrong with this one, if anything. Bound
    to the sender's ticket, it is mail about that ticket: its signed reply address lets a
    confirmation ("cancelar 2026-000123") act in one reply."""
    command = a.decision.command
    problem = command.problem if command else ""
    store.add_event(a.session, "command_help", ticket=ticket, message=a.row, problem=problem)
    context = p.base_context(a)
    context["problem"] = problem
    context["example_tag"] = p.replier.config.desk.code_tag.format(code=EXAMPLE_CODE)
    return p.send(a, Notice("command_help", a.request.requester.email, context, ticket))


COMMANDS: dict[CommandKind, CommandHandler] = {
    CommandKind.STATUS: status,
    CommandKind.MY_TICKETS: my_tickets,
    CommandKind.URGENT: urgent,
    CommandKind.CANCEL: cancel,
    CommandKind.HELP: help_reply,
}


# -- helpers ------------------------------------------------------------------------------


def last_answer_context(
    replier: Replier, session: Session, ticket: m.Ticket
) -> dict[str, str] | None:
    """The ticket's last staff answer as replies quote it ({text, at}), or None."""
    last = store.last_staff_answer(session, ticket.id)
    if last is None:
        return None
    return {"text": last.body_text[:ANSWER_EXCERPT], "at": replier.format_time(last.created_at)}


def _relay_recipients(ticket: m.Ticket, staff_member: str, own: Collection[str]) -> list[str]:
    """The requester first, then the other participants: never the answering staff member
    (who has their answer) nor our own addresses."""
    emails = [ticket.requester_email, *(p.email for p in ticket.participants)]
    skip = {staff_member, *own}
    return [e for e in dict.fromkeys(emails) if e and e not in skip]


def _hold(p: Applier, a: Applying, ticket: m.Ticket, unknown: tuple[str, ...]) -> int:
    """Tell the staff member that their answer was not relayed, and which lines to fix."""
    staff_member = a.request.requester.email
    store.add_event(a.session, "answer_held", ticket=ticket, message=a.row, by=staff_member,
                    unknown=list(unknown))  # fmt: skip
    context = p.base_context(a)
    context["ticket"] = ticket_context(p, ticket)
    context["unknown"] = list(unknown)
    context["themes"] = [{"id": t.id, "name": t.name} for t in p.replier.rulebook.themes]
    return p.send(a, Notice("staff_help", staff_member, context, ticket, role="staff"))


def _unknown_theme(rulebook: Rulebook, answer: StaffAnswer) -> tuple[str, ...]:
    """The "#tema xyz" of an answer whose theme the rules do not have: a typo, held back."""
    theme_id = answer.theme_id
    if theme_id is None or rulebook.get(theme_id) is not None:
        return ()
    return (f"#{THEME_DIRECTIVE} {theme_id}",)


def _reassign(p: Applier, a: Applying, ticket: m.Ticket, theme_id: str) -> None:
    """Move the ticket to another theme: a ticket its area works on goes to the new area
    with the routing mail, and one in service gets the new theme's deadline, counted from
    now as when it was first routed. A ticket still waiting for information is checked
    against the new theme's questions when the requester answers."""
    theme = p.replier.rulebook.get(theme_id)
    assert theme is not None  # _unknown_theme() held back any other
    was = ticket.theme_id
    store.move_to_theme(ticket, theme, a.now)
    store.add_event(a.session, "reassigned", ticket=ticket, message=a.row,
                    by=a.request.requester.email, **{"from": was, "to": theme.id})  # fmt: skip
    if ticket.state == TicketState.OPEN:
        percent = p.settings.urgent_deadline_percent
        deadline = store.response_deadline(ticket, theme, percent, a.now, p.replier.clock(theme))
        store.set_deadline(ticket, deadline)
    if ticket.state in ROUTED:
        transfer = Transfer(was or "", a.request.requester.email)
        p.route(a.session, ticket, theme, a.now, transfer=transfer)


def _back_in_service(p: Applier, a: Applying, ticket: m.Ticket) -> None:
    """A ticket back in service (#aberto, or a reply to a pending, resolved or closed one):
    a new deadline, and, if it never reached its area (staff accepting an incomplete ticket
    as it is), the routing mail."""
    theme = theme_of(p.replier.rulebook, ticket)
    if theme is None:
        return
    never_routed = ticket.due_at is None  # a deadline is set exactly when a ticket is routed
    percent = p.settings.urgent_deadline_percent
    clock = p.replier.clock(theme)
    store.set_deadline(ticket, store.response_deadline(ticket, theme, percent, a.now, clock))
    if never_routed:
        p.route(a.session, ticket, theme, a.now)


def ticket_context(p: Applier, ticket: m.Ticket) -> dict[str, object]:
    """The template context of ``ticket``, with its theme's name and deadline hours."""
    return p.replier.ticket_context(ticket, p.replier.rulebook.get(ticket.theme_id or ""))


def _log_command(a: Applying, ticket: m.Ticket | None) -> None:
    command = a.decision.command
    kind = command.kind.value if command else ""
    store.add_event(a.session, "command", ticket=ticket, message=a.row, command=kind)
