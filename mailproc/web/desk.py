"""The running desk as the web view sees it: what ``mailproc web`` hands to create_app (the
App of mailproc.service.app, built once per process). A Protocol, so that this package
needs nothing of service/, which starts it."""

from __future__ import annotations

from typing import Protocol, cast

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from mailproc.config import Config
from mailproc.rules.rulebook import Rulebook
from mailproc.tickets.pipeline import Pipeline

DESK = "mailproc"


class Desk(Protocol):
    """What the web view uses of the running desk."""

    @property
    def config(self) -> Config: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def read_sessions(self) -> sessionmaker[Session]: ...

    @property
    def rulebook(self) -> Rulebook: ...

    @property
    def pipeline(self) -> Pipeline: ...

    @property
    def web_key(self) -> bytes: ...


def desk() -> Desk:
    """The desk of the application serving this request."""
    return cast(Desk, current_app.extensions[DESK])
