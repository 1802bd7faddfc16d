"""Loading the TOML configuration once into typed, frozen objects (schema: config.example.toml)."""

from __future__ import annotations

import os
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mailproc.credentials import PasswordEnv
from mailproc.decision.business_hours import (
    BusinessCalendar,
    parse_hours,
    parse_weekdays,
    region_problem,
)
from mailproc.decision.settings import STRANGER_REPLIES, ConversationSettings, StrangerReply
from mailproc.errors import ConfigError
from mailproc.mail.authresults import ON_FAILURE, OnFailure
from mailproc.oauth2 import PROVIDERS, OAuth2Settings, Provider, TokenCache, token_cache
from mailproc.oauth2.generic import token_url_problem
from mailproc.resources import shipped_dir
from mailproc.sources.dkim import DkimSettings, parse_dns_server
from mailproc.sources.imap import ImapSettings
from mailproc.tls import TLS_MODES, TlsMode, is_loopback

CONFIG_ENV = "MAILPROC_CONFIG"
DATABASE_URL_ENV = "MAILPROC_DATABASE_URL"

T = TypeVar("T")


@dataclass(frozen=True)
class DeskConfig:
    """Who we are to the people writing in, and how tickets behave."""

    name: str
    address: str
    phone: str
    other_addresses: tuple[str, ...]
    code_tag: str
    timezone: ZoneInfo
    incomplete_close_days: int
    default_theme: str | None
    trusted_forwarders: tuple[str, ...]
    staff_addresses: tuple[str, ...]
    staff_domains: tuple[str, ...]
    message_id_domain: str
    conversation: ConversationSettings
    # Told once by mail of each alert (a loop cap reached); None: alerts go to the log only.
    operator_address: str | None
    # Mail about a ticket carries a signed Reply-To (mailproc.decision.proofs); off only for a
    # mail server that cannot deliver plus-addressed mail to the desk's mailbox.
    signed_replies: bool = True
    # The environment variable holding the key that signs them; None: a key kept in the
    # database, made at first use.
    reply_key_env: str | None = None

    @property
    def own_addresses(self) -> frozenset[str]:
        """Every address that is ours: mail from these is never answered (no loops)."""
        return frozenset((self.address, *self.other_addresses))


@dataclass(frozen=True)
class MaildirConfig:
    name: str
    path: Path


@dataclass(frozen=True)
class ImapConfig:
    """An IMAP mailbox: how to reach it (``settings``) and how often to look."""

    settings: ImapSettings
    poll_seconds: int
    idle: bool

    @property
    def name(self) -> str:
        return self.settings.name


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: TlsMode
    user: str | None
    password: PasswordEnv | None
    from_address: str
    timeout_seconds: int
    # auth = "oauth2": the tokens of the [oauth2.NAME] table named; None: user and password.
    oauth2: TokenCache | None = None


# What a mail whose worker died while sending it becomes (see mailproc.outgoing.outbox): held for an
# operator ("hold", never sent twice) or queued again ("resend", never left unsent).
AfterCrash = Literal["hold", "resend"]
AFTER_CRASH: tuple[AfterCrash, ...] = ("hold", "resend")


@dataclass(frozen=True)
class DeliveryConfig:
    outbox_maildir: Path
    max_attempts: int
    retry_base_seconds: int
    retry_max_seconds: int
    after_crash: AfterCrash


@dataclass(frozen=True)
class SchedulerConfig:
    maildir_poll_seconds: int
    outbox_seconds: int
    housekeeping_seconds: int
    deadlines_seconds: int


@dataclass(frozen=True)
class AuthenticationConfig:
    """Whose Authentication-Results to trust ("": none, not checked) and what a failed
    sender authentication does (mail.authresults, decision.decide.unverified_sender)."""

    authserv_id: str
    on_failure: OnFailure
    dkim: DkimSettings


