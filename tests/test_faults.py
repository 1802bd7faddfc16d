"""Faults at the edges: the IMAP server going away mid-poll, an SMTP relay refusing for a
while or for good, a wrong password. Nothing is lost, nothing doubled, nothing crashes."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import func, select

from mailproc.storage import models as m
from tests.e2e import Batch, Desk, DeskFactory, message_id, wait_for
from tests.mails import error_report, reactivation

pytestmark = pytest.mark.servers


def drop_in_maildir(desk: Desk, raw: bytes) -> str:
    """Deliver one message to the desk's other source, the local Maildir."""
    new = desk.maildir / "new"
    new.mkdir(parents=True, exist_ok=True)
    (new / f"{time.time_ns()}.eml").write_bytes(raw)
    return message_id(raw)


def next_attempt(desk: Desk) -> float | None:
    """When the next pending reply is due (a Unix time), None when nothing is pending."""
    with desk.session() as session:
        due = session.scalar(
            select(func.min(m.OutboxMail.next_attempt_at)).where(m.OutboxMail.status == "pending")
        )
    return None if due is None else due.timestamp()


def processed(desk: Desk) -> int:
    return desk.count(m.RawMessage, m.RawMessage.outcome.is_not(None))


@pytest.mark.slow
def test_imap_server_stopping_mid_poll_is_reported_and_the_next_poll_finishes_the_batch(
    desk: Desk,
) -> None:
    local = drop_in_maildir(desk, reactivation())
    batch = Batch.of(80)
    desk.imap.append_many("INBOX", batch.raws)

    child = desk.spawn("poll", "--once", "--json")
    assert wait_for(lambda: processed(desk) >= 20, 60), desk.output(child)
    desk.imap.stop()
    assert child.wait(timeout=60) == 1, desk.output(child)
    desk.imap.start()
    again = desk.poll()

    output = desk.output(child)
    assert '"suporte": "IMAP mailbox' in output and "connection" in output, output
    assert again.returncode == 0, again.stderr
    assert again.report["processed"] > 0, "the stop came too late to cut the poll short"
    assert desk.outcomes() == batch.expected | {local: "created"}
    assert desk.count(m.Ticket) == len(batch.ticket_making) + 1
    assert desk.replies_per_message() == Counter([*batch.answered, local])
    assert desk.imap.messages("INBOX") == []
    assert Counter(desk.folder_ids("Processados")) == Counter(batch.expected.keys())


def test_temporary_smtp_refusals_are_retried_until_each_reply_went_out_once(
    make_desk: DeskFactory,
) -> None:
    desk = make_desk(retry_base_seconds=1)
    batch = Batch.of(5, mix=(2, 2, 1))  # four answered, one out-of-office
    desk.imap.append_many("INBOX", batch.raws)
    desk.smtp.fail_next(451, 6)  # every reply once, then two of them once more

    reports = [desk.poll().report]
    while (due := next_attempt(desk)) is not None and len(reports) < 5:
        time.sleep(max(due - time.time(), 0) + 0.05)  # the backoff: 1 s, then 2 s
        reports.append(desk.poll().report)

    mails = desk.count(m.OutboxMail)
    assert reports[0]["delivery_retrying"] == min(mails, 6)
    assert sum(r["delivered"] for r in reports) == mails
    assert desk.replies_per_message() == Counter(batch.answered)
    assert desk.copies() == Counter(desk.outbox_ids())  # each exactly once
    with desk.session() as session:
        attempts = list(session.scalars(select(m.OutboxMail.attempts)))
        assert sum(attempts) == mails + 6  # each refusal cost one more attempt, no more
        assert set(session.scalars(select(m.OutboxMail.status))) == {"sent"}


def test_a_permanent_smtp_refusal_fails_the_reply_and_says_so_on_the_ticket(
    desk: Desk,
) -> None:
    desk.imap.append("INBOX", error_report())
    desk.smtp.reject_all(550)

    first = desk.poll()
    desk.smtp.accept_all()
    second = desk.poll()

    assert first.returncode == 0
    assert first.report["delivery_failed"] == desk.count(m.OutboxMail) > 0
    assert second.report["delivered"] == 0  # a permanent failure is not retried
    assert desk.smtp.messages == []
    with desk.session() as session:
        ticket = session.scalars(select(m.Ticket)).one()
        mails = session.scalars(select(m.OutboxMail)).all()
        failed = [e.detail["outbox"] for e in ticket.events if e.kind == "delivery_failed"]
        assert {(o.status, o.attempts, o.ticket_id) for o in mails} == {("failed", 1, ticket.id)}
        assert all("550" in (o.last_error or "") for o in mails)
        assert sorted(failed) == sorted(o.id for o in mails)


def test_a_wrong_imap_password_is_a_clear_error_and_the_other_sources_still_run(
    make_desk: DeskFactory,
) -> None:
    desk = make_desk(password="senha-errada")
    waiting = error_report()
    desk.imap.append("INBOX", waiting)
    local = drop_in_maildir(desk, reactivation())

    poll = desk.poll()

    assert poll.returncode == 1
    assert "login refused" in poll.report["errors"]["suporte"]
    assert "Traceback" not in poll.stderr
    assert desk.outcomes() == {local: "created"}
    assert desk.replies_per_message() == Counter([local])
    assert desk.folder_ids("INBOX") == [message_id(waiting)]
    with desk.session() as session:
        state = session.scalars(select(m.MailboxState)).one()
        assert "login refused" in (state.last_error or "")


def test_an_unreachable_imap_server_is_reported_without_a_crash(desk: Desk) -> None:
    desk.imap.stop()

    poll = desk.poll()

    assert poll.returncode == 1
    assert "connection refused" in poll.report["errors"]["suporte"]
    assert "mailbox suporte unavailable" in poll.stderr
