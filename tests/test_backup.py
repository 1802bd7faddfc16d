"""``mailproc backup PATH``: a consistent copy of a SQLite database while the desk writes."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailproc.config import CONFIG_ENV, load_config
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.storage import models as m
from mailproc.storage.db import make_engine
from mailproc.storage.schema import require_current, upgrade
from tests.conftest import REPO, write_config
from tests.e2e import wait_for
from tests.mails import error_report


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[App]:
    """A desk on SQLite, its schema at head."""
    app = App(load_config(write_config(tmp_path, "sqlite:///mailproc.db")))
    upgrade(app.engine)
    yield app.start()
    app.engine.dispose()


def tickets(app: App) -> int:
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(m.Ticket)) or 0


def mailproc(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``mailproc --config CONFIG ARGS`` in a process of its own, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "mailproc", "--config", str(config), *args],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != CONFIG_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_backup_taken_while_the_pipeline_writes_is_the_database_as_of_one_commit(
    desk: App, tmp_path: Path
) -> None:
    stop = threading.Event()

    def keep_writing() -> None:
        while not stop.is_set():
            desk.pipeline.process(error_report(), "test")  # a ticket, its ack, its routed copy

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        assert wait_for(lambda: tickets(desk) >= 20, timeout=60)
        before = tickets(desk)
        done = mailproc(desk.config.file, "backup", str(tmp_path / "backup.db"))
        after = tickets(desk)
    finally:
        stop.set()
        writer.join()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert before <= report["tickets"] <= after
    assert after > before  # the desk wrote while the copy was taken

    assert stat.S_IMODE((tmp_path / "backup.db").stat().st_mode) == 0o600  # personal data
    copy = sqlite3.connect(tmp_path / "backup.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        [(count,)] = copy.execute("SELECT count(*) FROM tickets").fetchall()
        [(opened,)] = copy.execute("SELECT count(*) FROM messages WHERE ticket_id IS NOT NULL")
        [(mail,)] = copy.execute("SELECT count(*) FROM outbox").fetchall()
        [(held,)] = copy.execute("SELECT count(*) FROM events WHERE kind = 'reply_held'")
    finally:
        copy.close()
    # Each message's transaction whole or not at all: its ticket, its message, and its two
    # mails (the ack, the routed copy) queued or held (the same sender's daily cap).
    assert (count, opened, mail + held) == (report["tickets"], count, 2 * count)
    engine = make_engine(f"sqlite:///{tmp_path / 'backup.db'}")
    require_current(engine)  # at head: the desk can start on it
    engine.dispose()

    # A desk configured on the copy shows its tickets.
    config = desk.config.file.read_text().replace(
        "sqlite:///mailproc.db", f"sqlite:///{tmp_path / 'backup.db'}"
    )
    restored = tmp_path / "restored.toml"
    restored.write_text(config)
    listing = mailproc(restored, "tickets", "list", "--json", "--limit", "100000")
    assert listing.returncode == 0, listing.stderr
    assert len(json.loads(listing.stdout)) == count


def test_an_existing_file_is_kept_unless_forced(
    desk: App, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    desk.pipeline.process(error_report(), "test")
    target = tmp_path / "backup.db"
    target.write_bytes(b"yesterday's backup")
    config = str(desk.config.file)

    assert main(["--config", config, "backup", str(target)]) == 1
    assert "exists" in capsys.readouterr().err
    assert target.read_bytes() == b"yesterday's backup"

    assert main(["--config", config, "backup", str(target), "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["tickets"] == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".backup")] == []


def test_postgresql_is_pointed_to_pg_dump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "postgresql://mailproc:secret@127.0.0.1:9/mailproc")

    assert main(["--config", str(config), "backup", str(tmp_path / "x.db")]) == 1
    error = capsys.readouterr().err
    assert "pg_dump" in error and "secret" not in error
    assert not (tmp_path / "x.db").exists()


def test_a_missing_database_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "sqlite:///nowhere/mailproc.db")

    assert main(["--config", str(config), "backup", str(tmp_path / "x.db")]) == 1
    assert "no database" in capsys.readouterr().err
    assert not (tmp_path / "nowhere" / "mailproc.db").exists()
    assert not (tmp_path / "x.db").exists()
