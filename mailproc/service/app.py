"""Building the running desk once from the configuration: the one place things are wired."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mailproc.config import Config
from mailproc.outgoing.delivery import MaildirSender, Sender, SmtpSender
from mailproc.outgoing.notices import Replier
from mailproc.outgoing.replies import ReplyRenderer
from mailproc.rules.rulebook import Rulebook, load_rulebook
from mailproc.storage.db import make_engine, make_sessions
from mailproc.storage.schema import require_current
from mailproc.tickets.pipeline import Pipeline


@dataclass
class App:
    """The configuration and everything built from it. Rules and templates are loaded (and
    validated) eagerly by ``start`` so that a broken file stops start-up, not a poll."""

    config: Config

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.config.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessions(self.engine)

    @cached_property
    def rulebook(self) -> Rulebook:
        return load_rulebook(self.config.rules_dir)

    @cached_property
    def renderer(self) -> ReplyRenderer:
        return ReplyRenderer(self.config.templates_dir)

    @cached_property
    def pipeline(self) -> Pipeline:
        return Pipeline(self.sessions, Replier(self.config, self.rulebook, self.renderer))

    @cached_property
    def sender(self) -> Sender:
        smtp = self.config.smtp
        if smtp is None:
            return MaildirSender(self.config.delivery.outbox_maildir)
        return SmtpSender(
            smtp.host, smtp.port, smtp.tls, smtp.user, smtp.password, timeout=smtp.timeout_seconds
        )

    def start(self) -> App:
        """Validate rules and templates, and refuse a database whose schema is behind."""
        _ = self.rulebook, self.renderer
        require_current(self.engine)
        return self
