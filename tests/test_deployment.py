"""A production deployment: the shipped systemd unit, the state directory, databases opened
only where they are, passwords read only by what connects, and no plaintext to a remote host.

Commands run as the operator runs them: ``mailproc`` in a child process, with only the
environment the test gives it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlalchemy import make_url

from mailproc.config import CONFIG_ENV, DATABASE_URL_ENV, load_config
from mailproc.errors import ConfigError
from mailproc.tls import is_loopback
from tests.conftest import REPO, write_config
from tests.dovecot import DovecotAccount
from tests.mails import REQUESTER, error_report
from tests.smtp_fixtures import SmtpTestServer

UNIT = REPO / "deploy" / "mailproc.service"
WEB_UNIT = REPO / "deploy" / "mailproc-web.service"
# Each shipped unit, and the command it runs.
UNITS = [pytest.param(UNIT, "run", id="mailproc"), pytest.param(WEB_UNIT, "web", id="web")]
# Where the unit expects the installed command (README: a venv in /opt/mailproc).
INSTALLED_COMMAND = "/opt/mailproc/.venv/bin/mailproc"

IMAP_PASSWORD_ENV = "MAILPROC_TEST_DEPLOY_IMAP_PASSWORD"
SMTP_PASSWORD_ENV = "MAILPROC_TEST_DEPLOY_SMTP_PASSWORD"
DB_PASSWORD_ENV = "MAILPROC_TEST_DEPLOY_DB_PASSWORD"


def mailproc(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``mailproc --config CONFIG ARGS`` in a child process, with this test's password
    variables only when ``env`` gives them."""
    ours = (IMAP_PASSWORD_ENV, SMTP_PASSWORD_ENV, DB_PASSWORD_ENV, DATABASE_URL_ENV, CONFIG_ENV)
    base = {k: v for k, v in os.environ.items() if k not in ours}
    done = subprocess.run(
        [sys.executable, "-m", "mailproc", "--config", str(config), *args],
        cwd=config.parent, env=base | (env or {}),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done


# -- the systemd unit -----------------------------------------------------------------------


@pytest.mark.parametrize(("unit", "command"), UNITS)
def test_the_shipped_unit_is_hardened_and_runs_the_installed_command(
    unit: Path, command: str
) -> None:
    settings: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)

    assert settings["ExecStart"] == [
        f"{INSTALLED_COMMAND} --config /etc/mailproc/config.toml {command}"
    ]
    # systemd reads a comment on this line as part of the path (issue 18).
    assert settings["EnvironmentFile"] == ["-/etc/mailproc/env"]
    for key, value in {
        "ProtectSystem": "strict",
        "StateDirectory": "mailproc",
        "User": "mailproc",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "Restart": "on-failure",
        "KillSignal": "SIGTERM",
    }.items():
        assert settings[key] == [value], key
    assert "ReadWritePaths" not in settings  # StateDirectory= is the only place it writes


@pytest.mark.parametrize(("unit", "command"), UNITS)
def test_the_shipped_unit_passes_systemd_analyze_verify(
    tmp_path: Path, unit: Path, command: str
) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        message = "systemd-analyze is missing: run scripts/install-test-deps as root"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # verify checks that ExecStart's program exists and is executable; /opt/mailproc is not
    # installed here, so a copy of the unit points at a `mailproc` launcher for this Python.
    launcher = tmp_path / "bin" / "mailproc"
    launcher.parent.mkdir()
    launcher.write_text(
        f"#!{sys.executable}\nimport runpy\nrunpy.run_module('mailproc', run_name='__main__')\n"
    )
    launcher.chmod(0o755)
    text = unit.read_text()
    assert INSTALLED_COMMAND in text
    copy = tmp_path / unit.name
    copy.write_text(text.replace(INSTALLED_COMMAND, str(launcher)))

    done = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )

    # Lines about other units (the host's own, which verify loads too) are not ours to fix.
    ours = [line for line in done.stderr.splitlines() if "mailproc" in line]
    assert done.returncode == 0 and not ours, done.stderr


# -- the state directory --------------------------------------------------------------------


def with_paths(config: Path, **paths: str) -> Path:
    """The config with these ``[paths]`` keys set."""
    table = "".join(f'{key} = "{value}"\n' for key, value in paths.items())
    config.write_text(config.read_text().replace("[database]", f"[paths]\n{table}\n[database]"))
    return config


