"""Requesters' pages: one ticket through its "Acompanhe seu chamado" link, and "Meus
chamados", the list of an address's tickets through a link mailed on request.

    /acompanhar/TOKEN                    the ticket, read only, with its actions' forms
    /acompanhar/TOKEN/arquivos/ID        a file the requester's side sent, downloaded
    /acompanhar/TOKEN/urgencia           POST: "urgente" with its reason
    /acompanhar/TOKEN/cancelar           GET: asks to confirm; POST: "cancelar"
    /acompanhar/TOKEN/avaliacao          POST: the rating of a resolved ticket
    /meus-chamados                       GET: asks an address; POST: mails it its link
    /meus-chamados/TOKEN                 that address's tickets, newest first, paged

There are no passwords for requesters: a signed link (mailproc.outgoing.links) names one
ticket and one address, and opens that ticket only, while the address still takes part in
it. A link that is forged, altered, expired or names a ticket the address has no part in
gets the same 404, which never says whether the code exists. Actions are the mail
commands, applied by the same code (mailproc.tickets.acting); the shared link of a mail with
copies cannot take the requester's own (REQUESTER_ONLY).

What the page shows of the conversation (``conversation``), by a rule that cannot leak what
staff keep to themselves:
  - the messages of the requester's side: those of the ticket's participants that are no
    staff message (store.STAFF_MESSAGE_EVENTS: an answer, one held back, a note, a move);
  - the desk's answers: only messages with an "answered" event, each with its text as it
    was relayed (a staff answer's message keeps exactly the relayed text: directives and
    #nota are taken out before it is recorded), signed by the desk, never by the staff
    member's address; an answer with no text (only a change of state) shows nothing.
Internal notes live in "note" events and in messages the answered rule never shows.
"""

from __future__ import annotations

import logging
import math
from io import BytesIO
from typing import Literal

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from mailproc.decision.states import CANCELLABLE, URGENCY_ALLOWED
from mailproc.decision.ticket_state import TicketState
from mailproc.mail.addresses import is_typed_address
from mailproc.mail.safe_names import generated_filename, safe_filename
from mailproc.outgoing.links import RequesterLinks, TicketLink
from mailproc.outgoing.notice import Notice
from mailproc.outgoing.notices import Replier, missing_context, received_context
from mailproc.rules.requirements import check_message
from mailproc.rules.rulebook import Theme
from mailproc.storage import models as m
from mailproc.storage import store
from mailproc.storage.db import utcnow
from mailproc.storage.queue import DEADLINE_RUNS
from mailproc.tickets.acting import Refused, RequesterAction, UnknownTicket, act
from mailproc.web.desk import desk
from mailproc.web.login import submitted_address
from mailproc.web.security import limiter

blueprint = Blueprint("requester", __name__)
log = logging.getLogger(__name__)

# The purpose of the mail carrying a "Meus chamados" link (templates/my_tickets_link.*.j2).
MY_TICKETS_LINK = "my_tickets_link"
# Per client: enough to read and reread a page, not to guess tokens. Asking for a link is
# limited per client and per address asked for, so that no mailbox is flooded.
PAGE_PER_CLIENT = "60 per minute"
ACTION_PER_CLIENT = "10 per minute"
ASK_PER_CLIENT = "5 per minute;20 per hour"
ASK_PER_ADDRESS = "3 per hour"
# The longest reason or comment taken (a mail command's reason is one paragraph).
MAX_TEXT = 2000
TICKETS_PER_PAGE = 20
MAX_PAGE = 1000
# The staff's message events that relayed something to the requester.
ANSWERED = "answered"

ActionKind = Literal["urgente", "cancelar", "avaliar"]
# What only the requester does, never through a link mailed with copies (a shared link).
REQUESTER_ONLY: tuple[ActionKind, ...] = ("cancelar", "avaliar")
SHARED_LINK_REFUSAL = (
    "Este link veio em uma mensagem com cópias: por ele não se cancela nem se avalia o "
    'chamado. Abra o chamado pela lista de "Meus chamados", que chega só ao seu e-mail, ou '
    "responda ao e-mail do chamado."
)


@blueprint.errorhandler(404)
def not_found(error: Exception) -> tuple[str, int]:
    """One page for every link refused, whatever the reason, saying how to get a new one."""
    return render_template("requester_not_found.html.j2"), 404


