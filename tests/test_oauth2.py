"""OAuth 2.0 logins: the token cache, the client credentials grant, and IMAP and SMTP logins
against a real Dovecot (oauth2 passdb) and SMTP listener, checked by a real token endpoint."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine

from mailproc.config import load_config
from mailproc.errors import ConfigError, DeliveryError, OAuthError
from mailproc.oauth2 import OAuth2Settings, token_cache
from mailproc.oauth2.generic import ClientCredentials
from mailproc.oauth2.tokens import Token, TokenCache
from mailproc.outgoing.delivery import SmtpSender
from mailproc.sources.imap import ImapMailbox, ImapSettings, ImapUnavailable
from mailproc.storage.db import make_engine
from mailproc.storage.schema import upgrade
from tests.conftest import write_config
from tests.e2e import Batch, Desk, message_id, wait_for

if TYPE_CHECKING:  # imported by pytest_plugins at run time, so that pytest rewrites its asserts
    from tests.dovecot import DovecotAccount
    from tests.oauth_fixtures import TokenEndpoint
    from tests.smtp_fixtures import SmtpTestServer

pytest_plugins = ["tests.dovecot", "tests.oauth_fixtures", "tests.smtp_fixtures"]
pytestmark = pytest.mark.servers

SECRET_ENV = "MAILPROC_TEST_OAUTH_SECRET"
MAIL = b"From: a@example.gov.br\r\nTo: suporte@example.gov.br\r\nSubject: teste\r\n\r\nOi.\r\n"


class Counting:
    """A Fetcher handing out numbered tokens that live ``lifetime``."""

    def __init__(self, lifetime: timedelta) -> None:
        self.lifetime, self.calls = lifetime, 0

    def fetch(self) -> Token:
        self.calls += 1
        return Token(f"token{self.calls}", datetime.now(UTC) + self.lifetime)


# -- the token cache (pure) --------------------------------------------------------------------


def test_a_token_is_reused_while_it_has_more_than_its_refresh_margin_left() -> None:
    fetcher = Counting(timedelta(hours=1))
    cache = TokenCache(fetcher)
    assert [cache.token(), cache.token()] == ["token1", "token1"]
    assert fetcher.calls == 1


def test_a_token_inside_its_refresh_margin_is_replaced_before_it_expires() -> None:
    # Thirty seconds left of a one-hour token is inside the 60-second margin.
    fetcher = Counting(timedelta(seconds=30))
    cache = TokenCache(fetcher)
    cache.token()
    fetcher.lifetime = timedelta(hours=1)
    assert cache.token() == "token1"  # 30 s life: margin is a tenth, 3 s; still good
    fetcher.lifetime = timedelta(seconds=-1)
    cache.renew()  # token2, already expired
    assert cache.token() == "token3"
    assert fetcher.calls == 3


def test_renew_fetches_a_new_token_even_when_the_cached_one_looks_good() -> None:
    fetcher = Counting(timedelta(hours=1))
    cache = TokenCache(fetcher)
    cache.token()
    assert cache.renew() == "token2"
    assert cache.token() == "token2"


# -- configuration -----------------------------------------------------------------------------


def config_with(tmp_path: Path, extra: str) -> Path:
    return write_config(tmp_path, "sqlite:///mailproc.db", textwrap.dedent(extra))


GENERIC = """
[oauth2.keycloak]
provider = "generic"
token_url = "https://sso.example.gov.br/realms/rj/protocol/openid-connect/token"
client_id = "mailproc"
secret_env = "MAILPROC_TEST_OAUTH_SECRET"
scope = "email"

[[imap]]
host = "imap.example.gov.br"
user = "suporte@example.gov.br"
auth = "oauth2"
oauth2 = "keycloak"

