"""Building the running desk once from the configuration: the one place things are wired."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailproc.config import Config
from mailproc.decision.proofs import ReplyKeys
from mailproc.errors import ConfigError
from mailproc.outgoing.delivery import MaildirSender, Sender, SmtpSender
from mailproc.outgoing.links import RequesterLinks
from mailproc.outgoing.notices import Replier
from mailproc.outgoing.replies import ReplyRenderer
from mailproc.rules.rulebook import Rulebook, load_rulebook
from mailproc.storage import store
from mailproc.storage.db import make_engine, make_sessions
from mailproc.storage.schema import require_current
from mailproc.tickets.pipeline import Pipeline


@dataclass
class App:
    """The configuration and everything built from it. Rules and templates are loaded (and
    validated) eagerly by ``start`` so that a broken file stops start-up, not a poll."""

    config: Config
    # False: a SQLite file that is not there is an error ("no database at PATH") instead of
    # a new, empty database. The command line creates it only for `db upgrade`.
    create_database: bool = True

    @cached_property
    def engine(self) -> Engine:
        config = self.config
        return make_engine(
            config.database_url, password=config.database_password, create=self.create_database
        )

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessions(self.engine)

    @cached_property
    def read_sessions(self) -> sessionmaker[Session]:
        """Sessions that only read (the web view's pages): on SQLite they take no write lock
        (mailproc.storage.db.make_sessions)."""
        return make_sessions(self.engine, read_only=True)

    @cached_property
    def rulebook(self) -> Rulebook:
        return load_rulebook(self.config.rules_dir)

    @cached_property
    def renderer(self) -> ReplyRenderer:
        return ReplyRenderer(self.config.templates_dir)

    @cached_property
    def reply_keys(self) -> ReplyKeys | None:
        """The key that signs reply addresses: from the environment variable the configuration
        names, else the one kept in the database (made at first use)."""
        desk = self.config.desk
        if not desk.signed_replies:
            return None
        key = self._secret(desk.reply_key_env, "desk.reply_key_env", "reply_addresses", 16)
        return ReplyKeys(key.encode(), desk.address)

    @cached_property
    def web_key(self) -> bytes:
        """The key that signs the web view's sessions and the links mailed to requesters and
        staff (requesters' links are encrypted, with keys derived from it): from the variable
        [web] key_env names, else kept in the database (made at first use), so that every
        process and restart shares it. Each use has its own salt, so that a token of one kind
        is never taken for another."""
        return self._secret(self.config.web.key_env, "web.key_env", "web", 32).encode()

    def _secret(self, variable: str | None, setting: str, kept_as: str, length: int) -> str:
        """A secret of the desk: from the environment ``variable`` the configuration names
        (``setting``), of at least ``length`` characters; without one, the secret
        ``kept_as`` in the database (store.desk_key)."""
        if variable is None:
            with self.sessions.begin() as session:
                return store.desk_key(session, kept_as)
        key = os.environ.get(variable, "")
        if len(key) < length:
            raise ConfigError(
                str(self.config.file),
                setting,
                f"set {variable} to a secret of at least {length} characters "
                "(e.g. the output of `openssl rand -hex 32`)",
            )
        return key

    @cached_property
    def requester_links(self) -> RequesterLinks | None:
        """The signed links mail gives requesters to the web view; None when [web] has no
        public_url (then mail carries no link, and the web key is not made for it)."""
        web = self.config.web
        if web.public_url is None:
            return None
        return RequesterLinks(web.public_url, self.web_key, web.requester_link_days)

    @cached_property
    def pipeline(self) -> Pipeline:
        replier = Replier(
            self.config, self.rulebook, self.renderer, self.reply_keys, links=self.requester_links
        )
        return Pipeline(self.sessions, replier)

    @cached_property
    def sender(self) -> Sender:
        smtp = self.config.smtp
        if smtp is None:
            return MaildirSender(self.config.delivery.outbox_maildir)
        return SmtpSender(
            smtp.host,
            smtp.port,
            smtp.tls,
            smtp.user,
            smtp.password,
            timeout=smtp.timeout_seconds,
            oauth2=smtp.oauth2,
        )

    def start(self) -> App:
        """Validate rules and templates, and refuse a database whose schema is behind."""
        _ = self.rulebook, self.renderer
        require_current(self.engine)
        return self
