"""Staff actions on a ticket, posted by the forms of its page (templates/web/
_ticket_actions.html.j2): answer the requester, change the state or the priority, add an
internal note, move the ticket to another theme.

    POST /equipe/chamados/CODE/responder    texto, estado (optional)   #resolvido ... text
    POST /equipe/chamados/CODE/estado       estado                     #pendente, #aberto ...
    POST /equipe/chamados/CODE/prioridade   prioridade                 #prioridade alta
    POST /equipe/chamados/CODE/nota         nota                       #nota
    POST /equipe/chamados/CODE/tema         tema                       #tema erro-siasg

Each is the staff reply with the directive beside it, applied by the same code
(mailproc.tickets.acting): the requester gets the same mail. Only staff who see the ticket
may act on it (anyone else gets 404, as for its page); every form carries its CSRF token
(mailproc.web.security). A form's mistakes are told on the ticket's page; a value no form
offers (a forged state, theme or priority) is a bad request.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, request, session, url_for
from flask_limiter.util import get_remote_address
from werkzeug.wrappers import Response

from mailproc.decision.states import PRIORITY_LABELS, PRIORITY_LEVELS, state_label
from mailproc.decision.ticket_state import TicketState
from mailproc.rules.rulebook import Priority
from mailproc.storage import store
from mailproc.tickets.acting import Refused, StaffAction, UnknownTicket, act
from mailproc.tickets.applying import Result
from mailproc.web.access import STAFF_KEY, Staff, current_staff, staff_required
from mailproc.web.desk import desk
from mailproc.web.filters import number
from mailproc.web.security import limiter

blueprint = Blueprint("actions", __name__, url_prefix="/equipe/chamados")

# The actions one staff member may take, all forms together: more is a script in a stolen
# session or a stuck key, each action a mail to a requester.
ACTIONS_PER_STAFF = "30 per minute;300 per hour"
# The longest answer or note taken: a long e-mail, not a file pasted in by mistake.
MAX_TEXT = 100_000
# The states staff set (the state directives' targets), in the order the form offers them.
STAFF_STATES: tuple[TicketState, ...] = (
    TicketState.OPEN,
    TicketState.PENDING,
    TicketState.RESOLVED,
    TicketState.CANCELLED,
)


def _acting_staff() -> str:
    """Whose actions count: the signed-in address (colleagues behind one proxy share an
    address), or the client's address for a post without a login (sent to log in)."""
    return str(session.get(STAFF_KEY) or get_remote_address())


per_staff_member = limiter.shared_limit(ACTIONS_PER_STAFF, "staff-actions", key_func=_acting_staff)


@blueprint.app_context_processor
def _choices() -> dict[str, object]:
    """What the action forms offer, for any page that includes them: (value, label) pairs."""
    return {
        "staff_states": [(s.value, state_label(s)) for s in STAFF_STATES],
        "staff_priorities": [(p.value, PRIORITY_LABELS[p]) for p in PRIORITY_LEVELS],
    }


@blueprint.post("/<code>/responder")
@per_staff_member
@staff_required
def answer(code: str) -> Response:
    """Answer the requester; optionally change the state in the same step (#resolvido)."""
    staff = _staff_of(code)
    text = _text("texto", "a resposta")
    if text is None:
        return _back(code)
    new_state = _state()
    result = _act(StaffAction(code, staff.email, text=text, state=new_state))
    if result is None:
        return _back(code)
    told = "enviada ao solicitante" if result.replies else "registrada no chamado"
    after = f" O chamado está {state_label(new_state)}." if new_state else ""
    flash(f"Resposta {told}.{after}", "success")
    return _back(code)


@blueprint.post("/<code>/estado")
@per_staff_member
@staff_required
def state(code: str) -> Response:
    staff = _staff_of(code)
    chosen = _state() or abort(400)
    result = _act(StaffAction(code, staff.email, state=chosen))
    if result is not None:
        flash(f"O chamado agora está {state_label(chosen)}.{_mailed(result)}", "success")
    return _back(code)


