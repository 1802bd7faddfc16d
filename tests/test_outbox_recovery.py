"""A send cut short: how the outbox judges it, and what an operator does about it.

A worker marks a mail "sending" in its own commit before the server sees it. When the worker
dies there, the mail is left alone while the worker's lease runs; after it, ``[delivery]
after_crash`` decides: "hold" makes it "uncertain" (never sent twice), "resend" sends it
again. Every spec runs on SQLite and on PostgreSQL; the real SIGKILLs are in
tests/test_crash_safety.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mailbox
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from mailproc.config import load_config
from mailproc.errors import ConfigError, DeliveryError
from mailproc.outgoing.delivery import Sender
from mailproc.outgoing.outbox import WORKER, DeliveryReport, deliver_due
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.storage import models as m
from mailproc.storage.db import make_engine, utcnow
from mailproc.storage.schema import upgrade
from tests.conftest import write_config
from tests.e2e import bare_id, message_id, wait_for
from tests.mails import error_report

# How long a test waits for a thread to get somewhere; it gets there in milliseconds.
NOTICE_SECONDS = 30


class WorkerKilled(BaseException):
    """The worker dies while the server has the mail (no DeliveryError: nothing is known)."""


class Relay:
    """The desk's own sender (its outbox Maildir), with ``before_each(outbox_id)`` run as
    each mail is handed over: a seam to look at the store at that moment, or to die there."""

    def __init__(self, app: App, before_each: Callable[[int], None]) -> None:
        self._app, self._inner, self._before = app, app.sender, before_each

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> None:
        self._before(outbox_id(self._app, message_id(raw)))
        self._inner.send(raw, sender, recipients)

    def batch(self) -> AbstractContextManager[Sender]:
        return contextlib.nullcontext(self)


def make_app(tmp_path: Path, database_url: str, after_crash: str) -> App:
    delivery = f'after_crash = "{after_crash}"'
    return App(load_config(write_config(tmp_path, database_url, delivery=delivery))).start()


def queue_replies(app: App, expected: int = 2) -> list[int]:
    """A complete error report: its acknowledgement and the mail to the routing area; the
    outbox's ids (``expected`` in all)."""
    app.pipeline.process(error_report(), "test")
    with app.sessions() as session:
        ids = list(session.scalars(select(m.OutboxMail.id).order_by(m.OutboxMail.id)))
    assert len(ids) == expected
    return ids


def outbox_id(app: App, bare_message_id: str) -> int:
    with app.sessions() as session:
        for row_id, mid in session.execute(select(m.OutboxMail.id, m.OutboxMail.message_id)):
            if bare_id(mid) == bare_message_id:
                return int(row_id)
    raise AssertionError(f"no outbox mail {bare_message_id}")


def deliver(
    app: App, sender: Sender | None = None, stopping: threading.Event | None = None
) -> DeliveryReport:
    return deliver_due(app.sessions, sender or app.sender, app.config.delivery, stopping)


def delivered(app: App) -> Counter[int]:
    """How many times each outbox mail reached the outbox Maildir, by outbox id."""
    folder = app.config.delivery.outbox_maildir
    if not folder.exists():
        return Counter()
    box = mailbox.Maildir(folder, create=False)
    return Counter(outbox_id(app, message_id(box.get_bytes(key))) for key in box.iterkeys())


def row(app: App, outbox: int) -> m.OutboxMail:
    with app.sessions() as session:
        return session.get_one(m.OutboxMail, outbox)


def cut_short(app: App) -> int:
    """Deliver until the worker dies on the first mail; that mail's id."""

    def die(outbox: int) -> None:
        raise WorkerKilled(outbox)

    with pytest.raises(WorkerKilled) as killed:
        deliver(app, Relay(app, die))
    outbox: int = killed.value.args[0]
    return outbox


def lease_expires(app: App, outbox: int) -> None:
    """Time passes beyond the dead worker's lease."""
    with app.sessions.begin() as session:
        past = utcnow() - timedelta(seconds=1)
        session.execute(
            update(m.OutboxMail).where(m.OutboxMail.id == outbox).values(lease_until=past)
        )


def abandoned_first_send(app: App) -> list[int]:
    """The two replies of a report, the worker killed sending the first and its lease
    expired since: the next delivery finds that send abandoned."""
    replies = queue_replies(app)
    cut_short(app)
    lease_expires(app, replies[0])
    return replies


def events(app: App, kind: str) -> list[m.Event]:
    with app.sessions() as session:
        return list(session.scalars(select(m.Event).where(m.Event.kind == kind)))


def cli(app: App, *args: str) -> int:
    return main(["--config", str(app.config.file), *args])


@pytest.fixture
def hold(tmp_path: Path, database_url: str) -> App:
    return make_app(tmp_path, database_url, "hold")


def test_hold_is_the_default_and_a_misspelt_policy_is_refused_at_start(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, "sqlite:///x.db")).delivery.after_crash == "hold"
    misspelt = write_config(tmp_path, "sqlite:///x.db", delivery='after_crash = "retry"')
    with pytest.raises(ConfigError, match=r"delivery\.after_crash: must be one of hold, resend"):
        load_config(misspelt)


