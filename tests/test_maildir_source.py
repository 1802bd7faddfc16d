"""The Maildir source: new/ is read in order; a message leaves new/ only after its commit."""

from __future__ import annotations

import email
import json
import mailbox
import subprocess
import sys
from email.message import Message
from pathlib import Path

import pytest

from mailproc.service.cli import main
from tests.conftest import EXAMPLES, write_config

REPO = Path(__file__).resolve().parents[1]


def outbox_mail(config_path: Path) -> list[Message]:
    folder = mailbox.Maildir(config_path.parent / "outbox", create=False)
    return [email.message_from_bytes(folder.get_bytes(key)) for key in folder.iterkeys()]


def deliver(maildir: Path, files: list[Path]) -> None:
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "deliver-examples"),
            str(files[0].parent),
            str(maildir),
        ],
        check=True,
        capture_output=True,
    )


def test_poll_once_processes_every_example_and_moves_it_to_cur(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inbox = config_path.parent / "inbox"
    examples = sorted(EXAMPLES.glob("*.eml"))
    deliver(inbox, examples)

    assert main(["--config", str(config_path), "poll", "--once", "--json"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["processed"] == len(examples)
    assert report["outcomes"] == {"created": 3, "ignored": 1, "incomplete": 2, "no_theme": 1}
    assert (report["delivery_retrying"], report["delivery_failed"]) == (0, 0)
    answered = {to for mail in outbox_mail(config_path) for to in mail.get_all("To", [])}
    # Every human sender gets a reply; the out-of-office does not.
    assert {
        "maria.silva@saude.rj.gov.br",
        "joao.souza@fazenda.rj.gov.br",
        "ana.lima@educacao.rj.gov.br",
        "carlos.pereira@der.rj.gov.br",
        "paula.costa@cultura.rj.gov.br",
        "lucia.rocha@planejamento.rj.gov.br",
    } <= answered
    assert "pedro.alves@transportes.rj.gov.br" not in answered
    assert list((inbox / "new").iterdir()) == []
    moved = sorted(p.name for p in (inbox / "cur").iterdir())
    assert len(moved) == len(examples) and all(name.endswith(":2,S") for name in moved)


def test_a_second_poll_finds_nothing_new(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deliver(config_path.parent / "inbox", sorted(EXAMPLES.glob("*.eml")))
    main(["--config", str(config_path), "poll", "--once", "--json"])
    capsys.readouterr()

    assert main(["--config", str(config_path), "poll", "--once", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["processed"] == 0


def test_mail_stays_in_new_when_the_database_cannot_take_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///never-upgraded.db")
    inbox = tmp_path / "inbox"
    deliver(inbox, sorted(EXAMPLES.glob("*.eml")))

    assert main(["--config", str(config), "poll", "--once"]) == 3  # database behind: refused
    assert len(list((inbox / "new").iterdir())) == len(list(EXAMPLES.glob("*.eml")))
