"""The staff console: the queue, a ticket's page and its files.

    GET /equipe/                                  the queue (filters, search, order, page)
    GET /equipe/chamados/CODE                     a ticket's page
    GET /equipe/chamados/CODE/arquivos/ID         a file of one of its messages, downloaded

A staff member sees the tickets of their scope (mailproc.web.access.Staff.themes); a ticket
outside it is "not found", like an unknown code, so that its existence is not told. The
queue's filters are GET parameters of a plain form, so a filtered queue can be bookmarked;
a value the form does not offer is ignored and the page says so. The reads are
mailproc.storage.queue's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from typing import Any

from flask import Blueprint, abort, render_template, request, send_file
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from mailproc.decision.states import PRIORITY_LABELS, PRIORITY_LEVELS, STATE_LABELS, state_label
from mailproc.mail.safe_names import generated_filename, safe_filename
from mailproc.rules.rulebook import Theme
from mailproc.storage import models as m
from mailproc.storage.db import utcnow
from mailproc.storage.queue import (
    MAX_SEARCH_LENGTH,
    DeadlineFilter,
    QueueFilters,
    QueueSort,
    Sla,
    queue_page,
    running_sla,
    ticket_file,
    ticket_page,
)
from mailproc.web.access import Staff, current_staff, staff_required
from mailproc.web.desk import desk

blueprint = Blueprint("staff", __name__, url_prefix="/equipe")

# The queue's GET parameters, as its form names them.
THEME, AREA, STATE, PRIORITY, DEADLINE = "tema", "area", "estado", "prioridade", "prazo"
REQUESTER, SEARCH, SORT, PAGE = "solicitante", "q", "ordenar", "pagina"
# Longest requester filter kept: an address is at most 320 characters.
MAX_REQUESTER_LENGTH = 320
# Longest unknown value repeated back on the page.
ECHOED_LENGTH = 60

# Short enough for the select, as wide as a filter (12rem): "Ordenar por: Mais recentes".
SORT_LABELS: dict[QueueSort, str] = {
    QueueSort.NEWEST: "Mais recentes",
    QueueSort.OLDEST: "Mais antigos",
    QueueSort.DEADLINE: "Prazo mais próximo",
    QueueSort.PRIORITY: "Maior prioridade",
    QueueSort.UPDATED: "Últimas alterações",
}
DEADLINE_LABELS: dict[DeadlineFilter, str] = {
    DeadlineFilter.OVERDUE: "Vencido",
    DeadlineFilter.DUE_SOON: "Vence em até 24 horas",
}


# The filters folded under "Mais filtros" (the search stays in sight): on a phone the
# tickets come right after the search.
FOLDED_FILTERS = (THEME, AREA, STATE, PRIORITY, DEADLINE, REQUESTER)


# -- the queue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRequest:
    """What the queue's GET parameters ask: the filters understood, the order and page,
    the form's values to show again (only those understood), and what was ignored."""

    filters: QueueFilters
    sort: QueueSort
    page: int
    values: dict[str, str]
    notices: tuple[str, ...]


def areas_of(themes: Iterable[Theme]) -> dict[str, str]:
    """The areas the themes route to: routing address -> the area's name."""
    return {t.routing.address: t.routing.area for t in themes}


def read_queue_request(args: Mapping[str, str], themes: Sequence[Theme]) -> QueueRequest:
    """The queue's parameters, checked against what the form offers: ``themes`` are those
    the staff member sees, and their areas."""
    values: dict[str, str] = {}
    notices: list[str] = []

    def chosen(name: str, offered: Iterable[str], what: str) -> str | None:
        value = args.get(name, "").strip()
        if not value:
            return None
        if value in offered:
            values[name] = value
            return value
        shown = value[:ECHOED_LENGTH]
        notices.append(f"{what} “{shown}” não existe nas opções; o filtro foi ignorado.")
        return None

    theme = chosen(THEME, [t.id for t in themes], "O tema")
    area = chosen(AREA, areas_of(themes), "A área")
    state = chosen(STATE, STATE_LABELS, "A situação")
    priority = chosen(PRIORITY, PRIORITY_LABELS, "A prioridade")
    deadline = chosen(DEADLINE, DEADLINE_LABELS, "O prazo")
    sort = chosen(SORT, SORT_LABELS, "A ordem")
    requester = _text(args, REQUESTER, MAX_REQUESTER_LENGTH, values)
    search = _text(args, SEARCH, MAX_SEARCH_LENGTH, values)
    if len(args.get(SEARCH, "").strip()) > MAX_SEARCH_LENGTH:
        notices.append(f"A busca considerou só os primeiros {MAX_SEARCH_LENGTH} caracteres.")
    filters = QueueFilters(
        themes=_themes_chosen(themes, theme, area),
        state=state,
        priority=priority,
        deadline=DeadlineFilter(deadline) if deadline else None,
        requester=requester,
        text=search,
    )
    return QueueRequest(
        filters, QueueSort(sort or QueueSort.NEWEST), _page(args), values, tuple(notices)
    )