@blueprint.post("/<code>/prioridade")
@per_staff_member
@staff_required
def priority(code: str) -> Response:
    staff = _staff_of(code)
    chosen = _priority()
    result = _act(StaffAction(code, staff.email, priority=chosen))
    if result is not None:
        flash(f"Prioridade alterada para {PRIORITY_LABELS[chosen]}.{_mailed(result)}", "success")
    return _back(code)


@blueprint.post("/<code>/nota")
@per_staff_member
@staff_required
def note(code: str) -> Response:
    """An internal note: on the ticket for staff, never mailed."""
    staff = _staff_of(code)
    text = _text("nota", "a nota")
    if text is not None and _act(StaffAction(code, staff.email, note=text)) is not None:
        flash("Nota interna registrada. Ela não é enviada ao solicitante.", "success")
    return _back(code)


@blueprint.post("/<code>/tema")
@per_staff_member
@staff_required
def theme(code: str) -> Response:
    """Move the ticket to another theme; its area gets it. Staff who do not see the new
    theme's tickets lose sight of it: they go back to their queue."""
    staff = _staff_of(code)
    chosen = desk().rulebook.get(request.form.get("tema", ""))
    if chosen is None:
        abort(400)
    if _act(StaffAction(code, staff.email, theme_id=chosen.id)) is None:
        return _back(code)
    moved = f"Chamado {code} transferido para o tema {chosen.name} ({chosen.routing.area})."
    if not staff.sees(chosen.id):
        flash(f"{moved} Ele não aparece mais na sua fila.", "success")
        return redirect(url_for("staff.queue"), 303)
    flash(moved, "success")
    return _back(code)


# -- helpers ------------------------------------------------------------------------------


def _staff_of(code: str) -> Staff:
    """The staff member acting, when they may see the ticket ``code``; else 404, as for a
    ticket that does not exist (its page answers the same)."""
    staff = current_staff()
    assert staff is not None  # staff_required
    with desk().read_sessions() as session:
        ticket = store.find_ticket_by_code(session, code)
        if ticket is None or not staff.sees(ticket.theme_id):
            abort(404)
    return staff


def _act(action: StaffAction) -> Result | None:
    """Apply ``action``; None (and the reason flashed) when it was refused."""
    try:
        return act(desk().pipeline, action)
    except UnknownTicket:
        abort(404)
    except Refused as refusal:
        flash(refusal.message, "error")
        return None


def _text(field: str, what: str) -> str | None:
    """The text of ``field``, its line breaks as mail has them; None (and why, flashed)
    when it is empty or too long."""
    text = request.form.get(field, "").replace("\r\n", "\n").strip()
    if not text:
        flash(f"Escreva {what} antes de enviar.", "error")
        return None
    if len(text) > MAX_TEXT:
        flash(
            f"O texto tem {number(len(text))} caracteres, e o limite é de "
            f"{number(MAX_TEXT)}. Resuma-o; um conteúdo longo pode ir como anexo, por "
            "e-mail.",
            "error",
        )
        return None
    return text


def _state() -> TicketState | None:
    """The state chosen, or None for none ("keep it as it is"); a value no form offers is a
    bad request."""
    value = request.form.get("estado", "")
    if not value:
        return None
    if value not in {s.value for s in STAFF_STATES}:
        abort(400)
    return TicketState(value)


def _priority() -> Priority:
    value = request.form.get("prioridade", "")
    if value not in {p.value for p in PRIORITY_LEVELS}:
        abort(400)
    return Priority(value)


def _mailed(result: Result) -> str:
    return " O solicitante foi avisado por e-mail." if result.replies else ""


def _back(code: str) -> Response:
    """To the ticket's page (303: the browser GETs it, and a reload posts nothing again)."""
    return redirect(url_for("staff.ticket", code=code), 303)