@dataclass(frozen=True)
class LoopCaps:
    """How much automatic mail may go out before the desk stops answering (mailproc.outgoing.loops).

    Each cap counts the outbox over a sliding window. Past one, mail is still recorded, only
    not answered, and the operator is told once. The defaults leave every human conversation
    alone and stop a loop within minutes: RFC 3834 asks a responder to limit its replies to
    one address, and 20 a day leaves room for someone who writes to a desk all day; people
    discussing a ticket make a few mails an hour, a ping-pong with a robot dozens; the
    overall cap is a circuit breaker sized above a backlog burst (4,000 messages make about
    6,000 mails), not a throttle.

    The domain cap stops a robot that answers from a new address each time. One secretariat's
    domain holds thousands of servidores, and a desk of the state hears from a busy one a few
    dozen times an hour; 300 is one answer every 12 seconds for a whole hour, several times
    what people of one organisation write even on a morning after an outage, and still
    stops a robot answering at machine speed within minutes (the one that was never stopped
    sent 96 mails a minute). Mail to staff does not count toward it.
    """

    replies_per_sender_per_day: int = 20
    replies_per_domain_per_hour: int = 300
    replies_per_ticket_per_hour: int = 10
    replies_per_hour: int = 10_000


@dataclass(frozen=True)
class LoggingConfig:
    level: str
    format: str


@dataclass(frozen=True)
class MetricsConfig:
    """Where ``mailproc run`` serves Prometheus metrics: loopback unless the operator says."""

    port: int
    address: str = "127.0.0.1"


WebScope = Literal["area", "all"]


@dataclass(frozen=True)
class WebConfig:
    """The web view (``mailproc web``, [web]): where it listens, who may log in and see what.

    ``public_url`` is the address people open (behind the reverse proxy); the links in mail
    ("Acompanhe seu chamado", staff login) are made only when it is set. ``areas`` maps an
    area's routing address to the staff addresses (or "@domain"s) who work in it; with
    ``scope = "area"`` a staff member sees their areas' tickets, ``coordinators`` see all
    tickets and the dashboard. ``sso_header`` names the header of the organisation's
    reverse proxy that carries the logged-in address; it is trusted only when set.
    """

    address: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    scope: WebScope = "area"
    coordinators: tuple[str, ...] = ()
    areas: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sso_header: str | None = None
    session_hours: int = 10
    login_link_minutes: int = 15
    requester_link_days: int = 90
    # The key that signs sessions and links: from this variable, else kept in the database.
    key_env: str | None = None
    # How many reverse proxies stand in front (nginx: 1): their X-Forwarded-For and
    # X-Forwarded-Proto are believed, so that rate limits count clients, not the proxy.
    proxies: int = 0


@dataclass(frozen=True)
class Config:
    file: Path
    desk: DeskConfig
    database_url: str
    # Merged into the URL when the engine is made ([database] password_env); None: the URL's
    # own, if any.
    database_password: PasswordEnv | None
    rules_dir: Path
    templates_dir: Path
    maildirs: tuple[MaildirConfig, ...]
    imap: tuple[ImapConfig, ...]
    smtp: SmtpConfig | None
    delivery: DeliveryConfig
    scheduler: SchedulerConfig
    max_message_bytes: int
    # How long one message's parse may take before it is abandoned and the message
    # quarantined (mailproc.service.parsing).
    message_seconds: float
    loop_caps: LoopCaps
    logging: LoggingConfig
    metrics: MetricsConfig | None  # None: no metrics served
    retention_days: int
    authentication: AuthenticationConfig
    # When the desk works: deadlines in working hours count only then ([calendar]).
    calendar: BusinessCalendar
    web: WebConfig = field(default_factory=WebConfig)