[smtp]
host = "smtp.example.gov.br"
user = "suporte@example.gov.br"
auth = "oauth2"
oauth2 = "keycloak"
"""


def test_imap_and_smtp_naming_one_oauth2_table_share_its_tokens(tmp_path: Path) -> None:
    # Loaded without the secret's variable: it is read only when a token is asked for.
    config = load_config(config_with(tmp_path, GENERIC))
    assert config.smtp is not None
    tokens = config.imap[0].settings.oauth2
    assert tokens is not None and tokens is config.smtp.oauth2


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (('oauth2 = "keycloak"', 'oauth2 = "azure"'), "imap[0].oauth2", "names no [oauth2.NAME]"),
        (('client_id = "mailproc"', ""), "oauth2.keycloak.client_id", "is required"),
        (('provider = "generic"', 'provider = "okta"'), "oauth2.keycloak.provider", "one of"),
        (
            ('secret_env = "MAILPROC_TEST_OAUTH_SECRET"', 'secret = "x"'),
            "oauth2.keycloak.secret",
            "use secret_env",
        ),
        (("https://sso", "http://sso"), "oauth2.keycloak.token_url", "https"),
        (
            ('oauth2 = "keycloak"\n\n[smtp]', 'oauth2 = "keycloak"\npassword_env = "X"\n\n[smtp]'),
            "imap[0].password_env",
            "token",
        ),
    ],
)
def test_oauth2_mistakes_name_the_key(
    tmp_path: Path, change: tuple[str, str], key: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(config_with(tmp_path, GENERIC.replace(*change, 1)))
    assert caught.value.key == key
    assert reason in caught.value.reason


def test_microsoft_and_google_tables_load_without_their_libraries_or_secrets(
    tmp_path: Path,
) -> None:
    config = load_config(
        config_with(
            tmp_path,
            """
            [oauth2.m365]
            provider = "microsoft"
            tenant = "contoso.onmicrosoft.com"
            client_id = "11111111-2222-3333-4444-555555555555"
            secret_env = "MAILPROC_TEST_OAUTH_SECRET"

            [oauth2.workspace]
            provider = "google"
            key_file = "service-account.json"
            subject = "suporte@example.gov.br"

            [[imap]]
            host = "outlook.office365.com"
            user = "suporte@example.gov.br"
            auth = "oauth2"
            oauth2 = "m365"

            [[imap]]
            name = "google"
            host = "imap.gmail.com"
            user = "suporte@example.gov.br"
            auth = "oauth2"
            oauth2 = "workspace"
            """,
        )
    )
    assert [source.settings.oauth2 is not None for source in config.imap] == [True, True]


@pytest.mark.parametrize(
    ("keys", "key"),
    [
        ("", "oauth2.m365.secret_env"),  # neither secret nor certificate
        ('secret_env = "S"\ncertificate = "app.pem"\nthumbprint = "AB"', "oauth2.m365.secret_env"),
        ('certificate = "app.pem"', "oauth2.m365.thumbprint"),
        ('secret_env = "S"\ntoken_url = "https://x"', "oauth2.m365.token_url"),  # generic's key
    ],
)
def test_a_microsoft_app_proves_itself_by_a_secret_or_a_certificate(
    tmp_path: Path, keys: str, key: str
) -> None:
    table = f'[oauth2.m365]\nprovider = "microsoft"\ntenant = "t"\nclient_id = "c"\n{keys}\n'
    with pytest.raises(ConfigError) as caught:
        load_config(config_with(tmp_path, table))
    assert caught.value.key == key


# -- the client credentials grant against a real endpoint --------------------------------------


def registered(endpoint: TokenEndpoint, user: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A client of ``endpoint`` with tokens for ``user``, its secret in SECRET_ENV."""
    client_id = f"client-{user}"
    monkeypatch.setenv(SECRET_ENV, endpoint.register(client_id, user))
    return client_id


def cache_for(endpoint: TokenEndpoint, client_id: str) -> TokenCache:
    from mailproc.credentials import PasswordEnv

    secret = PasswordEnv(SECRET_ENV, "mailproc.toml", "oauth2.test.secret_env")
    return token_cache(
        OAuth2Settings(
            name="test",
            provider="generic",
            token_url=endpoint.token_url,
            client_id=client_id,
            secret=secret,
            scope="email",
        )
    )


