"""Loop caps: past a cap, mail is recorded but not answered, and the operator is told once.

Each test runs on SQLite and on PostgreSQL, through the pipeline as a poller drives it. A
"new period" is made the way the other tests move time: the outbox rows are dated back.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailproc.config import LoopCaps, load_config
from mailproc.decision.values import Outcome
from mailproc.errors import ConfigError
from mailproc.outgoing.notice import Notice
from mailproc.outgoing.notices import first_hold
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.storage import models as m
from mailproc.storage import store
from mailproc.storage.db import utcnow
from mailproc.tickets.applying import Result
from tests.conftest import write_config
from tests.e2e import complete_report, report_without_screenshot
from tests.mails import error_body, mail, screenshot_png

OPERATOR = "operacao@compras.example.gov.br"
AREA = "suporte-siasg@example.gov.br"  # the routing area of SIASG errors (rules/erro-siasg.toml)
ROBOT = "atendimento@fornecedor.example.com"
# The requester of report_without_screenshot(1), answering like a robot.
REQUESTER = "Servidora 1 <servidora1@orgao1.rj.gov.br>"
TICKET_CAP = 3

DeskFactory = Callable[..., App]


@pytest.fixture
def open_desk(tmp_path: Path, database_url: str) -> DeskFactory:
    """A desk with the given ``[limits]`` (the others at their defaults) and an operator."""

    def build(**limits: int) -> App:
        table = "".join(f"{key} = {value}\n" for key, value in limits.items())
        path = write_config(tmp_path, database_url, f"[limits]\n{table}")
        text = path.read_text(encoding="utf-8")
        operator = f'[desk]\noperator_address = "{OPERATOR}"\n'
        path.write_text(text.replace("[desk]\n", operator, 1), encoding="utf-8")
        return App(load_config(path)).start()

    return build


def process(app: App, raw: bytes) -> Result:
    return app.pipeline.process(raw, "test")


def robot_reply(code: str, n: int) -> bytes:
    """What a robot answering every mail sends back: no Auto-Submitted, no Precedence."""
    return mail(f"Re: [#{code}] Erro no SIASG ao homologar", f"Mensagem {n} recebida, obrigado.",
                sender=REQUESTER)  # fmt: skip


def robot_mail(n: int) -> bytes:
    """A robot's answer that drops the thread: a new message every time, without a theme."""
    return mail("Mensagem recebida", f"Recebemos sua mensagem ({n}).", sender=f"Robô <{ROBOT}>")


def outbox(app: App, **where: object) -> list[m.OutboxMail]:
    with app.sessions() as session:
        query = select(m.OutboxMail).filter_by(**where).order_by(m.OutboxMail.id)
        return list(session.scalars(query))


def held_events(app: App, code: str) -> list[dict[str, object]]:
    with app.sessions() as session:
        query = (
            select(m.Event.detail)
            .join(m.Ticket)
            .where(m.Ticket.code == code, m.Event.kind == "reply_held")
            .order_by(m.Event.id)
        )
        return list(session.scalars(query))


def alert_keys(app: App) -> list[str]:
    with app.sessions() as session:
        return list(session.scalars(select(m.Alert.key).order_by(m.Alert.id)))


def messages_recorded(app: App) -> int:
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(m.Message)) or 0


def alert_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mailproc.outgoing.loops"]


def age_outbox(app: App, by: timedelta) -> None:
    """Let ``by`` pass for the caps: every mail in the outbox was queued that much earlier."""
    with app.sessions.begin() as session:
        for row in session.scalars(select(m.OutboxMail)):
            row.created_at -= by