class _Table:
    """Typed, checked access to one TOML table; unknown keys are reported by ``finish``."""

    def __init__(self, file: Path, prefix: str, data: Mapping[str, Any]) -> None:
        self.file, self.prefix, self.data = file, prefix, data
        self.seen: set[str] = set()

    def error(self, key: str, reason: str) -> ConfigError:
        return ConfigError(str(self.file), f"{self.prefix}{key}", reason)

    def get(self, key: str, kind: type[T], default: T | None = None) -> T:
        self.seen.add(key)
        if key not in self.data:
            if default is None:
                raise self.error(key, "is required")
            return default
        value = self.data[key]
        # bool is an int subclass in Python; a TOML `true` where a number belongs is a typo.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.error(key, f"must be {kind.__name__}, got {type(value).__name__}")
        return value

    def positive(self, key: str, default: int) -> int:
        value = self.get(key, int, default)
        if value <= 0:
            raise self.error(key, "must be a positive integer")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, [])
        if not all(isinstance(v, str) for v in values):
            raise self.error(key, "must be a list of strings")
        return tuple(values)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(key, str, default)
        if value not in choices:
            raise self.error(key, f"must be one of {', '.join(choices)}")
        return value

    def secret(self, key: str) -> PasswordEnv | None:
        """A password: the file names an environment variable, never the secret itself. The
        variable is read when a connection logs in (mailproc.credentials), not here."""
        bare = key.removesuffix("_env")  # password, secret
        if bare != key and bare in self.data:
            raise self.error(bare, f"{bare}s are not read from the file: use {key}")
        name = self.get(key, str, "").strip()
        return PasswordEnv(name, str(self.file), f"{self.prefix}{key}") if name else None

    def path(self, key: str, default: str, *, under: Path | None = None) -> Path:
        """A path; a relative one is relative to ``under`` (the state folder, for what the
        desk writes), else to the config file's folder."""
        raw = Path(self.get(key, str, default)).expanduser()
        return raw if raw.is_absolute() else ((under or self.file.parent) / raw).resolve()

    def table(self, key: str) -> _Table:
        return _Table(self.file, f"{self.prefix}{key}.", self.get(key, dict, {}))

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.error(unknown[0], "unknown key (a typo?)")


def resolve_config_path(given: str | None) -> Path:
    """The config file: --config, else $MAILPROC_CONFIG, else ./config.toml."""
    return Path(given or os.environ.get(CONFIG_ENV) or "config.toml").resolve()


