"""Shared fixtures: a configured desk on a fresh SQLite database, real servers (plugins)."""

from __future__ import annotations

import json
import logging
import os
import time
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
# Other projects' real test mail, beside the repository (MAILPROC_TEST_CORPUS elsewhere).
CORPUS = Path(os.environ.get("MAILPROC_TEST_CORPUS") or REPO.parent / "shared" / "corpus")
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
{calendar}
{extra}
"""
# Our receiving server, as the test desk knows it: mail that it vouches for (an aligned pass
# in its Authentication-Results header: tests.mails.authenticated) has an authentic From.
# A test's own [authentication] table replaces this one.
AUTHENTICATION = f'[authentication]\nauthserv_id = "{AUTHSERV_ID}"\n'
# The test desk works around the clock with no holidays, so that what a test asserts of
# deadlines and reminders holds at any hour it runs; tests of the business calendar
# (test_business_deadlines) give their own [calendar] table, which replaces this one.
AROUND_THE_CLOCK = (
    '[calendar]\nhours = "00:00-24:00"\ncountry = ""\nsubdivision = ""\n'
    'weekdays = ["seg", "ter", "qua", "qui", "sex", "sab", "dom"]\n'
)


def require_corpus() -> None:
    """What a test module or test that reads the corpus calls first. Without the corpus it is
    skipped, and every such skip is raised here, so that they fold into one line of pytest's
    summary (-ra); under CI, where the corpus belongs to the set-up, it fails instead."""
    if CORPUS.is_dir():
        return
    reason = f"the shared mail corpus is not at {CORPUS} (MAILPROC_TEST_CORPUS says where)"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def write_config(folder: Path, database_url: str, extra: str = "", delivery: str = "") -> Path:
    """A desk's config: ``delivery`` lines go into ``[delivery]``; ``extra`` (whole tables)
    is appended."""
    authentication = "" if "[authentication]" in extra else AUTHENTICATION
    calendar = "" if "[calendar]" in extra else AROUND_THE_CLOCK
    text = DESK_CONFIG.format(
        database_url=database_url,
        extra=extra,
        delivery=delivery,
        authentication=authentication,
        calendar=calendar,
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


# -- no process left behind -----------------------------------------------------------------


def process_tree() -> dict[int, list[int]]:
    """Each running process's children, by parent pid, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # ended meanwhile
                continue
            # "pid (command) state ppid ...": the command may hold spaces and parentheses.
            parent = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    return children


def alive(pid: int) -> bool:
    """Running, not a zombie (one that ended and only waits for its parent's wait)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _left_behind() -> set[int]:
    """Python processes working in this repository that their parent left to init: what a
    mailproc command started (forkserver, parse worker, resource tracker) and outlived."""
    found = set()
    for pid in process_tree().get(1, []):
        try:
            in_repo = Path(f"/proc/{pid}/cwd").resolve() == REPO
            python = b"python" in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if in_repo and python and alive(pid):
            found.add(pid)
    return found


_BEFORE_SESSION: set[int] = set()


def pytest_sessionstart(session: pytest.Session) -> None:
    _BEFORE_SESSION.update(_left_behind())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a process a test started outlived it (one xdist worker's end may
    come while another's tests still run: only the controller looks)."""
    if hasattr(session.config, "workerinput"):
        return
    deadline = time.monotonic() + 5
    while (left := _left_behind() - _BEFORE_SESSION) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes()[:100] for pid in sorted(left)]
        print(f"\nprocesses left behind by the tests: {commands}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
