"""The workers benchmark: how it spreads the mail, the desk it configures, the checks that
fail a wrong run, and a tiny end-to-end run (never its timings)."""

from __future__ import annotations

import email.parser
import email.policy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bench.messages import MailGenerator
from bench.run import DESK, PASSWORD_ENV
from bench.servers import Arrival, Mailbox
from bench.workers import desk_config, read_checks, spread
from mailproc.config import load_config
from mailproc.storage import models as m

REPO = Path(__file__).resolve().parents[1]

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def test_mail_is_dealt_evenly_and_a_reply_follows_its_original_into_the_same_mailbox() -> None:
    messages = list(MailGenerator(2026).messages(300))

    dealt = spread(messages, 4)

    assert sorted(msg.index for box in dealt for msg in box) == list(range(300))
    assert all(60 <= len(box) <= 90 for box in dealt), [len(box) for box in dealt]
    where = {msg.message_id: (n, pos) for n, box in enumerate(dealt) for pos, msg in enumerate(box)}
    replies = 0
    for msg in messages:
        answered = str(_HEADERS.parsebytes(msg.raw).get("In-Reply-To", "")).strip()
        if answered in where:
            replies += 1
            (box, position), (original_box, original_position) = (
                where[msg.message_id],
                where[answered],
            )
            assert box == original_box
            assert position > original_position
    assert replies > 10  # the mix has replies: the rule above was really exercised


def test_the_desk_reads_every_mailbox_under_its_own_name_from_the_given_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boxes = [Mailbox("127.0.0.1", 1143, f"bench{n}", "secret") for n in (7, 8, 9)]
    one_mailbox = DESK.format(
        imap_host="127.0.0.1", imap_port=1143, user="bench7", password_env=PASSWORD_ENV,
        smtp_host="127.0.0.1", smtp_port=2525, poll_seconds=60, outbox_seconds=15,
    )  # fmt: skip
    path = tmp_path / "config.toml"
    url = "postgresql://postgres@127.0.0.1:5432/mailproc_bench_x"
    path.write_text(desk_config(one_mailbox, boxes, url), encoding="utf-8")
    monkeypatch.setenv(PASSWORD_ENV, "secret")

    config = load_config(path)

    assert [(box.name, box.settings.user) for box in config.imap] == [
        ("suporte", "bench7"),
        ("suporte2", "bench8"),
        ("suporte3", "bench9"),
    ]
    assert config.database_url == url
    assert config.smtp is not None and config.smtp.port == 2525


def _ticket(code: str) -> m.Ticket:
    return m.Ticket(
        code=code, state="open", priority="normal", requester_email="ana@saude.rj.gov.br",
        requester_name="Ana", subject="Erro no SIASG",
    )  # fmt: skip


def _mail(n: int, status: str) -> m.OutboxMail:
    return m.OutboxMail(
        message_id=f"<reply{n}@desk>", purpose="created", sender="suporte@desk",
        recipients=["ana@saude.rj.gov.br"], subject="Chamado", raw=b"x", status=status,
    )  # fmt: skip


def _arrival(in_reply_to: str) -> Arrival:
    return Arrival(0.0, in_reply_to, ("ana@saude.rj.gov.br",), 100)


def test_a_consistent_desk_passes_the_checks(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add_all([_ticket("2026-000001"), _ticket("2026-000002"), _mail(1, "sent")])

    checks = read_checks(engine, [_arrival("<a@saude.rj.gov.br>")])

    assert checks.problems == []
    assert (checks.tickets, checks.sent, checks.arrived) == (2, 1, 1)
    assert checks.replies == {"a@saude.rj.gov.br": 1}


def test_a_gap_in_the_codes_an_unsent_mail_and_a_mail_delivered_twice_fail_the_run(
    engine: Engine,
) -> None:
    with Session(engine) as session, session.begin():
        session.add_all([_ticket("2026-000001"), _ticket("2026-000003")])
        session.add_all([_mail(1, "sent"), _mail(2, "pending")])

    checks = read_checks(engine, [_arrival("<a@x>"), _arrival("<a@x>")])

    assert checks.problems == [
        "ticket codes of 2026 are not 1..2 without gaps or repeats",
        "1 outbox mails not sent",
        "2 mails arrived for 1 sent",
    ]


@pytest.mark.servers
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the bench's Dovecot runs as root")
def test_a_tiny_workers_bench_checks_each_configuration_and_reports_positive_rates(
    tmp_path: Path, postgres_url: str
) -> None:
    # postgres_url only makes this test skip (or fail under CI) like every PostgreSQL test
    # when the server the bench uses is missing; the bench makes its own databases.
    results = tmp_path / "results.json"
    run = subprocess.run(
        # Two PostgreSQL configurations and no SQLite one: the smallest run that still
        # compares workers; the full set is the bench's own business (its README).
        [
            sys.executable,
            "-m",
            "bench.workers",
            "--n",
            "24",
            "--workers",
            "1",
            "2",
            "--no-sqlite",
            "--json",
            str(results),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(results.read_text())
    assert sum(report["mailboxes"]) == 24 and len(report["mailboxes"]) == 4
    configurations = [(r["backend"], r["workers"]) for r in report["runs"]]
    assert configurations == [("postgresql", 1), ("postgresql", 2)]
    for result in report["runs"]:
        assert result["rate"] > 0 and result["ratio"] > 0
        assert result["exit_codes"] == [0] * result["workers"]
        assert sum(result["processed_per_worker"]) == 24
        checks = result["checks"]
        assert checks["problems"] == []
        assert sum(checks["outcomes"].values()) == 24
        assert checks["tickets"] > 0 and checks["sent"] == checks["arrived"] > 0
    assert report["runs"][0]["ratio"] == 1.0  # one PostgreSQL worker is the reference
    assert "| postgresql | 2 |" in run.stdout
