"""The running desk as a view sees it: the App built by ``mailproc web``, one per process."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from flask import current_app

if TYPE_CHECKING:
    from mailproc.service.app import App

DESK = "mailproc"


def desk() -> App:
    """The desk of the application serving this request."""
    return cast("App", current_app.extensions[DESK])