def load_config(path: Path) -> Config:
    """Read and validate the configuration; every problem is a ConfigError (file, key, reason)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), "-", f"cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "-", f"not valid TOML: {exc}") from exc
    root = _Table(path, "", data)
    desk = _desk(root.table("desk"))
    limits = root.table("limits")
    max_bytes = limits.positive("max_message_bytes", 25 * 1024 * 1024)
    message_seconds = _positive_seconds(limits, "message_seconds", 10)
    loop_caps = _loop_caps(limits)
    limits.finish()
    paths = root.table("paths")
    # What the desk writes (the SQLite file, the outbox, Maildir sources) is relative to the
    # state folder: /var/lib/mailproc for a service, while its config stays read-only in /etc.
    state = paths.path("state", ".")
    database_url, database_password = _database(root.table("database"), state)
    oauth2 = _oauth2_tables(root.table("oauth2"))
    config = Config(
        file=path,
        desk=desk,
        database_url=database_url,
        database_password=database_password,
        **_paths(paths),
        maildirs=tuple(_maildir(root, i, t, state) for i, t in enumerate(_array(root, "maildir"))),
        imap=tuple(
            _imap(root, i, t, max_bytes, oauth2) for i, t in enumerate(_array(root, "imap"))
        ),
        smtp=_smtp(root.table("smtp"), desk, oauth2) if "smtp" in data else None,
        delivery=_delivery(root.table("delivery"), state),
        scheduler=_scheduler(root.table("scheduler")),
        max_message_bytes=max_bytes,
        message_seconds=message_seconds,
        loop_caps=loop_caps,
        logging=_logging(root.table("logging")),
        metrics=_metrics(root.table("metrics")),
        retention_days=_retention_days(root.table("retention")),
        authentication=_authentication(root.table("authentication")),
        calendar=_calendar(root.table("calendar"), desk.timezone),
        web=_web(root.table("web")),
    )
    _check_unique_names(root, config)
    root.finish()
    return config


def _array(root: _Table, key: str) -> list[Mapping[str, Any]]:
    items = root.get(key, list, [])
    if not all(isinstance(item, dict) for item in items):
        raise root.error(key, f"must be an array of tables ([[{key}]])")
    return items


def _desk(t: _Table) -> DeskConfig:
    address = t.get("address", str).strip().lower()
    if "@" not in address:
        raise t.error("address", "must be an e-mail address")
    tz_name = t.get("timezone", str, "America/Sao_Paulo")
    try:
        timezone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise t.error("timezone", f"unknown time zone {tz_name!r}") from exc
    code_tag = t.get("code_tag", str, "[#{code}]")
    if code_tag.count("{code}") != 1:
        raise t.error("code_tag", "must contain {code} exactly once")
    desk = DeskConfig(
        name=t.get("name", str, "Central de Atendimento"),
        address=address,
        phone=t.get("phone", str, "0800 978 9001"),
        other_addresses=tuple(a.lower() for a in t.strings("other_addresses")),
        code_tag=code_tag,
        timezone=timezone,
        incomplete_close_days=t.positive("incomplete_close_days", 7),
        default_theme=t.get("default_theme", str, "") or None,
        trusted_forwarders=tuple(a.lower() for a in t.strings("trusted_forwarders")),
        staff_addresses=tuple(a.lower() for a in t.strings("staff_addresses")),
        staff_domains=tuple(d.lower().lstrip("@") for d in t.strings("staff_domains")),
        message_id_domain=t.get("message_id_domain", str, "") or address.split("@", 1)[1],
        conversation=_conversation(t),
        operator_address=t.get("operator_address", str, "").strip().lower() or None,
        signed_replies=t.get("signed_replies", bool, True),
        reply_key_env=t.get("reply_key_env", str, "").strip() or None,
    )
    t.finish()
    return desk


def _conversation(t: _Table) -> ConversationSettings:
    percent = t.positive("urgent_deadline_percent", 50)
    if percent > 100:
        raise t.error("urgent_deadline_percent", "must be a percentage from 1 to 100")
    return ConversationSettings(
        stranger_reply=cast(
            StrangerReply, t.choice("stranger_reply", STRANGER_REPLIES, "new_ticket")
        ),
        remind_before=timedelta(hours=t.positive("remind_before_hours", 24)),
        escalation_address=t.get("escalation_address", str, "").strip().lower() or None,
        urgent_deadline_percent=percent,
    )


def _database(t: _Table, state: Path) -> tuple[str, PasswordEnv | None]:
    """The database URL, and the variable holding its password when it is kept apart."""
    # Read even when the environment overrides it: t.finish() must not call the key a typo.
    configured = t.get("url", str, "sqlite:///mailproc.db")
    url = os.environ.get(DATABASE_URL_ENV) or configured
    password = t.secret("password_env")
    if password is not None and urllib.parse.urlsplit(url).password is not None:
        raise t.error("password_env", "the url carries a password too: keep it in one place")
    t.finish()
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        # A relative SQLite path is relative to the state folder, like the outbox.
        path = Path(url.removeprefix(prefix))
        if not path.is_absolute():
            return prefix + str((state / path).resolve()), password
    return url, password


def _paths(t: _Table) -> dict[str, Path]:
    # Configuration, relative to the config file (the state folder is for what is written).
    rules = t.get("rules", str, "")
    templates = t.get("templates", str, "")
    paths = {
        "rules_dir": t.path("rules", rules) if rules else shipped_dir("rules"),
        "templates_dir": t.path("templates", templates) if templates else shipped_dir("templates"),
    }
    for key, folder in paths.items():
        if not folder.is_dir():
            raise t.error(key.removesuffix("_dir"), f"folder {folder} does not exist")
    t.finish()
    return paths


def _maildir(root: _Table, index: int, data: Mapping[str, Any], state: Path) -> MaildirConfig:
    t = _Table(root.file, f"maildir[{index}].", data)
    if not t.get("path", str):
        raise t.error("path", "must not be empty")
    # Written to (new/ to cur/): state, like the outbox.
    path = t.path("path", "", under=state)
    source = MaildirConfig(name=t.get("name", str, f"maildir{index + 1}"), path=path)
    t.finish()
    return source


def _imap(
    root: _Table,
    index: int,
    data: Mapping[str, Any],
    max_message_bytes: int,
    oauth2: Mapping[str, TokenCache],
) -> ImapConfig:
    t = _Table(root.file, f"imap[{index}].", data)
    host = t.get("host", str)
    tls = _tls(t, host, "ssl")
    tokens = _login_tokens(t, oauth2)
    settings = ImapSettings(
        name=t.get("name", str, f"imap{index + 1}"),
        host=host,
        port=t.positive("port", 993 if tls == "ssl" else 143),
        tls=tls,
        user=t.get("user", str),
        password=t.secret("password_env") or "",
        oauth2=tokens,
        folder=t.get("folder", str, "INBOX"),
        processed_folder=t.get("processed_folder", str, "Processados"),
        quarantine_folder=t.get("quarantine_folder", str, "Quarentena"),
        mark_seen_instead=t.get("mark_seen_instead", bool, False),
        max_message_bytes=max_message_bytes,
        timeout=t.positive("timeout_seconds", 30),
    )
    source = ImapConfig(
        settings, poll_seconds=t.positive("poll_seconds", 60), idle=t.get("idle", bool, True)
    )
    t.finish()
    return source


def _tls(t: _Table, host: str, default: TlsMode) -> TlsMode:
    """The TLS mode; "none" only to this machine, unless the table allows it explicitly."""
    tls = cast(TlsMode, t.choice("tls", TLS_MODES, default))
    allowed = t.get("allow_plaintext", bool, False)  # read always: finish() checks every key
    if tls == "none" and not allowed and not is_loopback(host):
        raise t.error(
            "tls",
            f'"none" would send the password and the mail unencrypted to {host}: use "ssl" '
            'or "starttls", or, on a network you trust, set allow_plaintext = true in this '
            "table",
        )
    return tls


def _smtp(t: _Table, desk: DeskConfig, oauth2: Mapping[str, TokenCache]) -> SmtpConfig:
    host = t.get("host", str)
    tls = _tls(t, host, "starttls")
    tokens = _login_tokens(t, oauth2)
    if tokens is not None and not t.get("user", str, ""):
        raise t.error("user", 'is required with auth = "oauth2": the mailbox the token is for')
    smtp = SmtpConfig(
        host=host,
        port=t.positive("port", {"ssl": 465, "starttls": 587, "none": 25}[tls]),
        tls=tls,
        user=t.get("user", str, "") or None,
        password=t.secret("password_env"),
        from_address=t.get("from_address", str, desk.address).lower(),
        timeout_seconds=t.positive("timeout_seconds", 30),
        oauth2=tokens,
    )
    t.finish()
    return smtp


def _login_tokens(t: _Table, oauth2: Mapping[str, TokenCache]) -> TokenCache | None:
    """The token cache an [[imap]] or [smtp] logs in with (auth = "oauth2"), or None for a
    password. One cache per [oauth2.NAME]: the mailboxes and the relay naming it share tokens."""
    if t.choice("auth", ("password", "oauth2"), "password") == "password":
        if "oauth2" in t.data:
            raise t.error("oauth2", 'is only read with auth = "oauth2"')
        return None
    if "password_env" in t.data:
        raise t.error("password_env", 'auth = "oauth2" logs in with a token, not a password')
    name = t.get("oauth2", str, "")
    if name not in oauth2:
        known = ", ".join(sorted(oauth2)) or "none"
        raise t.error("oauth2", f"names no [oauth2.NAME] table (defined: {known})")
    return oauth2[name]


# The keys each provider needs (besides ``provider``), and those it may take.
_OAUTH2_REQUIRED: dict[Provider, tuple[str, ...]] = {
    "generic": ("token_url", "client_id", "secret_env"),
    "microsoft": ("tenant", "client_id"),
    "google": ("key_file", "subject"),
}
_OAUTH2_OPTIONAL: dict[Provider, tuple[str, ...]] = {
    "generic": ("scope",),
    "microsoft": ("scope", "secret_env", "certificate", "thumbprint"),
    "google": ("scope",),
}


def _oauth2_tables(root: _Table) -> dict[str, TokenCache]:
    """Every [oauth2.NAME] table, checked: a token cache for each, nothing read or fetched."""
    caches = {}
    for name in root.data:
        settings = _oauth2(root.table(name), name)
        caches[name] = token_cache(settings)
    return caches


def _oauth2(t: _Table, name: str) -> OAuth2Settings:
    provider = cast(Provider, t.choice("provider", PROVIDERS, "generic"))
    keys = (*_OAUTH2_REQUIRED[provider], *_OAUTH2_OPTIONAL[provider])
    secret = t.secret("secret_env") if "secret_env" in keys else None
    for key in _OAUTH2_REQUIRED[provider]:
        if not t.data.get(key):
            raise t.error(key, f'is required with provider = "{provider}"')

    def text(key: str) -> str | None:
        return t.get(key, str).strip() if key in keys and key in t.data else None

    def path(key: str) -> Path | None:
        return t.path(key, "") if text(key) else None

    if provider == "microsoft" and ("secret_env" in t.data) == ("certificate" in t.data):
        raise t.error("secret_env", "give either secret_env or certificate (with thumbprint)")
    if ("certificate" in t.data) != ("thumbprint" in t.data):
        raise t.error("thumbprint", "certificate and thumbprint go together")
    token_url = text("token_url")
    if token_url is not None:
        _check_token_url(t, token_url)
    settings = OAuth2Settings(
        name=name,
        provider=provider,
        client_id=text("client_id"),
        secret=secret,
        scope=text("scope"),
        token_url=token_url,
        tenant=text("tenant"),
        certificate=path("certificate"),
        thumbprint=text("thumbprint"),
        key_file=path("key_file"),
        subject=text("subject"),
    )
    t.finish()
    return settings


def _check_token_url(t: _Table, url: str) -> None:
    problem = token_url_problem(url)
    if problem:
        raise t.error("token_url", problem)


def _delivery(t: _Table, state: Path) -> DeliveryConfig:
    delivery = DeliveryConfig(
        outbox_maildir=t.path("outbox_maildir", "outbox", under=state),
        max_attempts=t.positive("max_attempts", 10),
        retry_base_seconds=t.positive("retry_base_seconds", 60),
        retry_max_seconds=t.positive("retry_max_seconds", 3600),
        after_crash=cast(AfterCrash, t.choice("after_crash", AFTER_CRASH, "hold")),
    )
    t.finish()
    return delivery


def _scheduler(t: _Table) -> SchedulerConfig:
    scheduler = SchedulerConfig(
        maildir_poll_seconds=t.positive("maildir_poll_seconds", 30),
        outbox_seconds=t.positive("outbox_seconds", 15),
        housekeeping_seconds=t.positive("housekeeping_seconds", 3600),
        deadlines_seconds=t.positive("deadlines_seconds", 600),
    )
    t.finish()
    return scheduler


def _positive_seconds(t: _Table, key: str, default: float) -> float:
    value = t.get(key, object, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise t.error(key, "must be a positive number of seconds")
    return float(value)


def _loop_caps(t: _Table) -> LoopCaps:
    defaults = LoopCaps()
    return LoopCaps(
        replies_per_sender_per_day=t.positive(
            "replies_per_sender_per_day", defaults.replies_per_sender_per_day
        ),
        replies_per_domain_per_hour=t.positive(
            "replies_per_domain_per_hour", defaults.replies_per_domain_per_hour
        ),
        replies_per_ticket_per_hour=t.positive(
            "replies_per_ticket_per_hour", defaults.replies_per_ticket_per_hour
        ),
        replies_per_hour=t.positive("replies_per_hour", defaults.replies_per_hour),
    )


def _logging(t: _Table) -> LoggingConfig:
    config = LoggingConfig(
        level=t.choice("level", ("debug", "info", "warning", "error"), "info"),
        format=t.choice("format", ("text", "json"), "text"),
    )
    t.finish()
    return config


def _metrics(t: _Table) -> MetricsConfig | None:
    port = t.get("port", int, 0)
    if not 0 <= port <= 65535:
        raise t.error("port", "must be a TCP port (0 turns metrics off)")
    address = t.get("address", str, MetricsConfig.address)
    t.finish()
    return MetricsConfig(port, address) if port else None


def _web(t: _Table) -> WebConfig:
    port = t.get("port", int, WebConfig.port)
    if not 0 < port <= 65535:
        raise t.error("port", "must be a TCP port")
    public_url = t.get("public_url", str, "").strip().rstrip("/") or None
    if public_url is not None and not public_url.startswith(("https://", "http://")):
        raise t.error("public_url", "must start with https:// (or http:// on a test desk)")
    areas_table = t.table("areas")
    areas = {
        area.lower(): tuple(a.lower() for a in areas_table.strings(area))
        for area in areas_table.data
    }
    areas_table.finish()
    config = WebConfig(
        address=t.get("address", str, WebConfig.address),
        port=port,
        public_url=public_url,
        scope=cast(WebScope, t.choice("scope", ("area", "all"), WebConfig.scope)),
        coordinators=tuple(a.lower() for a in t.strings("coordinators")),
        areas=areas,
        sso_header=t.get("sso_header", str, "").strip() or None,
        session_hours=t.positive("session_hours", WebConfig.session_hours),
        login_link_minutes=t.positive("login_link_minutes", WebConfig.login_link_minutes),
        requester_link_days=t.positive("requester_link_days", WebConfig.requester_link_days),
        key_env=t.get("key_env", str, "").strip() or None,
        proxies=t.get("proxies", int, WebConfig.proxies),
    )
    t.finish()
    return config


def _retention_days(t: _Table) -> int:
    days = t.positive("days", 365)
    t.finish()
    return days


def _authentication(t: _Table) -> AuthenticationConfig:
    # "flag" by default: a help desk must not turn away a real person whose mail server is
    # misconfigured; an operator switches to "block" after the flags showed none.
    config = AuthenticationConfig(
        authserv_id=t.get("authserv_id", str, "").strip().lower(),
        on_failure=cast(OnFailure, t.choice("on_failure", ON_FAILURE, "flag")),
        dkim=_dkim(t),
    )
    t.finish()
    return config


def _dkim(t: _Table) -> DkimSettings:
    servers = []
    for entry in t.strings("dns_servers"):
        try:
            servers.append(parse_dns_server(entry))
        except ValueError as exc:
            raise t.error("dns_servers", f"{entry!r}: {exc}") from None
    return DkimSettings(
        enabled=t.get("dkim", bool, True),
        dns_servers=tuple(servers),
        dns_timeout_seconds=t.positive("dns_timeout_seconds", 5),
    )


def _calendar(t: _Table, timezone: ZoneInfo) -> BusinessCalendar:
    """The desk's working hours and closed days (mailproc.decision.business_hours); the
    defaults are the seed's: Monday to Friday, 08:00-18:00, Brazil's and Rio's holidays."""
    hours = t.get("hours", str, "08:00-18:00")
    names = t.strings("weekdays") if "weekdays" in t.data else ("seg", "ter", "qua", "qui", "sex")
    country, subdivision = _holiday_region(t)
    try:
        opens, closes = parse_hours(hours)
    except ValueError as error:
        raise t.error("hours", str(error)) from None
    try:
        weekdays = parse_weekdays(names)
    except ValueError as error:
        raise t.error("weekdays", str(error)) from None
    dates, yearly = _closed_dates(t, "extra_holidays")
    calendar = BusinessCalendar(
        timezone=timezone,
        opens=opens,
        closes=closes,
        weekdays=weekdays,
        country=country,
        subdivision=subdivision,
        optional_holidays=t.get("optional_holidays", bool, True),
        extra_dates=dates,
        extra_yearly=yearly,
    )
    t.finish()
    return calendar


