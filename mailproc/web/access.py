"""Who is logged in, and which tickets they may see.

A staff member is an address the desk counts as staff (mailproc.tickets.pipeline.Pipeline.
staff: the configured staff addresses and domains, and the areas' own mailboxes). What
they see depends on [web] scope: "all", or "area": the tickets of the themes routed to the
areas they work in ([web.areas]; an area's own mailbox works in that area). Coordinators
see every ticket, and the dashboard.

The session holds the address and when it logged in: whether it is still staff, and its
areas, are worked out again on each request, so that a change of the configuration applies
at the next page, not at the next login. The login time is checked here, on the server:
the cookie's own expiry is the browser's to honour, and a copied cookie has none.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from flask import Flask, abort, g, redirect, request, session, url_for
from flask.sessions import SessionMixin
from werkzeug.wrappers import Response

from mailproc.config import WebConfig
from mailproc.rules.rulebook import Rulebook
from mailproc.storage.db import utcnow
from mailproc.web.desk import desk

# The session keys holding the logged-in staff address and when they logged in, in seconds
# since the epoch (sign_in sets them).
STAFF_KEY = "staff"
SINCE_KEY = "since"

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Staff:
    """A logged-in staff member. ``themes``: the themes whose tickets they see; None: all."""

    email: str
    areas: frozenset[str]
    themes: frozenset[str] | None
    coordinator: bool

    def sees(self, theme_id: str | None) -> bool:
        return self.themes is None or theme_id in self.themes


def is_staff_address(email: str, addresses: tuple[str, ...], domains: tuple[str, ...]) -> bool:
    """Whether ``email`` is one of ``addresses`` or at one of ``domains`` (exactly, not a
    subdomain: "x@evil.gov.br.example.com" is not at "gov.br")."""
    email = email.strip().lower()
    return email in addresses or email.rpartition("@")[2] in domains


def is_staff(email: str) -> bool:
    """Whether ``email`` is staff of the desk now (the pipeline's staff addresses and
    domains, the areas' mailboxes among them)."""
    addresses, domains = desk().pipeline.staff
    return is_staff_address(email, addresses, domains)


def sign_in(cookie: SessionMixin, email: str, now: datetime) -> None:
    """Make ``cookie`` (the session) ``email``'s, from ``now``: whatever it held before is
    dropped, so that nothing set before the login carries over into it."""
    cookie.clear()
    cookie[STAFF_KEY] = email.lower()
    cookie[SINCE_KEY] = int(now.timestamp())
    cookie.permanent = True


def signed_in_email(cookie: SessionMixin, now: datetime, lifetime: timedelta) -> str | None:
    """The address ``cookie`` was signed in with, while its login is younger than
    ``lifetime``; None otherwise (and for a cookie without a login time)."""
    email, since = cookie.get(STAFF_KEY), cookie.get(SINCE_KEY)
    if not isinstance(email, str) or not email or not isinstance(since, int):
        return None
    age = now.timestamp() - since
    return email if 0 <= age < lifetime.total_seconds() else None


def staff_member(email: str, web: WebConfig, rulebook: Rulebook) -> Staff:
    """``email`` as a staff member: their areas and the tickets they may see."""
    email = email.lower()
    areas = frozenset(
        area for area, members in web.areas.items() if _member(email, members) or email == area
    ) | {t.routing.address.lower() for t in rulebook.themes if t.routing.address.lower() == email}
    coordinator = email in web.coordinators
    if coordinator or web.scope == "all":
        return Staff(email, areas, None, coordinator)
    themes = frozenset(t.id for t in rulebook.themes if t.routing.address.lower() in areas)
    return Staff(email, areas, themes, coordinator)


def _member(email: str, members: tuple[str, ...]) -> bool:
    domain = "@" + email.rpartition("@")[2]
    return email in members or domain in members


def current_staff() -> Staff | None:
    """The staff member of this request, or None."""
    staff: Staff | None = g.get("staff")
    return staff


def staff_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """A view for staff only: anyone else is sent to the login page."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        if current_staff() is None:
            return redirect(url_for("login.ask", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def coordinator_required(view: Callable[P, R]) -> Callable[P, R | Response]:
    """A view for coordinators only (the dashboard)."""

    @functools.wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        staff = current_staff()
        if staff is None:
            return redirect(url_for("login.ask", next=request.full_path))
        if not staff.coordinator:
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def load_staff() -> None:
    """Who this request is from (current_staff): the session's address while its login is
    young enough and the address still staff; a session that is neither is dropped."""
    g.pop("staff", None)
    app = desk()
    lifetime = timedelta(hours=app.config.web.session_hours)
    email = signed_in_email(session, utcnow(), lifetime)
    if email is None or not is_staff(email):
        if STAFF_KEY in session:
            session.clear()
        return
    g.staff = staff_member(email, app.config.web, app.rulebook)


def _template_globals() -> dict[str, object]:
    return {"staff": current_staff()}


def install(app: Flask) -> None:
    app.before_request(load_staff)
    app.context_processor(_template_globals)
