"""Shared fixtures: a configured desk on a fresh SQLite database, real servers (plugins)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from mailproc.app import App
from mailproc.cli import main
from mailproc.config import load_config
from mailproc.db import upgrade

pytest_plugins = ["tests.db_fixtures", "tests.smtp_fixtures", "tests.dovecot"]

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
EXAMPLES = REPO / "examples"

DESK_CONFIG = """
[desk]
name = "Central de Atendimento – Compras.gov.br RJ"
address = "suporte@compras.example.gov.br"
trusted_forwarders = ["redecompras@planejamento.rj.gov.br"]
staff_domains = ["suporte.example.gov.br"]

[database]
url = "{database_url}"

[[maildir]]
name = "local"
path = "inbox"

[delivery]
outbox_maildir = "outbox"
{extra}
"""


def write_config(folder: Path, database_url: str, extra: str = "") -> Path:
    path = folder / "mailproc.toml"
    path.write_text(DESK_CONFIG.format(database_url=database_url, extra=extra), encoding="utf-8")
    return path


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """A desk on a fresh, upgraded SQLite database in a temporary folder."""
    path = write_config(tmp_path, "sqlite:///mailproc.db")
    upgrade(App(load_config(path)).engine)
    return path


@pytest.fixture
def app(config_path: Path) -> App:
    return App(load_config(config_path)).start()


@pytest.fixture
def ingest(config_path: Path, capsys: pytest.CaptureFixture[str]) -> Callable[[bytes], dict]:
    """Run ``mailproc ingest`` on raw bytes, as a script would, and return its JSON line."""

    def run(raw: bytes) -> dict:
        eml = config_path.parent / "message.eml"
        eml.write_bytes(raw)
        assert main(["--config", str(config_path), "ingest", str(eml)]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 1, lines
        return json.loads(lines[0])

    return run
