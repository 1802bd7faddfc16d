"""Operating the desk: health status, reprocessing, importing a backlog, logs, metrics, leases."""

from __future__ import annotations

import json
import mailbox
import socket
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailproc.config import load_config
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.service.metrics import StoreCollector
from mailproc.sources.leases import mailbox_lease
from mailproc.storage import models as m
from mailproc.storage.db import make_engine
from mailproc.storage.schema import upgrade
from tests.conftest import write_config
from tests.mails import error_report, mail, reactivation


def run_cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_status_is_healthy_on_a_fresh_desk(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(config_path, "status", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["healthy"] is True
    assert status["database"] == "ok"


def test_status_is_unhealthy_when_the_database_is_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "sqlite:///never-upgraded.db")

    assert run_cli(config, "status", "--json") == 1
    status = json.loads(capsys.readouterr().out)
    assert "mailproc db upgrade" in status["database"]


def test_status_reports_an_unreachable_mailbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "x")
    imap = (
        f'[[imap]]\nname = "suporte"\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
        'user = "suporte"\npassword_env = "TEST_IMAP_PASSWORD"\ntimeout_seconds = 2\n'
    )
    config = write_config(tmp_path, "sqlite:///mailproc.db", imap)
    upgrade(App(load_config(config)).engine)

    assert run_cli(config, "poll", "--once") == 1  # the mailbox could not be read
    assert run_cli(config, "status", "--json") == 1
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    [box] = status["mailboxes"]
    assert box["name"] == "suporte" and box["last_error"]
    assert any("suporte" in problem for problem in status["problems"])


def test_reprocess_gives_quarantined_mail_a_new_outcome_after_a_fix(tmp_path: Path) -> None:
    broken_templates = tmp_path / "templates"
    broken_templates.mkdir()  # no templates at all: rendering the reply fails
    config = write_config(tmp_path, "sqlite:///mailproc.db", "")
    config.write_text(
        config.read_text().replace(
            "[database]", f'[paths]\ntemplates = "{broken_templates}"\n\n[database]'
        )
    )
    upgrade(App(load_config(config)).engine)
    raw = tmp_path / "report.eml"
    raw.write_bytes(error_report())
    assert run_cli(config, "ingest", str(raw)) == 0  # the shunt: quarantined, not a crash

    config.write_text(config.read_text().replace(f'templates = "{broken_templates}"', ""))
    assert run_cli(config, "reprocess") == 0

    with App(load_config(config)).sessions() as session:
        raws = session.scalars(select(m.RawMessage)).all()
        assert [r.outcome for r in raws] == ["created"]
        assert session.scalar(select(func.count()).select_from(m.Message)) == 1
        assert session.scalar(select(func.count()).select_from(m.Ticket)) == 1


def test_import_processes_every_message_of_an_mbox(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backlog = mailbox.mbox(config_path.parent / "backlog.mbox")
    for raw in (error_report(), reactivation(), mail("Pedido", "Ajuda, por favor.")):
        backlog.add(raw)
    backlog.flush()

    assert run_cli(config_path, "import", str(config_path.parent / "backlog.mbox"), "--quiet") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"imported": 3, "outcomes": {"created": 2, "no_theme": 1}}


def test_json_logs_give_one_object_per_message_with_outcome_and_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "sqlite:///mailproc.db", '[logging]\nformat = "json"\n')
    upgrade(App(load_config(config)).engine)
    eml = tmp_path / "m.eml"
    eml.write_bytes(error_report())

    assert run_cli(config, "ingest", str(eml)) == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    outcome_lines = [r for r in records if r.get("outcome") == "created"]
    assert len(outcome_lines) == 1
    assert outcome_lines[0]["level"] == "info"


def test_metrics_report_tickets_and_outbox_from_the_store(config_path: Path) -> None:
    app = App(load_config(config_path)).start()
    app.pipeline.process(error_report(), "test")

    families = {f.name: f for f in StoreCollector(app.sessions).collect()}

    tickets = {s.labels["state"]: s.value for s in families["mailproc_tickets"].samples}
    outbox = {s.labels["status"]: s.value for s in families["mailproc_outbox_mail"].samples}
    assert tickets == {"aberto": 1}
    assert outbox == {"pending": 2}  # the acknowledgement and the mail to the routing area


def test_metrics_endpoint_serves_prometheus_text(config_path: Path) -> None:
    from prometheus_client import start_http_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server, thread = start_http_server(port, addr="127.0.0.1")
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    finally:
        server.shutdown()
        thread.join(5)
    assert b"mailproc_messages_total" in body


@pytest.mark.servers
def test_a_mailbox_is_read_by_one_postgresql_worker_at_a_time(postgres_url: str) -> None:
    first, second = make_engine(postgres_url), make_engine(postgres_url)
    try:
        with mailbox_lease(first, "suporte") as granted:
            assert granted
            with mailbox_lease(second, "suporte") as other:
                assert not other
            with mailbox_lease(second, "outra") as unrelated:
                assert unrelated
        with mailbox_lease(second, "suporte") as after_release:
            assert after_release
    finally:
        first.dispose()
        second.dispose()


def test_rules_test_shows_the_reply_that_would_be_sent_and_writes_nothing(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eml = config_path.parent / "reactivation.eml"
    eml.write_bytes(reactivation(cnpj="11.222.333/0001-82"))

    assert run_cli(config_path, "rules", "test", str(eml)) == 0

    report = json.loads(capsys.readouterr().out)
    assert (report["outcome"], report["theme"]) == ("incomplete", "reativacao-uasg")
    assert report["missing"] == ["CNPJ: “11.222.333/0001-82”: dígitos verificadores inválidos"]
    [reply] = report["replies"]
    assert reply["template"] == "incomplete" and reply["to"] == ["maria.silva@saude.rj.gov.br"]
    with App(load_config(config_path)).sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.RawMessage)) == 0


def test_purge_dry_run_says_what_would_go_and_keeps_it(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = App(load_config(config_path)).start()
    app.pipeline.process(mail("Pedido", "Ajuda, por favor."), "test")  # no ticket: purgeable
    with app.sessions.begin() as session:  # it arrived two years ago
        for raw in session.scalars(select(m.RawMessage)):
            raw.received_at = raw.received_at.replace(year=raw.received_at.year - 2)

    assert run_cli(config_path, "purge", "--dry-run") == 0

    report = json.loads(capsys.readouterr().out)
    assert (report["dry_run"], report["raw_messages"]) == (True, 1)
    assert report["raw_bytes"] > 0
    with app.sessions() as session:
        assert session.scalars(select(m.RawMessage.data)).one() is not None


def test_logs_never_show_cpf_cnpj_or_mailbox_names(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eml = config_path.parent / "m.eml"
    eml.write_bytes(reactivation())

    assert main(["--config", str(config_path), "--log-level", "debug", "ingest", str(eml)]) == 0
    err = capsys.readouterr().err
    assert "maria.silva@" not in err and "11.222.333/0001-81" not in err
