"""Logs an operator can use: libraries quiet, jobs named, one line per delivery, JSON fields."""

from __future__ import annotations

import io
import json
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from mailproc.config import load_config
from mailproc.logsafe import fields, install_masking
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.service.logs import CHATTY_LIBRARIES, JsonFormatter, TextFormatter, setup_logging
from mailproc.service.scheduler import build_scheduler
from mailproc.storage import models as m
from mailproc.storage.schema import migration_heads
from tests.conftest import REPO, write_config
from tests.e2e import COMMAND_TIMEOUT, DeskFactory, bare_id, complete_report, parse, wait_for
from tests.mails import error_report
from tests.smtp_fixtures import SmtpTestServer

MIGRATIONS = REPO / "migrations" / "versions"
CPF = "12345678909"


def mailproc(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailproc", "--config", str(config), *args],
        cwd=REPO, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
    )  # fmt: skip


# -- the libraries say nothing on ordinary commands -------------------------------------------


def test_db_upgrade_says_each_migration_once_and_alembic_says_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///mailproc.db")
    known, _ = migration_heads(MIGRATIONS)

    first, again = mailproc(config, "db", "upgrade"), mailproc(config, "db", "upgrade")

    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert first.stderr == again.stderr == ""
    *applied, head = first.stdout.splitlines()
    assert [line.split(":")[0] for line in applied] == [f"applied {r}" for r in sorted(known)]
    assert head.startswith("database at head: sqlite:///")
    assert again.stdout.splitlines() == [head]  # nothing left to apply


def test_tickets_list_prints_no_library_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///mailproc.db")
    assert mailproc(config, "db", "upgrade").returncode == 0

    listed = mailproc(config, "tickets", "list")

    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == ""


@pytest.fixture
def _library_levels() -> Iterator[None]:
    """setup_logging sets the chatty libraries' levels; conftest restores only the root's."""
    loggers = [logging.getLogger(name) for name in CHATTY_LIBRARIES]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@pytest.mark.usefixtures("_library_levels")
def test_library_run_lines_show_at_debug_only() -> None:
    """APScheduler logs two lines per job run at info, Alembic its set-up: detail for debug."""
    per_run = logging.getLogger("apscheduler.executors.default")
    migrating = logging.getLogger("alembic.runtime.migration")

    setup_logging("info", "text")
    assert not per_run.isEnabledFor(logging.INFO) and not migrating.isEnabledFor(logging.INFO)
    assert per_run.isEnabledFor(logging.WARNING)  # a missed or skipped run still shows

    setup_logging("debug", "text")
    assert per_run.isEnabledFor(logging.INFO) and migrating.isEnabledFor(logging.INFO)


# -- the scheduler's jobs ---------------------------------------------------------------------


@pytest.mark.servers
def test_scheduled_jobs_have_names_an_operator_reads(make_desk: DeskFactory) -> None:
    desk = make_desk()
    with ExitStack() as sessions:
        scheduler = build_scheduler(App(load_config(desk.config)), threading.Event(), sessions)
        names = {job.id: job.name for job in scheduler.get_jobs()}

    assert names == {
        "imap:suporte": "poll imap suporte",
        "maildir:local": "poll maildir local",
        "outbox": "deliver outbox",
        "housekeeping": "housekeeping",
        "deadlines": "deadlines",
    }


@pytest.mark.servers
@pytest.mark.slow
def test_a_running_desk_logs_each_delivery_once_and_no_line_per_job_run(
    make_desk: DeskFactory,
) -> None:
    desk = make_desk(poll_seconds=5, outbox_seconds=1)
    desk.imap.append("INBOX", complete_report(1))
    child = desk.spawn("run")
    answered = wait_for(lambda: bool(desk.replies()), 30, step=0.2)
    wait_for(lambda: "outbox delivered" in desk.output(child), 5, step=0.1)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == 0, desk.output(child)
    output = desk.output(child)
    assert answered, output

    assert "Running job" not in output and "executed successfully" not in output
    assert " INFO apscheduler" not in output and "alembic" not in output
    with desk.session() as session:
        sent = session.execute(
            select(m.OutboxMail.id, m.OutboxMail.message_id).where(m.OutboxMail.status == "sent")
        ).all()
    delivered = [line for line in output.splitlines() if "outbox delivered" in line]
    assert 0 < len(delivered) == len(sent) == len(desk.smtp.messages), output
    for (outbox_id, message_id), line in zip(sorted(sent), delivered, strict=True):
        # The relay's answer to DATA, as the test server words it (not RCPT's "250 OK").
        assert f"outbox={outbox_id} message_id={message_id} relay=" in line
        assert '"250 OK queued as ' in line


# -- one line per delivery, and outbox list ---------------------------------------------------