def test_client_credentials_get_a_token_the_endpoint_recognises(
    token_endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id = registered(token_endpoint, "ana", monkeypatch)
    token = cache_for(token_endpoint, client_id).token()
    assert token_endpoint.introspect("ana", token)


def test_a_revoked_client_fails_with_the_providers_reason_and_no_secret(
    token_endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id = registered(token_endpoint, "bia", monkeypatch)
    token_endpoint.revoke(client_id)
    fetcher = ClientCredentials(token_endpoint.token_url, client_id, "the-secret", "email")
    with pytest.raises(OAuthError) as caught:
        fetcher.fetch()
    assert "HTTP 401: invalid_client" in caught.value.reason
    assert "the-secret" not in str(caught.value)
    assert not caught.value.retryable


# -- IMAP --------------------------------------------------------------------------------------


def imap_settings(account: DovecotAccount, tokens: TokenCache) -> ImapSettings:
    return ImapSettings(
        name="suporte",
        host=account.host,
        port=account.port,
        tls="none",
        user=account.user,
        password="",
        oauth2=tokens,
    )


def test_imap_logs_in_with_a_token_and_reads_mail(
    oauth2_dovecot: DovecotAccount, token_endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    oauth2_dovecot.append("INBOX", MAIL)
    client_id = registered(token_endpoint, oauth2_dovecot.user, monkeypatch)
    with ImapMailbox(imap_settings(oauth2_dovecot, cache_for(token_endpoint, client_id))) as box:
        assert [fetched.raw for fetched in box.fetch_new(None)] == [MAIL]
    assert "method=XOAUTH2" in oauth2_dovecot.server.log_tail()


def test_imap_logs_in_by_oauthbearer_where_xoauth2_is_not_offered(
    oauthbearer_dovecot: DovecotAccount,
    token_endpoint: TokenEndpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oauthbearer_dovecot.append("INBOX", MAIL)
    client_id = registered(token_endpoint, oauthbearer_dovecot.user, monkeypatch)
    tokens = cache_for(token_endpoint, client_id)
    with ImapMailbox(imap_settings(oauthbearer_dovecot, tokens)) as box:
        assert [fetched.raw for fetched in box.fetch_new(None)] == [MAIL]
    assert "method=OAUTHBEARER" in oauthbearer_dovecot.server.log_tail()


def test_imap_renews_a_refused_token_once(
    oauth2_dovecot: DovecotAccount, token_endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id = registered(token_endpoint, oauth2_dovecot.user, monkeypatch)
    tokens = cache_for(token_endpoint, client_id)
    tokens.token()
    token_endpoint.expire(client_id)  # the cached token looks good but is no longer active
    with ImapMailbox(imap_settings(oauth2_dovecot, tokens)) as box:
        assert box.connected
    assert token_endpoint.requests(client_id) == 2


def test_imap_with_a_revoked_client_fails_like_a_wrong_password(
    oauth2_dovecot: DovecotAccount, token_endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id = registered(token_endpoint, oauth2_dovecot.user, monkeypatch)
    tokens = cache_for(token_endpoint, client_id)
    tokens.token()
    token_endpoint.revoke(client_id)
    with pytest.raises(ImapUnavailable) as caught:
        ImapMailbox(imap_settings(oauth2_dovecot, tokens)).__enter__()
    assert "login: token refused, and no new one" in caught.value.reason
    assert "invalid_client" in caught.value.reason
    assert not caught.value.retryable


def test_an_unset_secret_variable_fails_the_login_naming_the_key_as_for_a_password(
    oauth2_dovecot: DovecotAccount,
    smtp_server: SmtpTestServer,
    token_endpoint: TokenEndpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_id = registered(token_endpoint, oauth2_dovecot.user, monkeypatch)
    monkeypatch.delenv(SECRET_ENV)
    tokens = cache_for(token_endpoint, client_id)
    with pytest.raises(ImapUnavailable) as imap:
        ImapMailbox(imap_settings(oauth2_dovecot, tokens)).__enter__()
    with pytest.raises(DeliveryError) as smtp:
        smtp_sender(smtp_server, tokens).send(MAIL, "suporte@example.gov.br", ["a@example.gov.br"])
    unset = f"oauth2.test.secret_env: environment variable {SECRET_ENV} is not set"
    assert unset in imap.value.reason and unset in smtp.value.reason
    assert not smtp.value.permanent  # the reply waits in the outbox for the variable
    assert token_endpoint.requests(client_id) == 0


def test_a_token_for_another_user_is_refused(
    oauth2_dovecot: DovecotAccount, token_endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    client_id = registered(token_endpoint, "someone-else", monkeypatch)
    with pytest.raises(ImapUnavailable) as caught:
        ImapMailbox(imap_settings(oauth2_dovecot, cache_for(token_endpoint, client_id))).__enter__()
    assert "login refused" in caught.value.reason
    assert token_endpoint.requests(client_id) == 2  # renewed once, then given up


# -- SMTP --------------------------------------------------------------------------------------


def smtp_sender(server: SmtpTestServer, tokens: TokenCache) -> SmtpSender:
    return SmtpSender(server.host, server.port, "none", "suporte", None, oauth2=tokens)


def test_smtp_sends_with_auth_xoauth2(
    smtp_server: SmtpTestServer, token_endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.accept_tokens(token_endpoint.introspect)
    client_id = registered(token_endpoint, "suporte", monkeypatch)
    smtp_sender(smtp_server, cache_for(token_endpoint, client_id)).send(
        MAIL, "suporte@example.gov.br", ["a@example.gov.br"]
    )
    assert [mail.recipients for mail in smtp_server.messages] == [("a@example.gov.br",)]


def test_smtp_renews_a_refused_token_once(
    smtp_server: SmtpTestServer, token_endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.accept_tokens(token_endpoint.introspect)
    client_id = registered(token_endpoint, "suporte", monkeypatch)
    tokens = cache_for(token_endpoint, client_id)
    tokens.token()
    token_endpoint.expire(client_id)
    smtp_sender(smtp_server, tokens).send(MAIL, "suporte@example.gov.br", ["a@example.gov.br"])
    assert len(smtp_server.messages) == 1
    assert token_endpoint.requests(client_id) == 2


def test_smtp_with_a_revoked_client_fails_for_good_and_sends_nothing(
    smtp_server: SmtpTestServer, token_endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp_server.accept_tokens(token_endpoint.introspect)
    client_id = registered(token_endpoint, "suporte", monkeypatch)
    tokens = cache_for(token_endpoint, client_id)
    tokens.token()
    token_endpoint.revoke(client_id)
    with pytest.raises(DeliveryError) as caught:
        smtp_sender(smtp_server, tokens).send(MAIL, "suporte@example.gov.br", ["a@example.gov.br"])
    assert "invalid_client" in caught.value.reason
    assert caught.value.permanent
    assert smtp_server.messages == []


# -- the whole desk: poll --once and run, across token expiries --------------------------------

DESK_SOURCES = """
[oauth2.idp]
provider = "generic"
token_url = "{token_url}"
client_id = "{client_id}"
secret_env = "{secret_env}"
scope = "email"

[[imap]]
name = "suporte"
host = "{imap_host}"
port = {imap_port}
tls = "none"
user = "{user}"
auth = "oauth2"
oauth2 = "idp"
poll_seconds = 2
idle = true
timeout_seconds = 10

[smtp]
host = "{smtp_host}"
port = {smtp_port}
tls = "none"
user = "{user}"
auth = "oauth2"
oauth2 = "idp"
from_address = "suporte@compras.example.gov.br"
timeout_seconds = 10

[scheduler]
outbox_seconds = 1
"""


@pytest.fixture
def oauth_desk(
    tmp_path: Path,
    oauth2_dovecot: DovecotAccount,
    smtp_server: SmtpTestServer,
    token_endpoint: TokenEndpoint,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Desk, str]]:
    """A desk reading ``oauth2_dovecot`` and sending to ``smtp_server`` with tokens of a client
    of ``token_endpoint`` (its secret in the environment the desk's processes inherit)."""
    client_id = registered(token_endpoint, oauth2_dovecot.user, monkeypatch)
    smtp_server.accept_tokens(token_endpoint.introspect)
    sources = DESK_SOURCES.format(
        token_url=token_endpoint.token_url, client_id=client_id, secret_env=SECRET_ENV,
        imap_host=oauth2_dovecot.host, imap_port=oauth2_dovecot.port, user=oauth2_dovecot.user,
        smtp_host=smtp_server.host, smtp_port=smtp_server.port,
    )  # fmt: skip
    config = write_config(tmp_path, "sqlite:///mailproc.db", sources)
    url = load_config(config).database_url
    schema = make_engine(url)
    upgrade(schema)
    schema.dispose()
    engine = create_engine(url, connect_args={"timeout": 10})
    desk = Desk(config, oauth2_dovecot, smtp_server, "", engine)
    yield desk, client_id
    desk.end_children()
    engine.dispose()


def test_poll_once_reads_and_answers_mail_with_tokens_that_never_reach_the_log(
    oauth_desk: tuple[Desk, str], token_endpoint: TokenEndpoint
) -> None:
    desk, client_id = oauth_desk
    batch = Batch.of(3)
    desk.imap.append_many("INBOX", batch.raws)

    done = subprocess.run(
        desk.command("--log-level", "debug", "poll", "--once", "--json"),
        env=desk.env,
        capture_output=True,
        check=False,
    )

    log = done.stderr.decode()
    assert done.returncode == 0, log
    assert desk.outcomes() == batch.expected
    assert desk.replies_per_message() == Counter(batch.answered)
    tokens = token_endpoint.issued(client_id)
    assert tokens and os.environ[SECRET_ENV] not in log
    for token in tokens:  # as it is, and as the SASL XOAUTH2 answer carries it
        sasl = f"user={desk.imap.user}\x01auth=Bearer {token}\x01\x01"
        assert token not in log and base64.b64encode(sasl.encode()).decode() not in log


def test_a_revoked_client_is_a_clear_failure_in_the_report_and_in_status(
    oauth_desk: tuple[Desk, str], token_endpoint: TokenEndpoint
) -> None:
    desk, client_id = oauth_desk
    token_endpoint.revoke(client_id)
    waiting, local = Batch.of(2).raws
    desk.imap.append("INBOX", waiting)
    new = desk.maildir / "new"  # the desk's other source goes on
    new.mkdir(parents=True, exist_ok=True)
    (new / "local.eml").write_bytes(local)

    poll = desk.poll()

    assert poll.returncode == 1
    error = poll.report["errors"]["suporte"]
    assert "login" in error and "HTTP 401: invalid_client: client refused" in error
    assert desk.outcomes() == {message_id(local): "created"}
    assert desk.folder_ids("INBOX") == [message_id(waiting)]
    assert desk.replies() == []  # the relay's token is the revoked client's too
    status = subprocess.run(
        desk.command("status", "--json"), env=desk.env, capture_output=True, check=False
    )
    assert "invalid_client" in status.stdout.decode(), status.stderr.decode()
    secret = os.environ[SECRET_ENV]
    assert secret not in poll.stderr + status.stdout.decode() + status.stderr.decode()


@pytest.mark.slow
def test_run_with_idle_answers_every_mail_once_across_token_expiries(
    oauth_desk: tuple[Desk, str], token_endpoint: TokenEndpoint
) -> None:
    desk, client_id = oauth_desk
    token_endpoint.lifetime = 2.0
    batch = Batch.of(6)
    child = desk.spawn("--log-level", "info", "run")
    assert wait_for(lambda: "Processados" in desk.imap.folders(), 30, step=0.2), desk.output(child)

    kicked = 0
    for raw in batch.raws:
        time.sleep(1.5)  # past a token's life every other mail
        # As Exchange Online does when a login's token runs out: the session is ended.
        kicked += desk.imap.server.kick(desk.imap.user)
        desk.imap.append("INBOX", raw)
    answered = wait_for(lambda: desk.outcomes() == batch.expected, 30, step=0.2)
    assert wait_for(lambda: len(desk.replies()) >= len(batch.answered), 15, step=0.2)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == 0, desk.output(child)

    assert answered, desk.output(child)
    assert desk.replies_per_message() == Counter(batch.answered)
    assert desk.imap.messages("INBOX") == []
    assert kicked >= 3 and token_endpoint.requests(client_id) >= 4, desk.output(child)
    print(
        f"run across token expiries: {len(batch.raws)} mails, {len(batch.answered)} answered"
        f" once each, {kicked} sessions ended, {token_endpoint.requests(client_id)} tokens"
    )


@pytest.mark.parametrize("command", [("rules", "check"), ("status", "--offline", "--json")])
def test_commands_that_connect_nowhere_run_without_the_oauth2_secret(
    tmp_path: Path, command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    config = config_with(tmp_path, GENERIC)
    env = {k: v for k, v in os.environ.items() if k != "MAILPROC_DATABASE_URL"}
    env["MAILPROC_CONFIG"] = str(config)
    run = [sys.executable, "-m", "mailproc"]
    subprocess.run([*run, "db", "upgrade"], env=env, check=True, capture_output=True)

    done = subprocess.run([*run, *command], env=env, capture_output=True, check=False)

    # status exits 1 for a mailbox never read: it is a health check, and it still reports.
    assert done.returncode in ((0,) if command[0] == "rules" else (0, 1)), done.stderr.decode()
    assert done.stderr.decode() == ""
    assert SECRET_ENV not in done.stdout.decode()