def _text(args: Mapping[str, str], name: str, longest: int, values: dict[str, str]) -> str:
    value = args.get(name, "").strip()[:longest]
    if value:
        values[name] = value
    return value


def _themes_chosen(
    themes: Sequence[Theme], theme: str | None, area: str | None
) -> frozenset[str] | None:
    """The theme and area filters as theme ids; None when neither narrows."""
    if theme is None and area is None:
        return None
    return frozenset(
        t.id
        for t in themes
        if (theme is None or t.id == theme) and (area is None or t.routing.address == area)
    )


def _page(args: Mapping[str, str]) -> int:
    try:
        return max(1, int(args.get(PAGE, "1")))
    except ValueError:  # not a number, or one of more than 4,300 digits
        return 1


@dataclass(frozen=True)
class Badge:
    """A deadline's standing in words, with a class the style sheet colours."""

    css: str
    text: str


def deadline_badge(state: str, due_at: datetime | None, now: datetime) -> Badge | None:
    """ "vencido", "vence em 5h", "no prazo"; None when the deadline does not run."""
    standing = running_sla(state, due_at, now)
    if standing is None or due_at is None:
        return None
    if standing is Sla.OVERDUE:
        return Badge("late", "vencido")
    if standing is Sla.DUE_SOON:
        hours = max(1, math.ceil((due_at - now).total_seconds() / 3600))
        return Badge("soon", f"vence em {hours}h")
    return Badge("ok", "no prazo")


@blueprint.get("/")
@staff_required
def queue() -> str:
    staff, app = _staff(), desk()
    themes = [t for t in app.rulebook.themes if staff.sees(t.id)]
    asked = read_queue_request(request.args, themes)
    now = utcnow()
    with app.read_sessions() as session:
        found = queue_page(session, asked.filters, staff.themes, asked.sort, asked.page, now=now)
    return render_template(
        "queue.html.j2",
        found=found,
        lines=[(row, deadline_badge(row.state, row.due_at, now)) for row in found.rows],
        asked=asked,
        themes=themes,
        theme_names={t.id: t.name for t in app.rulebook.themes},
        areas=areas_of(themes),
        states=STATE_LABELS,
        priorities=[(p.value, PRIORITY_LABELS[p]) for p in PRIORITY_LEVELS],
        deadlines=DEADLINE_LABELS,
        sorts=SORT_LABELS,
        folded_in_use=sum(name in asked.values for name in FOLDED_FILTERS),
        fields={
            "theme": THEME, "area": AREA, "state": STATE, "priority": PRIORITY,
            "deadline": DEADLINE, "requester": REQUESTER, "search": SEARCH, "sort": SORT,
            "page": PAGE,
        },
    )  # fmt: skip


# -- a ticket's page ----------------------------------------------------------------------

# What each kind of history entry reads as; a kind not listed shows as it is stored.
EVENT_LABELS: dict[str, str] = {
    "created": "Chamado aberto",
    "incomplete": "Chamado aberto, faltando informações",
    "updated": "Mensagem do solicitante",
    "reopened": "Chamado reaberto",
    "routed": "Encaminhado à área",
    "answered": "Resposta da equipe",
    "answer_held": "Resposta da equipe retida (instrução não reconhecida)",
    "note": "Nota interna",
    "reassigned": "Tema alterado",
    "urgent": "Pedido de urgência",
    "cancelled": "Chamado cancelado",
    "rated": "Atendimento avaliado",
    "command": "Comando do solicitante",
    "command_help": "Comando não entendido",
    "reminded": "Área lembrada do prazo",
    "escalated": "Prazo vencido: área alertada",
    "closed_incomplete": "Encerrado sem tratamento (informações não enviadas)",
    "closed_unanswered": "Encerrado por falta de retorno do solicitante",
    "imported": "Mensagem importada do histórico",
    "reply_held": "Aviso ao solicitante retido",
    "bounced": "E-mail devolvido pelo destinatário",
    "address_restored": "Endereço voltou a receber e-mails",
    "parse_defects": "Mensagem com defeitos de formato",
    "auth_flagged": "Remetente não autenticado",
    "auth_blocked": "Remetente não autenticado: mensagem bloqueada",
    "action_unproven": "Pedido sem comprovação do remetente",
    "followed_up": "Citado em um novo chamado",
    "quoted_by_stranger": "Citado por outra pessoa em um novo chamado",
}
# The details of an entry worth showing, by their label; "by" shows apart.
EVENT_DETAILS: dict[str, str] = {
    "state": "Nova situação",
    "priority": "Nova prioridade",
    "from": "De",
    "to": "Para",
    "reason": "Motivo",
    "text": "Texto",
    "score": "Nota",
    "missing": "Faltando",
    "new_ticket": "Novo chamado",
}
SLA_LABELS: dict[Sla, str] = {
    Sla.NO_DEADLINE: "sem prazo em curso",
    Sla.ON_TIME: "no prazo",
    Sla.DUE_SOON: "vence em breve",
    Sla.OVERDUE: "vencido",
    Sla.ANSWERED_IN_TIME: "respondido no prazo",
    Sla.ANSWERED_LATE: "respondido após o prazo",
    Sla.NOT_RUNNING: "prazo parado: o chamado não está em atendimento e não teve resposta",
}
ROLE_LABELS = {"requester": "solicitante", "cc": "em cópia", "forwarder": "encaminhou"}