def links() -> RequesterLinks:
    """The desk's requester links: the mailing ones, or, without [web] public_url (no link
    is mailed then), ones that still read the tokens mailed before."""
    app = desk()
    web = app.config.web
    return app.pipeline.replier.links or RequesterLinks("", app.web_key, web.requester_link_days)


# -- one ticket -----------------------------------------------------------------------------


@blueprint.get("/acompanhar/<token>")
@limiter.limit(PAGE_PER_CLIENT)
def ticket(token: str) -> str:
    link = _ticket_of(token)
    replier = desk().pipeline.replier
    with desk().read_sessions() as session:
        found = _open_ticket(session, link)
        shown = ticket_page(session, replier, found, link)
        return render_template("requester_ticket.html.j2", token=token, **shown)


@blueprint.get("/acompanhar/<token>/arquivos/<int:file_id>")
@limiter.limit(PAGE_PER_CLIENT)
def download(token: str, file_id: int) -> Response:
    """A file of the requester's side, always as a download of bytes: never shown inline,
    whatever it claims to be, under a name safe on every system."""
    link = _ticket_of(token)
    with desk().read_sessions() as session:
        found = _open_ticket(session, link)
        files = {f.id: f for message in requester_messages(found) for f in message.attachments}
        wanted = files.get(file_id)
        data = wanted.data if wanted is not None else None
        if wanted is None or data is None:  # unknown, staff's, or its bytes were purged
            abort(404)
        name = safe_filename(wanted.filename) or generated_filename(file_id, "bin")
    response = send_file(BytesIO(data), mimetype="application/octet-stream",
                         as_attachment=True, download_name=name)  # fmt: skip
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/acompanhar/<token>/urgencia")
@limiter.limit(ACTION_PER_CLIENT)
def ask_urgency(token: str) -> Response:
    reason = _text("motivo")
    if not reason:
        return _refused(token, "Informe o motivo da urgência.")
    done = ("Pedido de urgência registrado. A equipe responsável foi avisada e você "
            "receberá a confirmação por e-mail.")  # fmt: skip
    return _act(token, "urgente", done, reason=reason)


@blueprint.get("/acompanhar/<token>/cancelar")
@limiter.limit(PAGE_PER_CLIENT)
def confirm_cancel(token: str) -> str:
    link = _ticket_of(token)
    with desk().read_sessions() as session:
        found = _open_ticket(session, link)
        return render_template("requester_cancel.html.j2", token=token, code=found.code,
                               subject=found.subject)  # fmt: skip


@blueprint.post("/acompanhar/<token>/cancelar")
@limiter.limit(ACTION_PER_CLIENT)
def cancel(token: str) -> Response:
    return _act(token, "cancelar", "Chamado cancelado. A confirmação foi enviada por e-mail.",
                reason=_text("motivo"))  # fmt: skip


@blueprint.post("/acompanhar/<token>/avaliacao")
@limiter.limit(ACTION_PER_CLIENT)
def rate(token: str) -> Response:
    score = request.form.get("nota", "")
    if score not in ("1", "2", "3", "4", "5"):
        return _refused(token, "Escolha uma nota de 1 a 5.")
    comment = _text("comentario")
    return _act(token, "avaliar", "Obrigado pela avaliação.", score=int(score), reason=comment)


def ticket_page(
    session: Session, replier: Replier, ticket: m.Ticket, link: TicketLink
) -> dict[str, object]:
    """What the ticket's page shows through ``link``: the ticket as mail shows it, the
    answers it has received and what it still misses, the conversation (with the files),
    and which actions are open (a shared link cannot act as the requester)."""
    theme = replier.rulebook.get(ticket.theme_id or "")
    answers = dict(ticket.answers)
    missing = None
    if ticket.state == TicketState.AWAITING_INFORMATION and theme is not None:
        # Found as the mail that closes a waiting ticket finds it (upkeep); the files' bytes
        # are read only here, where the checks need them.
        files = store.ticket_attachments(session, ticket.id)
        still = check_message(theme, "", files, earlier_answers=answers)
        missing = missing_context(still.missing)
    shown = shown_ticket(replier, ticket, theme)
    requester = link.email == ticket.requester_email and not link.shared
    rating = ticket.evaluation
    return {
        "ticket": shown,
        "answers": received_context(theme, answers, ())["answers"],
        "missing": missing,
        # A shared link may be in anyone's hands: nobody's messages are "Você" there.
        "conversation": conversation(replier, ticket, "" if link.shared else link.email),
        "can_urge": bool(shown["offer_urgency"]) and ticket.state in URGENCY_ALLOWED,
        "can_cancel": requester and ticket.state in CANCELLABLE,
        "can_rate": requester and ticket.state == TicketState.RESOLVED,
        "rating": {"score": rating.score, "comment": rating.comment} if rating else None,
        "shared": link.shared,
    }