def _holiday_region(t: _Table) -> tuple[str | None, str | None]:
    """The country and subdivision whose holidays close the desk ("" for none), checked
    against the ``holidays`` library."""
    country = t.get("country", str, "BR").strip().upper() or None
    subdivision = t.get("subdivision", str, "RJ").strip().upper() or None
    if country is None:
        if subdivision:
            raise t.error("subdivision", 'needs a country (country = "" has no holidays)')
        return None, None
    if problem := region_problem(country, None):
        raise t.error("country", problem)
    if subdivision and (problem := region_problem(country, subdivision)):
        raise t.error("subdivision", problem)
    return country, subdivision


def _closed_dates(t: _Table, key: str) -> tuple[frozenset[date], frozenset[tuple[int, int]]]:
    """ "2026-12-24" closes one date; "01-20" the same day of every year."""
    dates: set[date] = set()
    yearly: set[tuple[int, int]] = set()
    for text in t.strings(key):
        try:
            if len(text) == len("MM-DD"):
                found = date.fromisoformat(f"2000-{text}")  # a leap year: 02-29 is a day
                yearly.add((found.month, found.day))
            else:
                dates.add(date.fromisoformat(text))
        except ValueError:
            raise t.error(key, f"{text!r} is not a date, YYYY-MM-DD, or a yearly MM-DD") from None
    return frozenset(dates), frozenset(yearly)


def _check_unique_names(root: _Table, config: Config) -> None:
    names = [s.name for s in config.maildirs] + [s.name for s in config.imap]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise root.error("maildir/imap", f"source name {duplicates[0]!r} is used twice")
