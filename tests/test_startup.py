"""Start-up: each command loads only what it uses, so that a pipe from the MTA (``mailproc
ingest`` per mail) and ``--help`` start fast. What is loaded is checked, never how long it
takes (``python -m bench.startup`` measures that).

Each check runs the command in a child process, which then reports the modules it imported.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from mailproc.outgoing.statuses import STATUSES
from mailproc.resources import shipped_dir
from mailproc.service import cli
from mailproc.storage.db import make_engine
from mailproc.storage.schema import migration_heads, upgrade
from tests.conftest import EXAMPLES, REPO, write_config

# Runs the command line's main as `mailproc` would, then prints, as its last line, the exit
# code and the modules imported.
CLI = """
import json, sys
from mailproc.service.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""

# The schema check of each database named on the command line: its error, or "current".
HEAD_CHECK = """
import json, sys
from mailproc.errors import StoreError
from mailproc.storage.db import make_engine
from mailproc.storage.schema import require_current
errors = []
for url in sys.argv[1:]:
    try:
        require_current(make_engine(url))
        errors.append("current")
    except StoreError as exc:
        errors.append(str(exc))
print("\\n" + json.dumps({"code": errors, "modules": sorted(sys.modules)}))
"""


def run_child(code: str, *args: str, cwd: Path) -> tuple[object, set[str], str]:
    """What ``code`` reported (exit code or errors), the top-level packages and modules it
    imported (and each dotted name), and its whole standard output."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.rstrip().rsplit("\n", 1)[-1])
    modules = set(report["modules"]) | {name.split(".")[0] for name in report["modules"]}
    return report["code"], modules, done.stdout


def test_help_loads_no_database_migrations_or_templates(tmp_path: Path) -> None:
    code, modules, out = run_child(CLI, "--help", cwd=tmp_path)

    assert code == 0
    assert "usage: mailproc" in out and "ingest" in out
    unused = {"sqlalchemy", "alembic", "jinja2"}
    assert modules.isdisjoint(unused), modules & unused


def test_ingest_loads_no_migrations_scheduler_metrics_or_imap(
    tmp_path: Path, sqlite_url: str
) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    engine.dispose()
    config = write_config(tmp_path, sqlite_url)
    message = EXAMPLES / "02-erro-sem-print-sem-passo-a-passo.eml"

    code, modules, out = run_child(
        CLI, "--config", str(config), "ingest", str(message), cwd=tmp_path
    )

    assert code == 0
    assert json.loads(out.strip().split("\n")[0])["outcome"] == "incomplete"
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 1  # its reply, written
    # Neither is a plain-text message that is no bounce: no HTML to text, no bounce scanner.
    unused = {"alembic", "apscheduler", "prometheus_client", "imapclient", "tqdm"}
    unused |= {"inscriptis", "flufl.bounce"}
    assert modules.isdisjoint(unused), modules & unused


def test_schema_check_needs_no_alembic(tmp_path: Path) -> None:
    """The messages are tests/test_store.py's; here, that they come without Alembic."""
    urls = {name: f"sqlite:///{tmp_path / name}.db" for name in ("empty", "behind", "ahead")}
    for name in ("behind", "ahead"):
        engine = make_engine(urls[name])
        upgrade(engine)
        engine.dispose()
    for name, revision in (("behind", "0001"), ("ahead", "9999")):
        connection = sqlite3.connect(tmp_path / f"{name}.db")
        with connection:
            connection.execute("UPDATE alembic_version SET version_num = ?", (revision,))
        connection.close()

    errors, modules, _ = run_child(HEAD_CHECK, *urls.values(), cwd=tmp_path)

    _, (head,) = migration_heads(shipped_dir("migrations") / "versions")
    assert errors == [
        f"database schema is at empty (never upgraded), code needs {head}: "
        "run `mailproc db upgrade`",
        f"database schema is at 0001, code needs {head}: run `mailproc db upgrade`",
        f"database schema is at 9999, unknown to this code (needs {head})",
    ]
    assert "alembic" not in modules


def test_migration_heads_are_alembics() -> None:
    folder = shipped_dir("migrations")
    scripts = ScriptDirectory(str(folder))

    known, heads = migration_heads(folder / "versions")

    assert known == {script.revision for script in scripts.walk_revisions()}
    assert heads == set(scripts.get_heads())


@pytest.mark.parametrize(
    ("down_revisions", "heads"),
    [
        ({"a": None, "b": "a", "c": "a"}, {"b", "c"}),  # two branches
        ({"a": None, "b": "a", "c": "a", "d": ("b", "c")}, {"d"}),  # merged again
    ],
)
def test_migration_heads_of_branches_and_merges(
    tmp_path: Path, down_revisions: dict[str, str | tuple[str, ...] | None], heads: set[str]
) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    for revision, down in down_revisions.items():
        text = f"revision: str = {revision!r}\ndown_revision = {down!r}\n"
        (versions / f"{revision}_step.py").write_text(text)
    (versions / "__init__.py").write_text("")

    assert migration_heads(versions) == (set(down_revisions), heads)
    assert set(ScriptDirectory(str(tmp_path)).get_heads()) == heads


def test_outbox_statuses_of_the_command_line_are_the_outboxs() -> None:
    assert cli.outbox.STATUSES == STATUSES
