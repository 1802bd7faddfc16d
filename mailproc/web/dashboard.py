"""The coordinator's dashboard: five pictures of the desk over the last 7, 30 or 90 days,
each with its numbers in a table (for screen readers, and to copy). mailproc.storage.reports
counts; mailproc.web.charts draws; this module only words and arranges what they give."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from flask import Blueprint, render_template, request
from markupsafe import Markup

from mailproc.decision.states import state_label
from mailproc.decision.ticket_state import TicketState
from mailproc.storage import reports
from mailproc.storage.db import utcnow
from mailproc.storage.reports import AgeBucket, AreaDeadlines, IncompleteOutcomes, ThemeDays
from mailproc.web.access import coordinator_required
from mailproc.web.charts import Series, Share, columns, percent, shares
from mailproc.web.desk import desk
from mailproc.web.filters import number

blueprint = Blueprint("dashboard", __name__, url_prefix="/equipe/painel")

PERIODS = (7, 30, 90)  # days the coordinator may choose (?dias=); anything else is the default
DEFAULT_PERIOD = 30


@dataclass(frozen=True)
class Figure:
    """A section of the dashboard: its heading, what it counts, its chart and its numbers."""

    id: str
    heading: str
    explanation: str
    chart: Markup
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@blueprint.get("/")
@coordinator_required
def show() -> str:
    days = chosen_period(request.args.get("dias", ""))
    app = desk()
    zone = app.config.desk.timezone
    until = utcnow()
    since = reports.window_start(until, days, zone)
    themes = {t.id: t.name for t in app.rulebook.themes}
    areas = {t.id: t.routing.area for t in app.rulebook.themes}
    with app.read_sessions() as session:
        figures = (
            themes_figure(reports.tickets_per_theme_per_day(session, since, until, zone), themes),
            deadlines_figure(reports.answered_in_time(session, since, until, areas)),
            backlog_figure(reports.backlog_by_age(session, until)),
            ratings_figure(reports.ratings_per_week(session, since, until, zone)),
            incomplete_figure(reports.incomplete_outcomes(session, since, until)),
        )
    return render_template(
        "dashboard.html.j2",
        figures=figures,
        days=days,
        periods=PERIODS,
        first_day=since.astimezone(zone).date(),
        until=until,
    )


def chosen_period(asked: str) -> int:
    """The days asked for, when they are one of PERIODS; else the default."""
    return int(asked) if asked in {str(p) for p in PERIODS} else DEFAULT_PERIOD


def day_month(day: date) -> str:
    return day.strftime("%d/%m")


def themes_figure(found: ThemeDays, names: Mapping[str, str]) -> Figure:
    labels = [day_month(d) for d in found.days]
    series = [Series(_theme(t, names), tuple(c)) for t, c in found.counts.items()]
    totals = [sum(per_day[i] for per_day in found.counts.values()) for i in range(len(labels))]
    everything = sum(totals)
    if everything:
        busiest = max(range(len(labels)), key=lambda i: totals[i])
        per_theme = "; ".join(f"{s.name}: {number(sum(s.values))}" for s in series)
        summary = (
            f"{_many(everything, 'chamado aberto', 'chamados abertos')} em {len(labels)} dias. "
            f"{per_theme}. Dia com mais chamados: {labels[busiest]} ({number(totals[busiest])})."
        )
    else:
        summary = f"Nenhum chamado aberto nos {len(labels)} dias."
    chart = columns(
        "grafico-temas", "Chamados abertos por tema e por dia", summary, labels, series,
        y_axis="Chamados", x_axis="Dia de abertura", empty="Nenhum chamado aberto no período.",
    )  # fmt: skip
    rows = tuple(
        (label, *(number(s.values[i]) for s in series), number(totals[i]))
        for i, label in enumerate(labels)
    )
    return Figure(
        "temas",
        "Chamados por tema e por dia",
        "Chamados abertos em cada dia do período (dia no horário da central), por tema.",
        chart,
        ("Dia", *(s.name for s in series), "Total"),
        rows,
    )


def deadlines_figure(found: Sequence[AreaDeadlines]) -> Figure:
    said = [
        f"{a.area}: {percent(a.in_time, a.counted)}% no prazo "
        f"({number(a.in_time)} de {number(a.counted)})"
        for a in found
        if a.counted
    ]
    running = sum(a.running for a in found)
    summary = "; ".join(said) + "." if said else "Nenhum chamado com prazo vencido ou respondido."
    if running:
        summary += f" Em andamento, fora da conta: {number(running)}."
    chart = shares(
        "grafico-prazos", "Chamados respondidos no prazo, por área", summary,
        [Share(a.area, a.in_time, a.counted) for a in found],
        x_axis="Parte respondida no prazo", empty="Nenhum chamado a contar no período.",
    )  # fmt: skip
    rows = tuple(
        (
            a.area,
            number(a.in_time),
            number(a.late),
            number(a.running),
            f"{percent(a.in_time, a.counted)}%" if a.counted else "–",
        )
        for a in found
    )
    return Figure(
        "prazos",
        "Respondidos no prazo, por área",
        "Chamados abertos no período que entraram em atendimento. No prazo: a primeira "
        "resposta da equipe veio até o prazo. Fora do prazo: veio depois dele, ou ainda não "
        "veio e o prazo já passou. Sem resposta e ainda dentro do prazo: em andamento, fora "
        "da conta; cancelados antes de qualquer resposta também ficam fora.",
        chart,
        ("Área", "No prazo", "Fora do prazo", "Em andamento", "No prazo (%)"),
        rows,
    )


def backlog_figure(found: Sequence[AgeBucket]) -> Figure:
    short = [_age(b, short=True) for b in found]
    series = [
        Series(_capital(state_label(TicketState.OPEN)), tuple(b.open for b in found)),
        Series(_capital(state_label(TicketState.PENDING)), tuple(b.pending for b in found)),
    ]
    total = sum(b.total for b in found)
    summary = (
        f"{_many(total, 'chamado', 'chamados')} em aberto agora: "
        + "; ".join(f"{_age(b)}: {number(b.total)}" for b in found)
        + "."
        if total
        else "Nenhum chamado em aberto agora."
    )
    chart = columns(
        "grafico-estoque", "Chamados em aberto por tempo desde a abertura", summary, short,
        series, y_axis="Chamados", x_axis="Tempo desde a abertura",
        empty="Nenhum chamado em aberto agora.",
    )  # fmt: skip
    rows = tuple(
        (_capital(_age(b)), number(b.open), number(b.pending), number(b.total)) for b in found
    )
    return Figure(
        "estoque",
        "Chamados em aberto, por idade",
        "Chamados em atendimento ou pendentes agora, qualquer que seja o período escolhido, "
        "pelo tempo desde a abertura.",
        chart,
        ("Idade", *(s.name for s in series), "Total"),
        rows,
    )


def ratings_figure(found: Sequence[reports.WeekRatings]) -> Figure:
    labels = [day_month(w.start) for w in found]
    averages = [w.average or 0.0 for w in found]
    shown = [number(w.average, 1) if w.average is not None else "–" for w in found]
    counts = [_many(w.count, "nota", "notas") for w in found]
    rated = sum(w.count for w in found)
    if rated:
        overall = sum((w.average or 0) * w.count for w in found) / rated
        weekly = "; ".join(
            f"semana de {label}: {value} ({count})"
            for label, value, count, w in zip(labels, shown, counts, found, strict=True)
            if w.count
        )
        summary = f"{_many(rated, 'avaliação', 'avaliações')}, nota média {number(overall, 1)}. "
        summary += _capital(weekly) + "."
    else:
        summary = "Nenhuma avaliação no período."
    chart = columns(
        "grafico-notas", "Nota média das avaliações por semana", summary, labels,
        [Series("Nota média", tuple(averages))], y_axis="Nota média (1 a 5)",
        x_axis="Semana (início)", top=5, value_labels=shown, notes=counts,
        empty="Nenhuma avaliação no período.",
    )  # fmt: skip
    rows = tuple(
        (label, number(w.count), value)
        for label, value, w in zip(labels, shown, found, strict=True)
    )
    return Figure(
        "notas",
        "Avaliações por semana",
        "Notas de 1 a 5 dadas pelos solicitantes a chamados resolvidos, pela semana em que "
        "foram dadas (a primeira semana começa com o período).",
        chart,
        ("Semana de", "Avaliações", "Nota média"),
        rows,
    )


def incomplete_figure(found: IncompleteOutcomes) -> Figure:
    parts = (
        ("Completados depois", found.completed),
        ("Encerrados sem as informações", found.closed),
        ("Ainda aguardando as informações", found.waiting),
        ("Cancelados ou tratados sem elas", found.other),
    )
    total = found.total
    summary = (
        f"{_many(total, 'chamado aberto incompleto', 'chamados abertos incompletos')}: "
        + "; ".join(f"{label.lower()}: {number(n)}" for label, n in parts)
        + "."
        if total
        else "Nenhum chamado aberto incompleto no período."
    )
    chart = shares(
        "grafico-incompletos", "O que aconteceu com os chamados abertos incompletos", summary,
        [Share(label, n, total) for label, n in parts], x_axis="Parte dos chamados incompletos",
        empty="Nenhum chamado aberto incompleto no período.",
    )  # fmt: skip
    rows = tuple((label, number(n), f"{percent(n, total)}%") for label, n in parts)
    return Figure(
        "incompletos",
        "Chamados abertos incompletos",
        "Chamados abertos no período sem tudo o que o tema pede, pelo que aconteceu depois: "
        "o solicitante completou, o prazo de espera acabou, ainda falta algo, ou foram "
        "cancelados ou tratados pela equipe sem as informações.",
        chart,
        ("Situação", "Chamados", "Parte"),
        rows,
    )


def _theme(theme_id: str, names: Mapping[str, str]) -> str:
    """A theme's name in the rules; one no longer there by its id."""
    return names.get(theme_id) or theme_id or "Sem tema"


def _age(bucket: AgeBucket, *, short: bool = False) -> str:
    start, end = bucket.from_days, bucket.to_days
    if start == 0:
        return "< 1 dia" if short else "menos de 1 dia"
    if end is None:
        return f"> {start} dias" if short else f"mais de {start} dias"
    return f"{start}–{end} dias" if short else f"de {start} a {end} dias"


def _many(n: int, one: str, more: str) -> str:
    return f"{number(n)} {one if n == 1 else more}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
