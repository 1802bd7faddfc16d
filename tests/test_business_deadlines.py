"""Deadlines in the desk's working hours, through the real pipeline: the ticket's deadline,
the date its requester reads, the urgency cut, and the area's reminders and warnings, which
wait for the desk to open. The clock is moved with time-machine; the desk is the shipped
default calendar (Monday to Friday, 08:00-18:00 in Rio, with Rio's holidays)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine

from mailproc.config import load_config
from mailproc.decision.settings import ConversationSettings
from mailproc.resources import shipped_dir
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.tickets.pipeline import Pipeline
from mailproc.tickets.upkeep import escalate_overdue, remind_due
from tests.conftest import write_config
from tests.mails import reactivation
from tests.threads import UASG_AREA, queued, reply, set_ticket, ticket

Ingest = Callable[[bytes], dict]
RIO = ZoneInfo("America/Sao_Paulo")
# The shipped defaults, written out: the seed's desk in Rio de Janeiro.
CALENDAR = '[calendar]\nhours = "08:00-18:00"\nsubdivision = "RJ"\n'


def rio(*args: int) -> datetime:
    return datetime(*args, tzinfo=RIO)  # type: ignore[misc]


def at(moment: datetime) -> time_machine.travel:
    """The desk's clock stopped at ``moment``: deadlines to the second."""
    return time_machine.travel(moment, tick=False)


@pytest.fixture
def config_path(tmp_path: Path, database_url: str) -> Path:
    return write_config(tmp_path, database_url, extra=CALENDAR)


def _open(ingest: Ingest, moment: datetime) -> str:
    with at(moment):
        result = ingest(reactivation())  # reativacao-uasg: 72 hours
    assert result["outcome"] == "created"
    return str(result["ticket"])


def test_a_ticket_opened_on_monday_night_is_due_in_72_working_hours(
    ingest: Ingest, app: App
) -> None:
    code = _open(ingest, rio(2026, 12, 7, 0, 58))

    # Counted from Monday's 08:00 opening, 10 hours a day: the next week's Wednesday, 10:00
    # (wall-clock hours made it Thursday 00:58).
    assert ticket(app, code).due_at == rio(2026, 12, 16, 10, 0).astimezone(UTC)
    [created] = queued(app, "created")
    assert "quarta-feira, 16/12/2026, até as 10:00 (horário de Brasília)" in created.text
    assert "em até 72 horas úteis" in created.text
    [routed] = queued(app, "routed")
    assert "quarta-feira, 16/12/2026, até as 10:00" in routed.text


def test_carnaval_closes_the_desk(ingest: Ingest, app: App) -> None:
    # Friday 5 February 2027, 16:00: two hours that day, then Carnaval (Monday and Ash
    # Wednesday pontos facultativos, Tuesday a Rio holiday) until Thursday the 11th.
    code = _open(ingest, rio(2027, 2, 5, 16, 0))

    # 72 hours: 2 on Friday, then 70 in the seven working days from Thursday 11 to the
    # closing of Friday 19 (wall-clock hours: Monday 8, 16:00, in the middle of Carnaval).
    assert ticket(app, code).due_at == rio(2027, 2, 19, 18, 0).astimezone(UTC)