@dataclass(frozen=True)
class EventLine:
    at: datetime
    label: str
    by: str
    details: list[tuple[str, str]]


def event_lines(events: Iterable[m.Event]) -> list[EventLine]:
    """A ticket's history as its page lists it, oldest first."""
    return [
        EventLine(
            at=event.created_at,
            label=EVENT_LABELS.get(event.kind, event.kind),
            by=str(event.detail.get("by") or ""),
            details=[
                (label, _detail_value(key, event.detail[key]))
                for key, label in EVENT_DETAILS.items()
                if event.detail.get(key) not in (None, "", [])
            ],
        )
        for event in events
    ]


def _detail_value(key: str, value: Any) -> str:
    if key == "state":
        return state_label(str(value))
    if key == "priority":
        return PRIORITY_LABELS.get(str(value), str(value))
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def labelled_answers(answers: Mapping[str, Any], theme: Theme | None) -> list[tuple[str, str]]:
    """The questionnaire's answers by their question's label, in the theme's order; an
    answer the theme no longer asks for keeps its key as label."""
    labels = {a.key: a.label for a in theme.answers} if theme else {}
    ordered = [key for key in labels if key in answers]
    ordered += sorted(key for key in answers if key not in labels)
    return [(labels.get(key, key), str(answers[key])) for key in ordered]


@blueprint.get("/chamados/<code>")
@staff_required
def ticket(code: str) -> str:
    staff, app = _staff(), desk()
    now = utcnow()
    with app.read_sessions() as session:
        shown = ticket_page(session, code, now)
        if shown is None or not staff.sees(shown.ticket.theme_id):
            abort(404)
        ticket = shown.ticket
        theme = app.rulebook.get(ticket.theme_id) if ticket.theme_id else None
        # Rendered inside the session: everything it shows is loaded, but nothing expires.
        return render_template(
            "ticket.html.j2",
            shown=shown,
            ticket=ticket,
            code=ticket.code,
            theme=theme,
            themes=app.rulebook.themes,
            answers=labelled_answers(ticket.answers, theme),
            events=event_lines(ticket.events),
            sla_label=SLA_LABELS[shown.sla],
            badge=deadline_badge(ticket.state, ticket.due_at, now),
            roles=ROLE_LABELS,
        )


# -- what the pages write -----------------------------------------------------------------


@blueprint.app_template_filter("address_breaks")
def address_breaks(address: str) -> Markup:
    """An e-mail address that may wrap only before its "@" and its dots (<wbr>), never in
    the middle of a name: "lucia.andrade@cultura.rj.gov.br" wraps as "lucia.andrade" /
    "@cultura.rj.gov.br" in a narrow column, not as "lucia.andrad" / "e@cultura"."""
    return Markup("<wbr>").join(escape(part) for part in re.split(r"(?=[@.])", address))


@blueprint.app_template_filter("file_size")
def file_size(size: int) -> str:
    """ "800 bytes", "12 KB", "1,5 MB"."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{math.ceil(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".", ",")


# -- a file -------------------------------------------------------------------------------


@blueprint.get("/chamados/<code>/arquivos/<int:attachment_id>")
@staff_required
def file(code: str, attachment_id: int) -> Response | tuple[str, int]:
    """A file of the ticket's messages, always as a download of bytes: a sender's HTML or
    SVG must never open as a page of the desk (where it would run as the staff member)."""
    staff = _staff()
    with desk().read_sessions() as session:
        found = ticket_file(session, code, attachment_id)
    if found is None or not staff.sees(found.theme_id):
        abort(404)
    if found.data is None:
        explanation = (
            "Este arquivo foi removido pela política de retenção: o registro de que ele "
            "veio com a mensagem continua no chamado, mas o conteúdo não existe mais."
        )
        page = render_template("error.html.j2", title="Arquivo removido", explanation=explanation)
        return page, 410
    name = safe_filename(found.filename) or generated_filename(attachment_id, "")
    # send_file writes the name as filename= (ASCII) and filename*= (RFC 5987, UTF-8).
    response = send_file(
        BytesIO(found.data),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=name,
        conditional=False,
        etag=False,
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _staff() -> Staff:
    staff = current_staff()
    assert staff is not None  # staff_required let the request in
    return staff
