"""``mailproc web``: the web view of the desk, served until stopped; ``mailproc login-link``:
a staff login link printed on the server, for the first login or a desk without mail."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from mailproc.service.cli.arguments import Commands, add_command
from mailproc.service.cli.output import say

if TYPE_CHECKING:
    from mailproc.service.app import App


def add_commands(commands: Commands) -> None:
    web = add_command(
        commands, "web", serve_web, "serve the web view: the staff console and requesters' pages"
    )
    web.add_argument("--address", help="listen on this address (default: [web] address)")
    web.add_argument("--port", type=int, help="listen on this port (default: [web] port)")
    web.add_argument("--threads", type=int, default=8, help="requests served at once")
    link = add_command(
        commands,
        "login-link",
        print_login_link,
        "print a one-time staff login link for ADDRESS (valid [web] login_link_minutes)",
    )
    link.add_argument("address", help="a staff address of the configuration")


def serve_web(app: App, args: argparse.Namespace) -> int:
    from mailproc.web.server import serve

    web = app.config.web
    serve(app.start(), args.address or web.address, args.port or web.port, args.threads)
    return 0


def print_login_link(app: App, args: argparse.Namespace) -> int:
    """The link the login page would mail, printed instead: whoever runs this on the server
    can read the database anyway. Exit 1 for an address that is not staff."""
    from mailproc.web import create_app
    from mailproc.web.login import login_link

    web = app.config.web
    base_url = web.public_url or f"http://{web.address}:{web.port}"
    with create_app(app.start()).test_request_context(base_url=base_url):
        link = login_link(args.address, base_url)
    if link is None:
        print(f"mailproc: {args.address} is not staff of this desk ([desk] staff_addresses, "
              "staff_domains, [web] coordinators, [web.areas])", file=sys.stderr)  # fmt: skip
        return 1
    say(link)
    return 0
