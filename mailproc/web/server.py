"""Serving the web view with waitress: one process of threads, so that the rate limits and
SQLite's single writer need nothing shared between processes."""

from __future__ import annotations

import logging

import waitress

from mailproc.web import create_app
from mailproc.web.desk import Desk

log = logging.getLogger(__name__)


def serve(desk: Desk, address: str, port: int, threads: int) -> None:
    """Serve until SIGTERM or SIGINT (waitress stops on either)."""
    app = create_app(desk)
    log.info("web view at http://%s:%s/", address, port)
    waitress.serve(app, host=address, port=port, threads=threads, ident="mailproc")