def shown_ticket(replier: Replier, ticket: m.Ticket, theme: Theme | None) -> dict[str, object]:
    """The ticket as mail shows it, with its deadline only while it runs (DEADLINE_RUNS): a
    resolved, cancelled or pending ticket owes no answer by a date, and a stale one would
    read as a promise."""
    shown = replier.ticket_context(ticket, theme)
    if ticket.state != DEADLINE_RUNS:
        shown["due_at"] = ""
    return shown


def conversation(replier: Replier, ticket: m.Ticket, email: str) -> list[dict[str, object]]:
    """The messages the requester may read, oldest first (the rule: see the module's
    docstring): each {author, at, text, files: [{id, filename, size_kb}]}."""
    desk_name = replier.config.desk.name
    answered = _message_ids(ticket, (ANSWERED,))
    theirs = {message.id for message in requester_messages(ticket)}
    shown = []
    for message in ticket.messages:
        if message.id in answered and message.body_text.strip():
            shown.append(_entry(replier, message, desk_name, files=False))
        elif message.id in theirs:
            author = "Você" if message.sender == email else _sender(message)
            shown.append(_entry(replier, message, author, files=True))
    return shown


def requester_messages(ticket: m.Ticket) -> list[m.Message]:
    """The messages of the ticket's requester's side: its participants' that are no staff
    message (the files of the page are theirs)."""
    staff = _message_ids(ticket, store.STAFF_MESSAGE_EVENTS)
    return [
        message
        for message in ticket.messages
        if message.id not in staff and store.takes_part(ticket, message.sender)
    ]


def _message_ids(ticket: m.Ticket, kinds: tuple[str, ...]) -> set[int]:
    return {e.message_id for e in ticket.events if e.kind in kinds and e.message_id is not None}


def _entry(replier: Replier, message: m.Message, author: str, *, files: bool) -> dict[str, object]:
    return {
        "author": author,
        "at": replier.format_time(message.created_at),
        "text": message.body_text,
        "files": [
            {"id": f.id, "filename": f.filename, "size_kb": max(1, round(f.size / 1024))}
            for f in message.attachments
        ]
        if files
        else [],
    }


def _sender(message: m.Message) -> str:
    name = message.sender_name.strip()
    return f"{name} <{message.sender}>" if name else message.sender


def _ticket_of(token: str) -> TicketLink:
    """What a valid ticket token names; any other token is a 404."""
    read = links().read_ticket(token)
    if read is None:
        abort(404)
    return read


def _linked(token: str) -> TicketLink:
    """A valid link whose address takes part in its ticket; else a 404."""
    link = _ticket_of(token)
    with desk().read_sessions() as session:
        found = store.find_ticket_by_code(session, link.code)
        if found is None or not store.takes_part(found, link.email):
            abort(404)
    return link


def _open_ticket(session: Session, link: TicketLink) -> m.Ticket:
    """The ticket of a valid link, while its address takes part in it; else a 404 (the
    same one as for a forged token)."""
    found = store.conversation(session, link.code)
    if found is None or not store.takes_part(found, link.email):
        abort(404)
    return found


def _text(field: str) -> str:
    return request.form.get(field, "").strip()