def test_a_theme_counting_every_hour_keeps_the_wall_clock(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(shipped_dir("rules"), rules)
    theme = rules / "reativacao-uasg.toml"
    text = theme.read_text(encoding="utf-8")
    theme.write_text(text.replace("response_hours = 72\n",
                                  'response_hours = 72\ndeadline_hours = "elapsed"\n', 1),
                     encoding="utf-8")  # fmt: skip
    extra = f'{CALENDAR}\n[paths]\nrules = "{rules}"\n'
    config = write_config(tmp_path, database_url, extra=extra)
    eml = tmp_path / "message.eml"
    eml.write_bytes(reactivation())
    with at(rio(2026, 12, 7, 0, 58)):
        assert main(["--config", str(config), "ingest", str(eml)]) == 0
    code = json.loads(capsys.readouterr().out)["ticket"]

    app = App(load_config(config)).start()
    assert ticket(app, code).due_at == rio(2026, 12, 10, 0, 58).astimezone(UTC)
    [created] = queued(app, "created")
    assert "quinta-feira, 10/12/2026, até as 00:58 (horário de Brasília)" in created.text
    assert "em até 72 horas)" in created.text  # not "úteis"
    app.engine.dispose()


def test_urgency_halves_what_is_left_in_working_hours(ingest: Ingest, app: App) -> None:
    code = _open(ingest, rio(2026, 12, 7, 0, 58))

    with at(rio(2026, 12, 7, 9, 0)):
        ingest(reply(code, "urgente: a unidade precisa comprar até sexta"))

    # 71 working hours were left; half is 35.5: Monday 9, Tuesday and Wednesday 20,
    # Thursday 6.5.
    assert ticket(app, code).due_at == rio(2026, 12, 10, 14, 30).astimezone(UTC)
    [notice] = queued(app, "urgent_received")
    assert "quinta-feira, 10/12/2026, até as 14:30 (horário de Brasília)" in notice.text


def test_the_reminder_comes_24_working_hours_before_the_deadline(ingest: Ingest, app: App) -> None:
    _open(ingest, rio(2026, 12, 7, 0, 58))  # due Wednesday 16, 10:00

    # 24 working hours before: Friday 11, 16:00 (2 h that Friday, 20 h Monday and Tuesday,
    # 2 h on Wednesday). Wall-clock hours would have reminded on Tuesday 15 at 10:00.
    with at(rio(2026, 12, 11, 15, 50)):
        assert remind_due(app.pipeline) == 0
    with at(rio(2026, 12, 11, 16, 5)):
        assert remind_due(app.pipeline) == 1
    [reminder] = queued(app, "deadline_reminder")
    assert reminder.recipients == [UASG_AREA]
    assert "Faltam cerca de 24 horas úteis" in reminder.text
    assert "quarta-feira, 16/12/2026, até as 10:00 (horário de Brasília)" in reminder.text


def test_a_reminder_due_at_night_waits_for_the_opening(ingest: Ingest, app: App) -> None:
    code = _open(ingest, rio(2026, 12, 7, 0, 58))
    # Reminded 80 working hours before: at once, but the desk is closed at 01:00.
    early = ConversationSettings(remind_before=timedelta(hours=80))
    pipeline = Pipeline(app.sessions, app.pipeline.replier, early)

    with at(rio(2026, 12, 7, 1, 0)):
        assert remind_due(pipeline) == 0
    with at(rio(2026, 12, 7, 7, 59)):
        assert remind_due(pipeline) == 0
    with at(rio(2026, 12, 7, 8, 0)):
        assert remind_due(pipeline) == 1
    assert ticket(app, code).kinds().count("reminded") == 1


def test_a_deadline_at_fridays_closing_is_escalated_on_monday_morning(
    ingest: Ingest, app: App
) -> None:
    code = _open(ingest, rio(2026, 12, 7, 9, 0))
    set_ticket(app, code, due_at=rio(2026, 12, 11, 18, 0).astimezone(UTC))

    for night in (rio(2026, 12, 11, 18, 5), rio(2026, 12, 12, 11, 0), rio(2026, 12, 14, 7, 55)):
        with at(night):
            assert escalate_overdue(app.pipeline) == 0, night
    with at(rio(2026, 12, 14, 8, 5)):
        assert escalate_overdue(app.pipeline) == 1

    [warning] = queued(app, "deadline_escalation")
    # Overdue by minutes of working time, not the weekend's 62 hours.
    assert "venceu há cerca de 1 hora útil" in warning.text
    assert "sexta-feira, 11/12/2026, até as 18:00 (horário de Brasília)" in warning.text


@pytest.mark.parametrize(
    ("table", "key", "reason"),
    [
        ('subdivision = "XX"', "calendar.subdivision", "does not have subdivision XX"),
        ('country = "ZZ"', "calendar.country", "Country ZZ not available"),
        ('hours = "18:00-08:00"', "calendar.hours", "HH:MM-HH:MM"),
        ('weekdays = ["sexta"]', "calendar.weekdays", "'sexta' is not a weekday"),
        ('extra_holidays = ["2026-13-01"]', "calendar.extra_holidays", "YYYY-MM-DD"),
    ],
)
def test_a_calendar_the_desk_cannot_keep_stops_with_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], table: str, key: str, reason: str
) -> None:
    config = write_config(tmp_path, "sqlite:///mailproc.db", extra=f"[calendar]\n{table}\n")

    assert main(["--config", str(config), "tickets", "list"]) == 2
    err = capsys.readouterr().err
    assert key in err and reason in err, err