def _smtp_desk(folder: Path, smtp: SmtpTestServer, logging_format: str = "text") -> Path:
    extra = (
        f'[smtp]\nhost = "{smtp.host}"\nport = {smtp.port}\ntls = "none"\n'
        f'from_address = "suporte@compras.example.gov.br"\ntimeout_seconds = 10\n\n'
        f'[logging]\nformat = "{logging_format}"\n'
    )
    config = write_config(folder, "sqlite:///mailproc.db", extra)
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    return config


def _sent_ids(smtp: SmtpTestServer) -> list[str]:
    """The Message-IDs of the mail the relay took, bare, in the order it took them."""
    return [bare_id(parse(mail.raw)["Message-ID"]) for mail in smtp.messages]


@pytest.mark.servers
def test_outbox_list_shows_the_message_id_the_relay_received(
    tmp_path: Path, smtp_server: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _smtp_desk(tmp_path, smtp_server)
    (tmp_path / "m.eml").write_bytes(error_report())
    assert main(["--config", str(config), "ingest", str(tmp_path / "m.eml")]) == 0
    sent = _sent_ids(smtp_server)
    capsys.readouterr()

    assert main(["--config", str(config), "outbox", "list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert sorted(e["message_id"] for e in entries) == sorted(sent)
    # Times as ISO 8601, as stored (UTC), like every --json listing.
    assert all(datetime.fromisoformat(e["created_at"]).utcoffset() == timedelta(0) for e in entries)
    assert all("T" in e["created_at"] for e in entries)

    assert main(["--config", str(config), "outbox", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for entry in entries:
        [line] = [x for x in lines if x.lstrip().startswith(f"{entry['id']} ")]
        assert entry["message_id"] in line


def test_a_maildir_delivery_logs_the_file_it_wrote(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (config_path.parent / "m.eml").write_bytes(error_report())

    assert main(["--config", str(config_path), "ingest", str(config_path.parent / "m.eml")]) == 0

    written = {str(path) for path in (config_path.parent / "outbox" / "new").iterdir()}
    lines = [x for x in capsys.readouterr().err.splitlines() if "outbox delivered" in x]
    assert {line.split(" relay=")[1] for line in lines} == written
    assert len(lines) == len(written)


# -- JSON: the fields are keys ----------------------------------------------------------------


@pytest.mark.servers
def test_json_logs_carry_the_fields_as_keys_masked(
    tmp_path: Path, smtp_server: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _smtp_desk(tmp_path, smtp_server, "json")
    # A file named after its sender: the origin field holds an address, to be masked.
    eml = tmp_path / "maria.silva@saude.rj.gov.br.eml"
    eml.write_bytes(error_report())
    capsys.readouterr()

    assert main(["--config", str(config), "ingest", str(eml)]) == 0

    err = capsys.readouterr().err
    records = [json.loads(line) for line in err.splitlines()]
    [outcome] = [r for r in records if "outcome" in r]
    assert outcome["message"] == "message processed"
    assert outcome["outcome"] == "created" and outcome["theme"] == "erro-siasg"
    assert outcome["ticket"].startswith("20") and outcome["replies"] == 1
    assert outcome["origin"] == f"file:{tmp_path}/***@saude.rj.gov.br.eml"
    assert isinstance(outcome["raw_id"], int)
    delivered = [r for r in records if "relay" in r]
    # Our own Message-IDs, not masked; each with the relay's answer to its DATA.
    assert [r["message_id"] for r in delivered] == _sent_ids(smtp_server)
    for number, record in enumerate(delivered, start=1):
        assert record["message"] == "outbox delivered"
        assert isinstance(record["outbox"], int)
        assert record["relay"] == f"250 OK queued as {number}"
        assert (record["level"], record["logger"]) == ("info", "mailproc.outgoing.outbox")
    assert "maria.silva" not in err


def test_text_lines_read_the_fields_after_the_message_each_masked_but_our_message_id() -> None:
    record = logging.makeLogRecord(
        {"msg": "delivered to %s", "args": ("maria@rj.gov.br",), "levelname": "INFO"}
        | fields(outbox=7, message_id="ab12@desk.example", relay="250 Ok: queued for ana@x.br")
    )
    line = TextFormatter().format(record)
    assert line.endswith(
        "delivered to ***@rj.gov.br outbox=7 message_id=ab12@desk.example"
        ' relay="250 Ok: queued for ***@x.br"'
    )


def test_json_values_are_masked_one_by_one() -> None:
    """Masked before they are written: a CPF after a line break of a traceback, escaped "\\n"
    in the JSON text, and numbers stay numbers."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    install_masking(handler)
    logger = logging.getLogger("mailproc.test_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("\n".join(["falhou", CPF, "ana@educacao.rj.gov.br"]))
        except ValueError:
            logger.exception(
                "quarantined", extra=fields(raw_id=int(CPF), origin="file:ana@x.rj.gov.br")
            )
    finally:
        logger.removeHandler(handler)

    entry = json.loads(stream.getvalue())
    assert entry["raw_id"] == int(CPF)
    assert entry["origin"] == "file:***@x.rj.gov.br"
    assert CPF not in entry["exception"] and "ana@" not in entry["exception"]