def test_the_attempt_is_committed_before_the_server_sees_the_mail(app: App) -> None:
    queue_replies(app)
    seen: dict[int, tuple[str, str | None]] = {}

    def look(outbox: int) -> None:
        mail = row(app, outbox)  # a fresh session: only what is committed
        seen[outbox] = (mail.status, mail.lease_owner)

    report = deliver(app, Relay(app, look))

    assert list(seen.values()) == [("sending", WORKER)] * 2
    assert report.sent == 2
    assert {row(app, outbox).status for outbox in seen} == {"sent"}
    assert delivered(app) == Counter(seen.keys())


def test_while_the_server_has_a_mail_it_alone_is_sending_and_the_ones_before_are_sent(
    app: App,
) -> None:
    """A crash at any moment leaves at most the mail in hand in doubt: the "sent" mark of a
    mail is committed before the next one reaches the server."""
    first, second = queue_replies(app)
    seen: list[dict[int, str]] = []

    def look(_: int) -> None:
        seen.append({outbox: row(app, outbox).status for outbox in (first, second)})

    deliver(app, Relay(app, look))

    assert seen == [
        {first: "sending", second: "pending"},
        {first: "sent", second: "sending"},
    ]


def test_runs_of_one_process_take_turns_so_that_one_mail_alone_is_sending(app: App) -> None:
    # The outbox job and a drain's delivery beside it (one per mailbox) are threads of one
    # process: a kill must leave one mail in doubt, not one per run.
    queue_replies(app)  # claimed by the first run
    first_has_one, first_may_go = threading.Event(), threading.Event()
    sending_seen: list[int] = []  # how many mails are "sending" as each one is handed over

    def count_sending(_: int) -> None:
        with app.sessions() as session:
            sending = select(func.count()).where(m.OutboxMail.status == "sending")
            sending_seen.append(session.scalar(sending) or 0)

    def hold_the_first_mail(outbox: int) -> None:
        count_sending(outbox)
        if not first_has_one.is_set():
            first_has_one.set()
            first_may_go.wait(NOTICE_SECONDS)

    first = threading.Thread(target=deliver, args=(app, Relay(app, hold_the_first_mail)))
    first.start()
    assert first_has_one.wait(NOTICE_SECONDS)
    every_mail = queue_replies(app, expected=4)  # due now, for whichever run claims them
    second = threading.Thread(target=deliver, args=(app, Relay(app, count_sending)))
    second.start()
    wait_for(lambda: len(sending_seen) > 1, 2)  # the second run's chance to send beside
    first_may_go.set()
    first.join(NOTICE_SECONDS)
    second.join(NOTICE_SECONDS)

    assert sending_seen == [1, 1, 1, 1]  # four mails, each alone in doubt
    assert delivered(app) == Counter(every_mail)


def test_a_refused_mail_waits_for_its_retry_and_a_permanently_refused_one_fails_on_its_ticket(
    app: App,
) -> None:
    first, second = queue_replies(app)

    def refuse(outbox: int) -> None:
        raise DeliveryError(f"SMTP: recusado {outbox}", permanent=outbox == second)

    report = deliver(app, Relay(app, refuse))

    assert (report.sent, report.retrying, report.failed) == (0, 1, 1)
    retried, failed = row(app, first), row(app, second)
    assert (retried.status, retried.attempts, retried.last_error) == (
        "pending",
        1,
        f"SMTP: recusado {first}",
    )
    assert retried.next_attempt_at > utcnow() and retried.lease_owner is None
    assert (failed.status, failed.attempts, failed.lease_owner) == ("failed", 1, None)
    [event] = events(app, "delivery_failed")
    assert event.ticket_id == failed.ticket_id is not None
    assert event.detail == {
        "outbox": second,
        "to": failed.recipients,
        "error": f"SMTP: recusado {second}",
    }
    assert deliver(app).sent == 0  # the retry is not due yet; the failed mail stays failed
    assert delivered(app) == Counter()


def test_a_send_cut_short_is_left_alone_while_its_workers_lease_runs(app: App) -> None:
    first, second = queue_replies(app)
    assert cut_short(app) == first

    mail = row(app, first)
    assert mail.status == "sending"
    assert mail.lease_until is not None and mail.lease_until > utcnow()
    # The mail not started was handed back at once: the next run sends it, not the cut one.
    assert row(app, second).lease_owner is None
    report = deliver(app)

    assert (report.sent, report.uncertain) == (1, 0)
    assert row(app, first).status == "sending"
    assert delivered(app) == Counter([second])


@pytest.mark.parametrize(
    ("after_crash", "becomes", "copies"), [("hold", "uncertain", 0), ("resend", "sent", 1)]
)
def test_after_the_lease_a_send_cut_short_is_held_or_sent_again(
    tmp_path: Path, database_url: str, after_crash: str, becomes: str, copies: int
) -> None:
    app = make_app(tmp_path, database_url, after_crash)
    first, second = queue_replies(app)
    cut_short(app)
    lease_expires(app, first)

    deliver(app)

    assert row(app, first).status == becomes
    assert row(app, first).lease_owner is None
    assert delivered(app) == Counter([second] + [first] * copies)


