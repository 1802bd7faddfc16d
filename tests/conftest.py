"""Shared fixtures: a configured desk on a fresh SQLite database, real servers (plugins)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailproc.config import load_config
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.storage.schema import upgrade
from tests.mails import AUTHSERV_ID

pytest_plugins = [
    "tests.db_fixtures",
    "tests.smtp_fixtures",
    "tests.dns_fixtures",
    "tests.dovecot",
    "tests.e2e",
]

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
EXAMPLES = REPO / "examples"

# The key that signs the desk's reply addresses in tests: known, so that tests can address a
# reply as a mail client does, to the Reply-To of the desk's mail (tests.threads.signed).
REPLY_KEY_ENV = "MAILPROC_TEST_REPLY_KEY"
TEST_REPLY_KEY = "tests-only-reply-key-0123456789abcdef"
os.environ.setdefault(REPLY_KEY_ENV, TEST_REPLY_KEY)

DESK_CONFIG = """
[desk]
name = "Central de Atendimento – Compras.gov.br RJ"
address = "suporte@compras.example.gov.br"
reply_key_env = "MAILPROC_TEST_REPLY_KEY"
trusted_forwarders = ["redecompras@planejamento.rj.gov.br"]
staff_domains = ["suporte.example.gov.br"]

[database]
url = "{database_url}"

[[maildir]]
name = "local"
path = "inbox"

[delivery]
outbox_maildir = "outbox"
{delivery}

{authentication}
{extra}
"""
# Our receiving server, as the test desk knows it: mail that it vouches for (an aligned pass
# in its Authentication-Results header: tests.mails.authenticated) has an authentic From.
# A test's own [authentication] table replaces this one.
AUTHENTICATION = f'[authentication]\nauthserv_id = "{AUTHSERV_ID}"\n'


def write_config(folder: Path, database_url: str, extra: str = "", delivery: str = "") -> Path:
    """A desk's config: ``delivery`` lines go into ``[delivery]``; ``extra`` (whole tables)
    is appended."""
    authentication = "" if "[authentication]" in extra else AUTHENTICATION
    text = DESK_CONFIG.format(
        database_url=database_url, extra=extra, delivery=delivery, authentication=authentication
    )
    path = folder / "mailproc.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``mailproc.service.cli.main`` configures the root logger, as a program should; undo it after
    each test so no handler outlives the test's captured stderr."""
    root, own = logging.getLogger(), logging.getLogger("mailproc")
    handlers, level, own_level = root.handlers[:], root.level, own.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    own.setLevel(own_level)  # set below info by --log-level debug (service.logs)


@pytest.fixture
def config_path(tmp_path: Path, database_url: str) -> Path:
    """A desk in a temporary folder, on a fresh upgraded database: every test using it runs
    on SQLite (the embedded default) and on PostgreSQL (the multi-worker store)."""
    return write_config(tmp_path, database_url)


@pytest.fixture(scope="module")
def module_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """One desk on SQLite for a whole test module (corpus and fuzz runs: messages of one
    run may thread with each other, and one schema upgrade serves them all)."""
    folder = tmp_path_factory.mktemp("desk")
    app = App(load_config(write_config(folder, "sqlite:///mailproc.db")))
    upgrade(app.engine)
    yield app.start()
    app.engine.dispose()


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
