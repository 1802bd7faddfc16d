"""``mailproc web``: the web view of the desk, served until stopped."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mailproc.service.cli.arguments import Commands, add_command

if TYPE_CHECKING:
    from mailproc.service.app import App


def add_commands(commands: Commands) -> None:
    web = add_command(
        commands, "web", serve_web, "serve the web view: the staff console and requesters' pages"
    )
    web.add_argument("--address", help="listen on this address (default: [web] address)")
    web.add_argument("--port", type=int, help="listen on this port (default: [web] port)")
    web.add_argument("--threads", type=int, default=8, help="requests served at once")


def serve_web(app: App, args: argparse.Namespace) -> int:
    from mailproc.web.server import serve

    web = app.config.web
    serve(app.start(), args.address or web.address, args.port or web.port, args.threads)
    return 0