def test_an_uncertain_mail_is_on_its_ticket_and_logged_once(
    hold: App, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = abandoned_first_send(hold)

    reports = [deliver(hold), deliver(hold)]

    assert [r.uncertain for r in reports] == [1, 0]
    [event] = events(hold, "delivery_uncertain")
    assert event.ticket_id is not None
    assert event.ticket_id == row(hold, first).ticket_id
    assert event.detail["outbox"] == first
    assert event.detail["to"] == row(hold, first).recipients
    assert event.detail["worker"] == WORKER
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "uncertain" in errors[0].getMessage()


def test_sigterm_finishes_the_mail_in_hand_and_hands_back_the_rest(app: App) -> None:
    first, second = queue_replies(app)
    stopping = threading.Event()

    report = deliver(app, Relay(app, lambda _: stopping.set()), stopping=stopping)

    assert report.sent == 1
    assert delivered(app) == Counter([first])
    rest = row(app, second)
    assert (rest.status, rest.lease_owner, rest.lease_until) == ("pending", None, None)
    assert deliver(app).sent == 1  # any worker may take it at once, not in five minutes


def test_a_claim_taken_over_by_another_worker_is_not_sent_by_the_first(app: App) -> None:
    """A batch that outlived its lease: another worker claimed its last mail meanwhile."""
    first, second = queue_replies(app)

    def taken_over(outbox: int) -> None:
        if outbox == first:
            with app.sessions.begin() as session:
                taken = update(m.OutboxMail).where(m.OutboxMail.id == second)
                session.execute(taken.values(lease_owner="other-host:2"))

    report = deliver(app, Relay(app, taken_over))

    assert report.sent == 1
    assert delivered(app) == Counter([first])
    assert (row(app, second).status, row(app, second).lease_owner) == ("pending", "other-host:2")


@pytest.mark.servers
def test_an_abandoned_send_locked_by_another_worker_is_judged_by_that_worker_only(
    tmp_path: Path, postgres_url: str
) -> None:
    """PostgreSQL, several workers: a row being judged is skipped (SKIP LOCKED), not judged
    twice, and the worker skipping it does not wait."""
    schema = make_engine(postgres_url)
    upgrade(schema)
    schema.dispose()
    app = make_app(tmp_path, postgres_url, "hold")
    first, _ = queue_replies(app)
    cut_short(app)
    lease_expires(app, first)

    with app.sessions.begin() as other:  # another worker, in the middle of judging it
        other.scalars(select(m.OutboxMail.id).where(m.OutboxMail.id == first).with_for_update())
        assert deliver(app).uncertain == 0
        assert row(app, first).status == "sending"
    assert deliver(app).uncertain == 1
    assert len(events(app, "delivery_uncertain")) == 1
    app.engine.dispose()


def test_an_operator_lists_uncertain_mail_and_resends_it(
    hold: App, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = abandoned_first_send(hold)
    deliver(hold)
    capsys.readouterr()

    assert cli(hold, "outbox", "list", "--status", "uncertain", "--json") == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["id"], listed["status"]) == (first, "uncertain")
    assert listed["ticket"] is not None and listed["to"] == row(hold, first).recipients

    assert cli(hold, "outbox", "resend", str(first)) == 0
    assert row(hold, first).status == "pending"
    assert deliver(hold).sent == 1
    assert delivered(hold) == Counter([first, second])
    assert [e.detail for e in events(hold, "delivery_requeued")] == [
        {"outbox": first, "was": "uncertain"}
    ]


def test_an_operator_marks_uncertain_mail_sent_and_status_is_healthy_again(
    hold: App, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = abandoned_first_send(hold)
    deliver(hold)
    capsys.readouterr()

    assert cli(hold, "status", "--json", "--offline") == 1
    status = json.loads(capsys.readouterr().out)
    assert (status["healthy"], status["outbox_uncertain"]) == (False, 1)
    assert any("may not have been delivered" in p for p in status["problems"])

    assert cli(hold, "outbox", "mark-sent", str(first)) == 0
    assert row(hold, first).status == "sent"
    assert deliver(hold).sent == 0
    assert first not in delivered(hold)  # the operator's word: nothing was sent again
    assert cli(hold, "status", "--json", "--offline") == 0


def test_operator_commands_refuse_mail_they_do_not_apply_to(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = queue_replies(app)
    deliver(app)
    capsys.readouterr()

    assert cli(app, "outbox", "mark-sent", str(first), "999999") == 1
    assert cli(app, "outbox", "resend", str(second)) == 1
    err = capsys.readouterr().err
    assert f"outbox {first} left alone: it is sent" in err
    assert "outbox 999999 left alone: no such mail" in err
    assert f"outbox {second} left alone: it is sent" in err
    assert delivered(app) == Counter([first, second])
    assert events(app, "delivery_requeued") == events(app, "delivery_confirmed") == []
