"""Who is logged in, and which tickets they may see.

A staff member is an address the desk counts as staff (mailproc.tickets.pipeline.Pipeline.
staff: the configured staff addresses and domains, and the areas' own mailboxes). What
they see depends on [web] scope: "all", or "area": the tickets of the themes routed to the
areas they work in ([web.areas]; an area's own mailbox works in that area). Coordinators
see every ticket, and the dashboard.

The session holds the address only: areas are worked out again on each request, so that
a change of the configuration applies at the next page, not at the next login.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from flask import Flask, abort, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from mailproc.config import WebConfig
from mailproc.rules.rulebook import Rulebook
from mailproc.web.desk import desk

# The session key holding the logged-in staff address (mailproc.web.login sets it).
STAFF_KEY = "staff"

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
    return g.get("staff")


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


def _load_staff() -> None:
    email = session.get(STAFF_KEY)
    if isinstance(email, str) and email:
        app = desk()
        g.staff = staff_member(email, app.config.web, app.rulebook)


def _template_globals() -> Mapping[str, object]:
    return {"staff": current_staff()}


def install(app: Flask) -> None:
    app.before_request(_load_staff)
    app.context_processor(_template_globals)