def test_a_ticket_is_answered_up_to_its_hourly_cap_then_recorded_without_answers(
    open_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = open_desk(replies_per_ticket_per_hour=TICKET_CAP)
    caplog.set_level(logging.WARNING)
    first = process(app, report_without_screenshot(1))
    code = first.ticket
    assert first.outcome is Outcome.INCOMPLETE and code is not None and first.replies == 1

    results = [process(app, robot_reply(code, n)) for n in range(4)]

    # The acknowledgement counts: three mails about the ticket in the hour, then none.
    assert [r.replies for r in results] == [1, 1, 0, 0]
    assert all(r.outcome is Outcome.UPDATED and r.ticket == code for r in results)
    assert messages_recorded(app) == 5
    assert [row.purpose for row in outbox(app, to_address="servidora1@orgao1.rj.gov.br")] == [
        "incomplete"
    ] * TICKET_CAP
    held = held_events(app, code)
    assert [(e["reason"], e["purpose"], e["to"]) for e in held] == [
        ("cap:ticket", "incomplete", "servidora1@orgao1.rj.gov.br")
    ] * 2
    # Two mails held back in the same hour: one alert, one log line, one mail to the operator.
    [key] = alert_keys(app)
    assert key.startswith(f"cap:ticket:{code}:")
    [line] = alert_lines(caplog)
    assert code in line and key in line
    [told] = outbox(app, to_address=OPERATOR)
    assert told.purpose == "operator_alert" and told.ticket_id is None
    sent = BytesParser(policy=policy.default).parsebytes(told.raw)
    assert sent["Auto-Submitted"] == "auto-generated"
    assert code in sent["Subject"]
    body = sent.get_body(("plain",))
    assert body is not None and "laço de e-mails" in body.get_content()


def test_a_ticket_is_answered_again_once_its_hour_has_passed(open_desk: DeskFactory) -> None:
    app = open_desk(replies_per_ticket_per_hour=TICKET_CAP)
    code = process(app, report_without_screenshot(1)).ticket
    assert code is not None
    assert [process(app, robot_reply(code, n)).replies for n in range(3)] == [1, 1, 0]

    age_outbox(app, timedelta(hours=1))

    assert process(app, robot_reply(code, 3)).replies == 1
    assert len(held_events(app, code)) == 1


def test_a_sender_is_answered_up_to_the_daily_cap_and_told_once_across_messages(
    open_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = open_desk(replies_per_sender_per_day=3)
    caplog.set_level(logging.WARNING)

    results = [process(app, robot_mail(n)) for n in range(5)]

    assert [r.outcome for r in results] == [Outcome.NO_THEME] * 5  # every one recorded
    assert messages_recorded(app) == 5
    assert [r.replies for r in results] == [1, 1, 1, 0, 0]
    [key] = alert_keys(app)
    # The key names the address by a digest, the log line by its domain only (LGPD).
    assert key.startswith("cap:sender:") and ROBOT not in key
    [line] = alert_lines(caplog)
    assert "***@fornecedor.example.com" in line and ROBOT not in line
    [told] = outbox(app, to_address=OPERATOR)
    assert ROBOT in told.subject
    # Someone else is answered as usual.
    other = mail("Mensagem recebida", "Olá.", sender="Ana <ana@saude.rj.gov.br>")
    assert process(app, other).replies == 1

    age_outbox(app, timedelta(days=1))

    assert process(app, robot_mail(5)).replies == 1


def test_the_overall_cap_counts_mail_to_staff_and_holds_every_mail_past_it(
    open_desk: DeskFactory,
) -> None:
    app = open_desk(replies_per_hour=5)
    # Two tickets: each one an acknowledgement and a mail to the routing area (4 mails).
    assert [process(app, complete_report(n)).replies for n in (1, 2)] == [1, 1]
    assert process(app, robot_mail(1)).replies == 1  # the fifth mail of the hour

    late = process(app, complete_report(3))

    assert late.outcome is Outcome.CREATED and late.ticket is not None and late.replies == 0
    held = held_events(app, late.ticket)
    assert [(e["reason"], e["purpose"]) for e in held] == [
        ("cap:overall", "routed"),
        ("cap:overall", "created"),
    ]
    [key] = alert_keys(app)
    assert key.startswith("cap:overall:")
    assert process(app, robot_mail(2)).replies == 0
    assert len(alert_keys(app)) == 1
    assert len(outbox(app, to_address=OPERATOR)) == 1


def test_the_mails_of_one_message_count_toward_each_other(open_desk: DeskFactory) -> None:
    app = open_desk(replies_per_hour=3)
    assert process(app, complete_report(1)).replies == 1  # the area's mail and the reply: 2

    second = process(app, complete_report(2))

    # The area's mail is the third of the hour; the reply, queued in the same transaction
    # right after it, finds three.
    assert second.outcome is Outcome.CREATED and second.ticket is not None
    held = held_events(app, second.ticket)
    assert [(e["reason"], e["purpose"]) for e in held] == [("cap:overall", "created")]
    assert [row.purpose for row in outbox(app, ticket_id=ticket_id(app, second.ticket))] == [
        "routed"
    ]
    assert len(outbox(app)) == 3 + 1  # and the operator's alert


def ticket_id(app: App, code: str) -> int:
    with app.sessions() as session:
        return store.ticket_by_code(session, code).id


def test_the_tally_counts_each_cap_over_its_window_and_names_the_failing_addresses(
    open_desk: DeskFactory,
) -> None:
    app = open_desk()
    now = utcnow()
    code = process(app, report_without_screenshot(1)).ticket  # one mail to the requester
    assert code is not None
    ticket = ticket_id(app, code)
    with app.sessions.begin() as session:
        session.add_all(
            [
                queued_mail(ROBOT, now - timedelta(minutes=10), ticket),
                queued_mail(ROBOT, now - timedelta(hours=3)),
                queued_mail(ROBOT, now - timedelta(days=2)),
                queued_mail("vendas@fornecedor.example.com", now - timedelta(minutes=20)),
                queued_mail(AREA, now - timedelta(minutes=5), domain=None),  # to staff
                m.FailingAddress(email="ana@saude.rj.gov.br", reason="5.1.1"),
            ]
        )

    def tally(
        to: str | None, domain: str | None, ticket_id: int | None, addresses: list[str]
    ) -> store.MailTally:
        day, hour = now - timedelta(days=1), now - timedelta(hours=1)
        with app.sessions() as session:
            return store.mail_tally(
                session, to=to, domain=domain, ticket_id=ticket_id, addresses=addresses,
                day_since=day, hour_since=hour,
            )  # fmt: skip

    everyone = ["ana@saude.rj.gov.br", "jose@saude.rj.gov.br", ROBOT]
    # To the robot in 24 hours: 2 (not the one of two days ago); to its domain in the hour:
    # that one and another address's; about the ticket in the hour: the acknowledgement and
    # one; in all in the hour: those three and the area's.
    assert tally(ROBOT, "fornecedor.example.com", ticket, everyone) == store.MailTally(
        to_address=2, domain=2, ticket=2, overall=4, failing=frozenset({"ana@saude.rj.gov.br"})
    )
    # No address, no domain, no ticket, nobody asked about: only the overall count.
    assert tally(None, None, None, []) == store.MailTally(0, 0, 0, 4, frozenset())


def queued_mail(
    to: str, at: datetime, ticket_id: int | None = None, *, domain: str | None = ""
) -> m.OutboxMail:
    """An outbox row as Replier.enqueue writes it (``domain`` None: mail to staff)."""
    return m.OutboxMail(
        ticket_id=ticket_id, message_id=f"{to}.{at}@test", purpose="created", sender="x@y",
        recipients=[to], to_address=to, to_domain=to.partition("@")[2] if domain == "" else domain,
        subject="s", raw=b"", status="sent", next_attempt_at=at, created_at=at,
    )  # fmt: skip


def test_the_first_guard_that_holds_a_notice_says_why(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "sqlite:///x.db", "[limits]\n" + LIMITS))
    operator = f'[desk]\noperator_address = "{OPERATOR}"\n'
    config_file = config.file.read_text(encoding="utf-8").replace("[desk]\n", operator, 1)
    config.file.write_text(config_file, encoding="utf-8")
    config = load_config(config.file)
    ticket = m.Ticket(id=7, code="2026-000007")
    every_cap = store.MailTally(
        to_address=2, domain=4, ticket=3, overall=5, failing=frozenset({ROBOT})
    )

    def why(notice: Notice, tally: store.MailTally = every_cap) -> str | None:
        hold = first_hold(notice, tally, config, utcnow())
        return hold.reason if hold else None

    reply = Notice("incomplete", ROBOT.upper(), {}, ticket=ticket)
    assert why(reply) == "failing address"  # whatever the caps say; the address in any case
    assert why(reply, replace(every_cap, failing=frozenset())) == "cap:sender"
    assert why(reply, store.MailTally(1, 4, 3, 5, frozenset())) == "cap:domain"
    assert why(reply, store.MailTally(1, 3, 3, 5, frozenset())) == "cap:ticket"
    assert why(reply, store.MailTally(1, 3, 2, 5, frozenset())) == "cap:overall"
    assert why(reply, store.MailTally(1, 3, 2, 4, frozenset())) is None
    # Mail to staff: neither a failing address nor the sender or domain caps hold it; the
    # others do.
    routed = Notice("routed", ROBOT, {}, ticket=ticket, internal=True)
    assert why(routed) == "cap:ticket"
    assert why(routed, store.MailTally(9, 9, 2, 4, frozenset({ROBOT}))) is None
    # Mail about no ticket is never held by the ticket cap.
    assert why(Notice("no_theme", ROBOT, {}), store.MailTally(0, 0, 3, 0, frozenset())) is None
    # No reply to the operator address, however it is written, whatever the counts; mail
    # to staff there (a routing area) goes.
    nothing = store.MailTally(0, 0, 0, 0, frozenset())
    to_operator = Notice("no_theme", OPERATOR.replace("@", "+ferias@").upper(), {})
    assert why(to_operator, nothing) == "operator address"
    assert why(replace(to_operator, internal=True), nothing) is None


LIMITS = (
    "replies_per_sender_per_day = 2\nreplies_per_domain_per_hour = 4\n"
    "replies_per_ticket_per_hour = 3\nreplies_per_hour = 5\n"
)


def test_a_routing_area_is_not_held_by_the_per_sender_cap(open_desk: DeskFactory) -> None:
    app = open_desk(replies_per_sender_per_day=2)

    results = [process(app, complete_report(n)) for n in range(4)]

    assert all(r.outcome is Outcome.CREATED and r.replies == 1 for r in results)
    assert [row.purpose for row in outbox(app, to_address=AREA)] == ["routed"] * 4
    assert alert_keys(app) == []


def test_two_workers_raising_the_same_alert_record_it_once(open_desk: DeskFactory) -> None:
    app = open_desk()
    key, detail = "cap:overall:2026-11-20T15", {"cap": "overall", "limit": 5}
    started, second_added = threading.Event(), []

    def second_worker() -> None:
        started.set()
        with app.sessions.begin() as session:
            second_added.append(store.add_alert(session, key, "cap:overall", detail))

    with app.sessions.begin() as session:
        assert store.add_alert(session, key, "cap:overall", detail)
        worker = threading.Thread(target=second_worker)
        worker.start()
        started.wait(5)
        # The second worker reaches the key while the first has not committed yet.
        time.sleep(0.3)
    worker.join(15)

    assert second_added == [False]
    assert alert_keys(app) == [key]


def test_status_lists_recent_alerts_without_calling_the_desk_unhealthy(
    open_desk: DeskFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    app = open_desk(replies_per_sender_per_day=1)
    assert [process(app, robot_mail(n)).replies for n in range(2)] == [1, 0]
    config = str(app.config.file)

    assert main(["--config", config, "status", "--json", "--offline"]) == 0
    report = json.loads(capsys.readouterr().out)
    [alert] = report["alerts"]
    assert alert["key"] == alert_keys(app)[0]
    assert alert["detail"] == {"cap": "sender", "limit": 1, "address": ROBOT}
    assert report["healthy"] is True

    assert main(["--config", config, "status", "--offline"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("alert: ") and alert["key"] in line for line in lines)


def test_caps_default_when_absent_and_must_be_positive(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, "sqlite:///x.db")).loop_caps == LoopCaps()
    bad = write_config(tmp_path, "sqlite:///x.db", "[limits]\nreplies_per_ticket_per_hour = 0\n")
    with pytest.raises(ConfigError, match=r"limits\.replies_per_ticket_per_hour"):
        load_config(bad)


# --- whatever the address: tags, dots, a domain ------------------------------------------


def robot_as(address: str, n: int) -> bytes:
    """A robot's new mail, from ``address``: it answers from a new address each time."""
    return mail("Mensagem recebida", f"Recebemos sua mensagem ({n}).", sender=f"Robô <{address}>")


@pytest.mark.parametrize(
    "addresses",
    [
        pytest.param([f"robo+{n}@fornecedor.example.com" for n in range(5)], id="plus-tags"),
        pytest.param(
            [
                "j.silva@gmail.com",
                "jsilva+1@gmail.com",
                "J.S.i.l.v.a@GMAIL.com",
                "jsilva@googlemail.com",
                "j.silva+desk@googlemail.com",
            ],
            id="gmail-dots-and-googlemail",
        ),
    ],
)
def test_a_sender_is_counted_whatever_tag_or_dots_its_address_carries(
    open_desk: DeskFactory, addresses: list[str]
) -> None:
    app = open_desk(replies_per_sender_per_day=3)

    results = [process(app, robot_as(address, n)) for n, address in enumerate(addresses)]

    assert [r.replies for r in results] == [1, 1, 1, 0, 0]
    [key] = alert_keys(app)
    assert key.startswith("cap:sender:")
    assert len(outbox(app, to_address=OPERATOR)) == 1


def test_dots_count_only_where_the_domain_ignores_them(open_desk: DeskFactory) -> None:
    app = open_desk(replies_per_sender_per_day=1)
    people = ["ana.souza@saude.rj.gov.br", "anasouza@saude.rj.gov.br", "an.asouza@saude.rj.gov.br"]

    assert [process(app, robot_as(a, n)).replies for n, a in enumerate(people)] == [1, 1, 1]
    assert alert_keys(app) == []


def test_a_domain_is_answered_up_to_its_hourly_cap_whatever_the_addresses(
    open_desk: DeskFactory, caplog: pytest.LogCaptureFixture
) -> None:
    app = open_desk(replies_per_domain_per_hour=3)
    caplog.set_level(logging.WARNING)

    results = [process(app, robot_as(f"r{n}x@fornecedor.example.com", n)) for n in range(5)]

    assert [r.outcome for r in results] == [Outcome.NO_THEME] * 5  # every one recorded
    assert [r.replies for r in results] == [1, 1, 1, 0, 0]
    [key] = alert_keys(app)
    assert key.startswith("cap:domain:") and "fornecedor" not in key
    [line] = alert_lines(caplog)
    assert "fornecedor.example.com" in line  # a domain names an organisation, not a person
    [told] = outbox(app, to_address=OPERATOR)
    assert "fornecedor.example.com" in told.subject
    # Another domain, and the same one an hour later, are answered as usual.
    assert process(app, robot_as("ana@saude.rj.gov.br", 9)).replies == 1
    age_outbox(app, timedelta(hours=1))
    assert process(app, robot_as("r9x@fornecedor.example.com", 10)).replies == 1


def test_mail_to_staff_is_neither_held_nor_counted_by_the_domain_cap(
    open_desk: DeskFactory,
) -> None:
    """The areas of a desk often share a domain with many requesters: their mail is theirs."""
    app = open_desk(replies_per_domain_per_hour=2)
    # Tickets of requesters of example.gov.br, each routed to an area of example.gov.br.
    reports = [
        mail(
            f"Erro ao publicar aviso no SIASG ({n})",
            error_body(),
            sender=f"Servidor {n} <servidor{n}@example.gov.br>",
            attachments=(("print-erro.png", "image/png", screenshot_png()),),
        )
        for n in range(3)
    ]

    results = [process(app, raw) for raw in reports]

    assert [row.purpose for row in outbox(app, to_address=AREA)] == ["routed"] * 3
    # Two requesters are answered; the third is past the domain's cap (the areas' mail
    # counted for nothing).
    assert [r.replies for r in results] == [1, 1, 0]
    assert [key.split(":")[1] for key in alert_keys(app)] == ["domain"]


def test_the_domain_cap_defaults_to_a_few_hundred_an_hour(tmp_path: Path) -> None:
    assert (
        load_config(write_config(tmp_path, "sqlite:///x.db")).loop_caps.replies_per_domain_per_hour
        == 300
    )
    bad = write_config(tmp_path, "sqlite:///x.db", "[limits]\nreplies_per_domain_per_hour = 0\n")
    with pytest.raises(ConfigError, match=r"limits\.replies_per_domain_per_hour"):
        load_config(bad)


# --- the alert answers nobody, and nobody's answer to it is answered ----------------------


def first_alert(app: App) -> m.OutboxMail:
    """Reach the sender cap (of 1) with a robot, so that the operator is told once."""
    assert [process(app, robot_mail(n)).replies for n in range(2)] == [1, 0]
    [told] = outbox(app, to_address=OPERATOR)
    return told


def test_the_alert_is_no_answer_and_tells_responders_not_to_answer(
    open_desk: DeskFactory,
) -> None:
    app = open_desk(replies_per_sender_per_day=1)

    sent = BytesParser(policy=policy.default).parsebytes(first_alert(app).raw)

    assert sent["In-Reply-To"] is None and sent["References"] is None
    assert sent["To"] == OPERATOR
    assert sent["Auto-Submitted"] == "auto-generated"
    assert sent["X-Auto-Response-Suppress"] == "All"
    assert sent["Precedence"] == "bulk"


@pytest.mark.parametrize(
    "responder",
    [
        pytest.param(OPERATOR, id="from-the-operator-address"),
        pytest.param("plantao.ti@compras.example.gov.br", id="from-an-address-behind-it"),
    ],
)
def test_an_auto_responder_answering_the_alert_gets_no_answer_and_raises_no_alert(
    open_desk: DeskFactory, responder: str
) -> None:
    """The operator's mailbox (or the person it forwards to) answers every mail it gets,
    quoting it, without saying it is automatic: the desk answered it, and a loop began."""
    app = open_desk(replies_per_sender_per_day=1)
    alert = BytesParser(policy=policy.default).parsebytes(first_alert(app).raw)

    answers = [
        process(
            app,
            mail(
                f"Re: {alert['Subject']}",
                "Estou em férias até dia 30.",
                sender=f"Plantão <{responder}>",
                headers=(
                    {"In-Reply-To": alert["Message-ID"], "References": alert["Message-ID"]}
                    if n == 0 or responder != OPERATOR
                    else {}
                ),
            ),
        )
        for n in range(3)
    ]

    assert [a.replies for a in answers] == [0, 0, 0]
    assert messages_recorded(app) == 2 + 3  # recorded all the same
    assert len(alert_keys(app)) == 1
    assert [(row.purpose, row.to_address) for row in outbox(app)] == [
        ("no_theme", ROBOT),
        ("operator_alert", OPERATOR),
    ]