def test_state_paths_resolve_under_the_state_folder_and_the_rest_beside_the_config(
    tmp_path: Path,
) -> None:
    etc, state = tmp_path / "etc", tmp_path / "var-lib"
    etc.mkdir()
    (etc / "rules").mkdir()
    config = with_paths(write_config(etc, "sqlite:///mailproc.db"), state=str(state), rules="rules")

    loaded = load_config(config)

    assert make_url(loaded.database_url).database == str(state / "mailproc.db")
    assert loaded.delivery.outbox_maildir == state / "outbox"
    assert loaded.maildirs[0].path == state / "inbox"
    assert loaded.rules_dir == etc / "rules"  # configuration, not state


def test_the_default_database_and_outbox_are_in_the_state_folder(tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = tmp_path / "minimal.toml"
    config.write_text(f'[desk]\naddress = "suporte@x.gov.br"\n\n[paths]\nstate = "{state}"\n')

    loaded = load_config(config)

    assert loaded.database_url == f"sqlite:///{state / 'mailproc.db'}"
    assert loaded.delivery.outbox_maildir == state / "outbox"


def test_without_a_state_folder_state_paths_stay_beside_the_config(tmp_path: Path) -> None:
    loaded = load_config(write_config(tmp_path, "sqlite:///mailproc.db"))

    assert make_url(loaded.database_url).database == str(tmp_path / "mailproc.db")
    assert loaded.delivery.outbox_maildir == tmp_path / "outbox"


def test_a_relative_state_folder_is_relative_to_the_config(tmp_path: Path) -> None:
    config = with_paths(write_config(tmp_path, "sqlite:///mailproc.db"), state="var")

    loaded = load_config(config)

    assert make_url(loaded.database_url).database == str(tmp_path / "var" / "mailproc.db")
    assert loaded.delivery.outbox_maildir == tmp_path / "var" / "outbox"


def test_the_example_config_keeps_its_state_in_var_beside_it() -> None:
    """`make demo` runs on config.example.toml: its mail and database in the checkout's var/."""
    loaded = load_config(REPO / "config.example.toml")

    assert make_url(loaded.database_url).database == str(REPO / "var" / "mailproc.db")
    assert loaded.delivery.outbox_maildir == REPO / "var" / "outbox"
    assert [s.path for s in loaded.maildirs] == [REPO / "var" / "inbox"]


def test_db_upgrade_creates_the_database_in_the_state_folder_only(tmp_path: Path) -> None:
    etc, state = tmp_path / "etc", tmp_path / "state"
    etc.mkdir()
    config = with_paths(write_config(etc, "sqlite:///mailproc.db"), state=str(state))

    done = mailproc(config, "db", "upgrade")

    assert done.returncode == 0, done.stderr
    assert (state / "mailproc.db").is_file()
    assert sorted(p.name for p in etc.iterdir()) == ["mailproc.toml"]


# -- read-only commands create no database --------------------------------------------------

ON_A_MISSING_DATABASE = [
    ("tickets", "list"),
    ("tickets", "show", "2026-000001"),
    ("outbox", "list"),
    ("ingest", "message.eml"),  # processing mail needs `db upgrade` first, as before
    ("poll", "--once"),
]


@pytest.mark.parametrize("command", ON_A_MISSING_DATABASE, ids=" ".join)
def test_a_command_on_a_missing_database_creates_nothing_and_says_what_to_do(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    config = write_config(tmp_path, "sqlite:///state/mailproc.db")
    (tmp_path / "message.eml").write_bytes(error_report())
    before = sorted(tmp_path.iterdir())

    done = mailproc(config, *command)

    assert done.returncode == 3, done.stderr
    database = tmp_path / "state" / "mailproc.db"
    assert f"no database at {database}: run `mailproc db upgrade`" in done.stderr
    assert sorted(tmp_path.iterdir()) == before  # no file, no folder


@pytest.mark.parametrize(
    "command", [("rules", "check"), ("rules", "test", "message.eml")], ids=" ".join
)
def test_commands_that_need_no_database_run_without_one_and_create_none(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    config = write_config(tmp_path, "sqlite:///state/mailproc.db")
    (tmp_path / "message.eml").write_bytes(error_report())
    before = sorted(tmp_path.iterdir())

    done = mailproc(config, *command)

    assert done.returncode == 0, done.stderr
    assert sorted(tmp_path.iterdir()) == before


def test_rules_test_needs_no_database_for_the_key_that_signs_replies(tmp_path: Path) -> None:
    """Without reply_key_env the signing key lives in the database: the trial makes its own."""
    config = write_config(tmp_path, "sqlite:///state/mailproc.db")
    config.write_text(config.read_text().replace('reply_key_env = "MAILPROC_TEST_REPLY_KEY"', ""))
    (tmp_path / "message.eml").write_bytes(error_report())
    before = sorted(tmp_path.iterdir())

    done = mailproc(config, "rules", "test", "message.eml")

    assert done.returncode == 0, done.stderr
    assert "created" in [reply["template"] for reply in json.loads(done.stdout)["replies"]]
    assert sorted(tmp_path.iterdir()) == before


def test_status_on_a_missing_database_reports_it_and_creates_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///state/mailproc.db")

    done = mailproc(config, "status", "--json")

    assert done.returncode == 1  # unhealthy: status is a health check
    database = tmp_path / "state" / "mailproc.db"
    assert json.loads(done.stdout)["database"] == (
        f"no database at {database}: run `mailproc db upgrade`"
    )
    assert not (tmp_path / "state").exists()


# -- passwords only where they are needed ---------------------------------------------------


def imap_table(
    host: str,
    port: int,
    *,
    name: str = "suporte",
    user: str = "suporte",
    password_env: str = IMAP_PASSWORD_ENV,
) -> str:
    return f"""
[[imap]]
name = "{name}"
host = "{host}"
port = {port}
tls = "none"
user = "{user}"
password_env = "{password_env}"
timeout_seconds = 5
"""


def smtp_table(host: str, port: int) -> str:
    return f"""
[smtp]
host = "{host}"
port = {port}
tls = "none"
user = "suporte"
password_env = "{SMTP_PASSWORD_ENV}"
timeout_seconds = 5
"""


def sources(host: str, imap_port: int = 143, smtp_port: int = 25) -> str:
    return imap_table(host, imap_port) + smtp_table(host, smtp_port)


@pytest.mark.parametrize(
    "command",
    [
        ("tickets", "list"),
        ("outbox", "list"),
        ("rules", "check"),
        ("rules", "test", "message.eml"),
        ("db", "upgrade"),
    ],
    ids=" ".join,
)
def test_commands_that_connect_to_no_mail_server_run_without_the_password_variables(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    config = write_config(tmp_path, "sqlite:///mailproc.db", sources("127.0.0.1", 1, 1))
    assert mailproc(config, "db", "upgrade").returncode == 0
    (tmp_path / "message.eml").write_bytes(error_report())

    done = mailproc(config, *command)

    assert done.returncode == 0, done.stderr
    assert "configuration error" not in done.stderr


def test_status_offline_runs_without_the_password_variables(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///mailproc.db", sources("127.0.0.1", 1, 1))
    assert mailproc(config, "db", "upgrade").returncode == 0

    done = mailproc(config, "status", "--offline", "--json")

    assert "configuration error" not in done.stderr
    status = json.loads(done.stdout)
    assert status["database"] == "ok"
    assert status["mailboxes"][0]["name"] == "suporte"
    assert not any("password" in problem for problem in status["problems"])


@pytest.mark.servers
def test_a_mailbox_without_its_password_variable_fails_alone(
    tmp_path: Path, dovecot: DovecotAccount, smtp_server: SmtpTestServer
) -> None:
    smtp_server.set_login("suporte", "senha-smtp")
    host, port, user = dovecot.host, dovecot.port, dovecot.user
    unset = "MAILPROC_TEST_DEPLOY_UNSET"
    mailboxes = imap_table(host, port, user=user) + imap_table(
        host, port, user=user, name="sem-senha", password_env=unset
    )
    extra = mailboxes + smtp_table(smtp_server.host, smtp_server.port)
    config = write_config(tmp_path, "sqlite:///mailproc.db", extra)
    assert mailproc(config, "db", "upgrade").returncode == 0
    dovecot.append("INBOX", error_report())
    env = {IMAP_PASSWORD_ENV: dovecot.password, SMTP_PASSWORD_ENV: "senha-smtp"}

    done = mailproc(config, "poll", "--once", "--json", env=env)

    assert done.returncode == 1  # one mailbox could not be read...
    report = json.loads(done.stdout)
    assert report["processed"] == 1  # ...the other was, and its reply sent
    requester = parseaddr(REQUESTER)[1]
    assert requester in {to for mail in smtp_server.messages for to in mail.recipients}
    assert list(report["errors"]) == ["sem-senha"]
    assert (
        f"{config}: imap[1].password_env: environment variable {unset} is not set"
        in report["errors"]["sem-senha"]
    )


@pytest.mark.servers
def test_replies_wait_in_the_outbox_until_the_smtp_password_variable_is_set(
    tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    smtp_server.set_login("suporte", "senha-smtp")
    config = write_config(
        tmp_path,
        "sqlite:///mailproc.db",
        smtp_table(smtp_server.host, smtp_server.port),
        delivery="retry_base_seconds = 1",
    )
    assert mailproc(config, "db", "upgrade").returncode == 0
    (tmp_path / "message.eml").write_bytes(error_report())

    done = mailproc(config, "ingest", "message.eml")

    assert done.returncode == 0, done.stderr  # the message is processed; its reply waits
    assert smtp_server.messages == []
    waiting = json.loads(mailproc(config, "outbox", "list", "--json").stdout)
    assert waiting  # the reply, and the copy to the theme's area
    unset = f"smtp.password_env: environment variable {SMTP_PASSWORD_ENV} is not set"
    for mail in waiting:
        assert mail["status"] == "pending"
        assert unset in mail["last_error"]

    time.sleep(1.5)  # past the retry's backoff
    done = mailproc(config, "poll", "--once", env={SMTP_PASSWORD_ENV: "senha-smtp"})
    assert done.returncode == 0, done.stderr
    assert len(smtp_server.messages) == len(waiting)


# -- the database password ------------------------------------------------------------------


@pytest.mark.servers
def test_the_database_password_comes_from_its_variable_and_is_never_shown(
    tmp_path: Path, postgres_url: str
) -> None:
    url = make_url(postgres_url)
    password = url.password
    assert password, "the tests' PostgreSQL role logs in with a password"
    # URL.set(password=None) keeps the password: None means "unchanged" there.
    without = url._replace(password=None).render_as_string(hide_password=False)
    config = write_config(tmp_path, without)
    config.write_text(
        config.read_text().replace(
            f'url = "{without}"', f'url = "{without}"\npassword_env = "{DB_PASSWORD_ENV}"'
        )
    )
    env = {DB_PASSWORD_ENV: str(password)}

    upgraded = mailproc(config, "db", "upgrade", env=env)
    listed = mailproc(config, "tickets", "list", env=env)
    wrong = mailproc(config, "tickets", "list", env={DB_PASSWORD_ENV: "not-the-password"})
    unset = mailproc(config, "tickets", "list")
    rules = mailproc(config, "rules", "check")
    (tmp_path / "message.eml").write_bytes(error_report())
    trial = mailproc(config, "rules", "test", "message.eml")  # on a database of its own

    assert upgraded.returncode == 0, upgraded.stderr
    # The password is given to the driver, never put into the URL that is shown.
    assert f"database at head: postgresql+psycopg://{url.username}@{url.host}" in upgraded.stdout
    assert listed.returncode == 0, listed.stderr
    assert wrong.returncode == 3 and "password authentication failed" in wrong.stderr
    assert unset.returncode == 2
    assert (
        f"database.password_env: environment variable {DB_PASSWORD_ENV} is not set" in unset.stderr
    )
    assert rules.returncode == 0, rules.stderr  # no database: no password needed
    assert trial.returncode == 0, trial.stderr
    for done in (upgraded, listed, wrong, unset, rules, trial):  # the tests' role is its password
        assert f":{password}@" not in done.stdout + done.stderr


def test_a_database_password_given_twice_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, "postgresql://desk:secret@db.example/desk")
    config.write_text(
        config.read_text().replace("[database]", f'[database]\npassword_env = "{DB_PASSWORD_ENV}"')
    )

    with pytest.raises(ConfigError, match=r"database\.password_env: .*the url carries a password"):
        load_config(config)


# -- no plaintext to a remote host ----------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("10.0.0.5", False),
        ("imap.example.gov.br", False),
        ("localhost.example.gov.br", False),
        ("::ffff:10.0.0.5", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("table", ["imap", "smtp"])
def test_plaintext_to_a_remote_host_is_refused_with_what_to_do(tmp_path: Path, table: str) -> None:
    config = write_config(tmp_path, "sqlite:///mailproc.db", sources("mail.example.gov.br"))
    key = "imap[0].tls" if table == "imap" else "smtp.tls"
    if table == "smtp":  # the IMAP table allowed, so that the SMTP one is the one refused
        config.write_text(
            config.read_text().replace(
                'name = "suporte"', 'name = "suporte"\nallow_plaintext = true'
            )
        )

    with pytest.raises(ConfigError) as refused:
        load_config(config)

    assert refused.value.key == key
    assert "mail.example.gov.br" in refused.value.reason
    assert '"ssl" or "starttls"' in refused.value.reason
    assert "allow_plaintext = true" in refused.value.reason


def test_plaintext_to_a_remote_host_is_accepted_when_explicitly_allowed(tmp_path: Path) -> None:
    extra = sources("mail.example.gov.br").replace(
        'tls = "none"', 'tls = "none"\nallow_plaintext = true'
    )

    loaded = load_config(write_config(tmp_path, "sqlite:///mailproc.db", extra))

    assert loaded.imap[0].settings.tls == "none"
    assert loaded.smtp is not None and loaded.smtp.tls == "none"


def test_plaintext_to_loopback_needs_no_permission(tmp_path: Path) -> None:
    loaded = load_config(write_config(tmp_path, "sqlite:///mailproc.db", sources("::1")))

    assert loaded.imap[0].settings.tls == "none"
