"""The coordinator's figures (mailproc.storage.reports), on SQLite and PostgreSQL, over a desk
history made through the pipeline at chosen times: every expected number below was worked
out by hand from the story in ``history`` before the reports were run.

The desk's zone is America/Sao_Paulo (UTC-3); "now" is Monday 7 December 2026, 12:00 there.
Every theme of the shipped rules has a 72-hour deadline, counted around the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from mailproc.decision.ticket_state import TicketState
from mailproc.service.app import App
from mailproc.storage.reports import (
    AgeBucket,
    AreaDeadlines,
    IncompleteOutcomes,
    ThemeDays,
    WeekRatings,
    answered_in_time,
    backlog_by_age,
    incomplete_outcomes,
    ratings_per_week,
    tickets_per_theme_per_day,
    window_start,
)
from tests.mails import error_body, error_report, reactivation, screenshot_png
from tests.threads import reply, set_ticket, staff_reply
from tests.web_fixtures import web_desk  # noqa: F401

RIO = ZoneInfo("America/Sao_Paulo")
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=RIO)
SIASG, UASG = "erro-siasg", "reativacao-uasg"
SIASG_AREA, UASG_AREA = "Suporte Técnico SIASG", "Gestão de UASG"


def rio(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=RIO)


def at(moment: datetime) -> time_machine.travel:
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def history(web_desk: App) -> App:  # noqa: F811
    """The story the figures tell (tickets by letter; "in the window": the last 7 days,
    Tuesday 1 to Monday 7 December):

    A  SIASG error, 1/12 10:00, answered #resolvido 14:00 (in time), rated 5 on 2/12
    B  UASG reactivation, 2/12 23:30 (3/12 in UTC), never answered: late since 5/12 23:30
    C  SIASG error, 7/12 08:00, not answered, deadline 10/12: running
    D  SIASG error without its screenshot, 3/12 10:00; completed 11:00 (deadline 6/12 11:00);
       answered #resolvido 6/12 15:00 (late); rated 3 on 7/12
    E  SIASG error without its screenshot, 5/12 10:00: still waiting for it
    F  SIASG error without its screenshot, 25/11: before the window
    G  UASG reactivation, 1/10: open for over 30 days
    H  UASG reactivation, 3/12 09:00, answered #resolvido 10:00 (in time), rated 2 on 4/12
    I  SIASG error without its screenshot, 1/12 11:00, closed for want of it
    J  UASG reactivation, 2/12 10:00, cancelled before any answer
    K  SIASG error, 20/11, answered #pendente 21/11: pending for 17 days
    L  SIASG error without its screenshot, 4/12 10:00, cancelled
    """
    desk = web_desk
    opened: dict[str, str] = {}

    def send(moment: datetime, raw: bytes) -> str:
        with at(moment):
            result = desk.pipeline.process(raw, "test")
        assert result.ticket is not None, result
        return result.ticket

    def complete_error() -> bytes:
        return error_report()

    def incomplete_error() -> bytes:
        return error_report(screenshot=False)

    stories: list[tuple[str, datetime, Callable[[], bytes]]] = [
        ("A", rio(12, 1, 10), complete_error),
        ("B", rio(12, 2, 23, 30), reactivation),
        ("C", rio(12, 7, 8), complete_error),
        ("D", rio(12, 3, 10), incomplete_error),
        ("E", rio(12, 5, 10), incomplete_error),
        ("F", rio(11, 25, 10), incomplete_error),
        ("G", rio(10, 1, 10), reactivation),
        ("H", rio(12, 3, 9), reactivation),
        ("I", rio(12, 1, 11), incomplete_error),
        ("J", rio(12, 2, 10), reactivation),
        ("K", rio(11, 20, 10), complete_error),
        ("L", rio(12, 4, 10), incomplete_error),
    ]
    for letter, moment, raw in stories:
        opened[letter] = send(moment, raw())
    code = opened.__getitem__
    screenshot = (("print-erro.png", "image/png", screenshot_png()),)
    send(rio(12, 3, 11), reply(code("D"), error_body(), attachments=screenshot))
    send(rio(12, 1, 14), staff_reply(code("A"), "#resolvido\n\nCorrigido."))
    send(rio(12, 3, 10), staff_reply(code("H"), "#resolvido\n\nUASG reativada."))
    send(rio(12, 6, 15), staff_reply(code("D"), "#resolvido\n\nCorrigido."))
    send(rio(11, 21, 10), staff_reply(code("K"), "#pendente\n\nQual o número do aviso?"))
    send(rio(12, 2, 9), reply(code("A"), "5"))
    send(rio(12, 4, 9), reply(code("H"), "2"))
    send(rio(12, 7, 10), reply(code("D"), "3"))
    set_ticket(desk, code("I"), state=TicketState.CLOSED_UNTREATED)
    set_ticket(desk, code("J"), state=TicketState.CANCELLED)
    set_ticket(desk, code("L"), state=TicketState.CANCELLED)
    return desk


def last_days(days: int) -> tuple[datetime, datetime]:
    return window_start(NOW, days, RIO), NOW


def test_the_window_starts_at_local_midnight_and_includes_today() -> None:
    assert window_start(NOW, 7, RIO) == rio(12, 1, 0)
    assert window_start(NOW, 1, RIO) == rio(12, 7, 0)
    # 01:00 UTC on 8 December is still the 7th in Rio.
    assert window_start(datetime(2026, 12, 8, 1, tzinfo=ZoneInfo("UTC")), 1, RIO) == rio(12, 7, 0)


def test_tickets_are_counted_per_theme_on_their_local_day(history: App) -> None:
    since, until = last_days(7)
    with history.sessions() as session:
        found = tickets_per_theme_per_day(session, since, until, RIO)
    days = tuple(date(2026, 12, d) for d in range(1, 8))
    # B, opened at 23:30 on the 2nd (the 3rd in UTC), counts on the 2nd; F, G, K are older.
    assert found == ThemeDays(days, {SIASG: (2, 0, 1, 1, 1, 0, 1), UASG: (0, 2, 1, 0, 0, 0, 0)})
    assert list(found.counts) == [SIASG, UASG]  # most tickets first


def test_a_window_without_tickets_has_its_days_and_no_theme(history: App) -> None:
    since, until = rio(1, 1, 0), rio(1, 3, 12)
    with history.sessions() as session:
        found = tickets_per_theme_per_day(session, since, until, RIO)
    assert found == ThemeDays((date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)), {})


def test_deadlines_are_counted_per_area_from_the_first_staff_answer(history: App) -> None:
    since, until = last_days(7)
    areas = {t.id: t.routing.area for t in history.rulebook.themes}
    with history.sessions() as session:
        found = answered_in_time(session, since, until, areas)
    # SIASG: A in time, D answered after its deadline, C running; E, I, L never had one.
    # UASG: H in time, B unanswered past its deadline; J cancelled unanswered: not counted.
    assert found == (
        AreaDeadlines(UASG_AREA, in_time=1, late=1, running=0),
        AreaDeadlines(SIASG_AREA, in_time=1, late=1, running=1),
    )


def test_a_theme_gone_from_the_rules_is_its_own_area(history: App) -> None:
    since, until = last_days(7)
    with history.sessions() as session:
        found = answered_in_time(session, since, until, {UASG: UASG_AREA})
    assert [a.area for a in found] == [UASG_AREA, SIASG]  # by name


def test_the_backlog_is_the_open_and_pending_tickets_by_age(history: App) -> None:
    with history.sessions() as session:
        found = backlog_by_age(session, NOW)
    # C opened 4 hours ago, B 4.5 days ago, K (pending) 17 days ago, G over two months ago.
    assert found == (
        AgeBucket(0, 1, open=1, pending=0),
        AgeBucket(1, 3, open=0, pending=0),
        AgeBucket(3, 7, open=1, pending=0),
        AgeBucket(7, 15, open=0, pending=0),
        AgeBucket(15, 30, open=0, pending=1),
        AgeBucket(30, None, open=1, pending=0),
    )


def test_ratings_are_counted_and_averaged_per_local_week(history: App) -> None:
    since, until = last_days(14)  # from Tuesday 24 November
    with history.sessions() as session:
        found = ratings_per_week(session, since, until, RIO)
    assert found == (
        WeekRatings(date(2026, 11, 24), count=0, average=None),
        WeekRatings(date(2026, 11, 30), count=2, average=3.5),  # A: 5, H: 2
        WeekRatings(date(2026, 12, 7), count=1, average=3.0),  # D: 3
    )


def test_incomplete_tickets_are_told_apart_by_what_came_of_them(history: App) -> None:
    since, until = last_days(7)
    with history.sessions() as session:
        found = incomplete_outcomes(session, since, until)
    # D completed, I closed without it, E still waiting, L cancelled; F is older.
    assert found == IncompleteOutcomes(completed=1, closed=1, waiting=1, other=1)
    with history.sessions() as session:
        wider = incomplete_outcomes(session, *last_days(30))
    assert wider == IncompleteOutcomes(completed=1, closed=1, waiting=2, other=1)


def test_an_empty_desk_reports_zeros_without_failing(web_desk: App) -> None:  # noqa: F811
    since, until = last_days(7)
    with web_desk.sessions() as session:
        assert answered_in_time(session, since, until, {}) == ()
        assert all(b.total == 0 for b in backlog_by_age(session, NOW))
        assert ratings_per_week(session, since, until, RIO) == (
            WeekRatings(date(2026, 12, 1), 0, None),
            WeekRatings(date(2026, 12, 7), 0, None),
        )
        assert incomplete_outcomes(session, since, until).total == 0


def test_reports_see_nothing_after_the_window(history: App) -> None:
    with history.sessions() as session:
        found = tickets_per_theme_per_day(session, rio(12, 1, 0), rio(12, 1, 10), RIO)
    assert found.counts == {}  # A was opened at 10:00 sharp: the window ends just before