def _act(
    token: str, kind: ActionKind, done: str, *, reason: str = "", score: int | None = None
) -> Response:
    """Apply the requester's action through the mail's code; tell how it went on the page.
    ``reason`` is the rating's comment for "avaliar"."""
    link = _linked(token)
    if link.shared and kind in REQUESTER_ONLY:
        return _refused(token, SHARED_LINK_REFUSAL)
    if len(reason) > MAX_TEXT:
        return _refused(token, f"O texto pode ter no máximo {MAX_TEXT} caracteres.")
    if kind == "avaliar":
        action = RequesterAction(link.code, link.email, kind, score=score, comment=reason)
    else:
        action = RequesterAction(link.code, link.email, kind, reason=reason)
    try:
        act(desk().pipeline, action)
    except UnknownTicket:
        abort(404)
    except Refused as refusal:
        return _refused(token, refusal.message)
    flash(done, "success")
    return _back(token)


def _refused(token: str, message: str) -> Response:
    _linked(token)  # a forged link learns nothing, not even the form's complaint
    flash(message, "error")
    return _back(token)


def _back(token: str) -> Response:
    return redirect(url_for("requester.ticket", token=token), 303)


# -- my tickets -----------------------------------------------------------------------------


@blueprint.get("/meus-chamados")
def ask_my_tickets() -> str:
    return render_template("requester_ask.html.j2")


@blueprint.post("/meus-chamados")
@limiter.limit(ASK_PER_CLIENT)
@limiter.limit(ASK_PER_ADDRESS, key_func=submitted_address)
def send_my_tickets() -> tuple[str, int]:
    """Mail the address its "Meus chamados" link when it has tickets; the same answer
    whether it has or not, so that the page tells no one who writes to the desk."""
    email = submitted_address()
    if not is_typed_address(email):
        error = "Informe um endereço de e-mail completo, como nome@orgao.gov.br."
        return render_template("requester_ask.html.j2", error=error, email=email), 400
    mailing = desk().pipeline.replier.links
    if mailing is None:
        log.error("requester links need [web] public_url (the address people open)")
    else:
        _mail_my_tickets(mailing, email)
    return render_template("requester_asked.html.j2"), 200


def _mail_my_tickets(mailing: RequesterLinks, email: str) -> None:
    """Queue the link mail when ``email`` has tickets. Through Replier.queue, so that an
    address whose mail bounces, or one mailed too often, gets nothing."""
    app = desk()
    replier, now = app.pipeline.replier, utcnow()
    with app.sessions.begin() as session:
        _, total = store.tickets_of(session, email, 0)
        if not total:
            log.info("my tickets link not mailed: no tickets (asked from %s)", request.remote_addr)
            return
        context = replier.base_context(email, "", "") | {
            "my_tickets_url": mailing.my_tickets_url(email),
            "link_days": mailing.max_age_days,
        }
        queued = replier.queue(session, Notice(MY_TICKETS_LINK, email, context), now)
    log.info("my tickets link %s for %s (asked from %s)", "mailed" if queued else "held",
             email, request.remote_addr)  # fmt: skip


@blueprint.get("/meus-chamados/<token>")
@limiter.limit(PAGE_PER_CLIENT)
def my_tickets(token: str) -> str:
    reader = links()
    email = reader.read_my_tickets(token)
    if email is None:
        abort(404)
    page = _page_number()
    replier = desk().pipeline.replier
    with desk().read_sessions() as session:
        found, total = store.tickets_of(session, email, page * TICKETS_PER_PAGE)
        pages = max(1, math.ceil(total / TICKETS_PER_PAGE))
        rows = [
            _listed(replier, t, reader.ticket_token(t.code, email))
            for t in found[(page - 1) * TICKETS_PER_PAGE :]
        ]
    return render_template("requester_list.html.j2", token=token, email=email, tickets=rows,
                           page=page, pages=pages, total=total)  # fmt: skip


def _page_number() -> int:
    """The page asked for (?pagina=N): 1 when none or nonsense, at most MAX_PAGE."""
    asked = request.args.get("pagina", "1")
    if not (asked.isascii() and asked.isdecimal()) or len(asked) > len(str(MAX_PAGE)):
        return 1
    return min(max(1, int(asked)), MAX_PAGE)


def _listed(replier: Replier, ticket: m.Ticket, token: str) -> dict[str, object]:
    """One ticket of the list, with the token of its page for the list's address."""
    shown = shown_ticket(replier, ticket, replier.rulebook.get(ticket.theme_id or ""))
    return shown | {"token": token}
