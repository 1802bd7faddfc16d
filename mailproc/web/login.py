"""Staff login: by a one-time link mailed to a staff address, or by the organisation's
single sign-on, whose reverse proxy names the logged-in person in a header.

The link (``/entrar/<token>``) logs in only when its page's button is pressed (a POST with
its CSRF token), never when it is opened: mail scanners (Outlook Safe Links, antivirus)
open every link of a mail before the person does, and would use it up. Whether an address
is staff is never told: /entrar answers every address alike.

The SSO header is believed only when [web] sso_header names it; the proxy must then remove
that header from every client request and set it itself, or anyone could send it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from mailproc.mail.addresses import MAX_ADDRESS, is_typed_address
from mailproc.outgoing.notice import Notice
from mailproc.storage import logins
from mailproc.storage.db import utcnow
from mailproc.web.access import current_staff, is_staff, load_staff, sign_in
from mailproc.web.desk import desk
from mailproc.web.security import limiter

blueprint = Blueprint("login", __name__)
log = logging.getLogger(__name__)

# The purpose of the mail carrying the link (templates/staff_login.*.j2).
STAFF_LOGIN = "staff_login"
# An address as a person types it: no spaces, no line breaks, a dotted domain.
MAX_NEXT = 2000

# Per client (its address; behind [web] proxies, the one the proxy saw) and, for asking a
# link, per address asked for: a robot changing its IP still cannot flood one mailbox.
ASK_PER_CLIENT = "5 per minute;20 per hour"
ASK_PER_ADDRESS = "3 per 15 minutes"
ENTER_PER_CLIENT = "10 per minute"
# The pages an SSO header naming someone not staff is refused on.
STAFF_BLUEPRINTS = frozenset({"staff", "actions", "dashboard", "login"})


def submitted_address() -> str:
    """The address the login form gives, as compared and rate-limited: lower case."""
    return request.form.get("email", "").strip().lower()[: MAX_ADDRESS + 1]


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path of this site ("/equipe/..."), else None: a login must
    not send anyone on to another site ("//evil.example", "/\\evil.example" and
    "https://..." are addresses of other sites to a browser)."""
    if not target or len(target) > MAX_NEXT or not target.startswith("/"):
        return None
    if target.startswith("//") or "\\" in target or not target.isprintable():
        return None
    parts = urlsplit(target)
    return None if parts.scheme or parts.netloc else target


@blueprint.get("/entrar")
def ask() -> str | Response:
    if current_staff() is not None:
        return redirect(local_path(request.args.get("next")) or url_for("staff.queue"))
    return render_template("login.html.j2", next=local_path(request.args.get("next")))


@blueprint.post("/entrar")
@limiter.limit(ASK_PER_CLIENT)
@limiter.limit(ASK_PER_ADDRESS, key_func=submitted_address)
def send_link() -> tuple[str, int]:
    """Mail a login link when the address is staff; the same answer whether it is or not."""
    public_url = desk().config.web.public_url
    if public_url is None:
        return _no_public_url()
    email, next_path = submitted_address(), local_path(request.form.get("next"))
    if not is_typed_address(email):
        error = "Informe um endereço de e-mail completo, como nome@orgao.gov.br."
        return render_template("login.html.j2", next=next_path, error=error), 400
    if is_staff(email):
        queued = _mail_link(public_url, email, next_path, utcnow())
        log.info("staff login link %s %s (asked from %s)",
                 "mailed to" if queued else "held back (a loop cap) for", email,
                 request.remote_addr)  # fmt: skip
    else:
        log.info("staff login refused: %s is not staff (asked from %s)", email,
                 request.remote_addr)  # fmt: skip
    return render_template("login_sent.html.j2"), 200


def _no_public_url() -> tuple[str, int]:
    """Without [web] public_url no link is mailed. The request's own host is no substitute:
    anyone can send any Host header, and a link to their site in our mail would hand them
    the token. Staff are told to ask the operator, who is told what to set."""
    log.error("staff login by mailed link needs [web] public_url (the address people open)")
    explanation = (
        "O acesso por link enviado por e-mail ainda não foi configurado neste servidor. "
        "Avise a equipe de operação do atendimento."
    )
    return render_template("error.html.j2", title="Acesso indisponível",
                           explanation=explanation), 503  # fmt: skip


def _mail_link(public_url: str, email: str, next_path: str | None, now: datetime) -> bool:
    """Store a new link for ``email`` and queue the mail that carries it, together; False
    when the mail was held back (the overall loop cap counts it, as all our mail)."""
    app = desk()
    replier = app.pipeline.replier
    minutes = app.config.web.login_link_minutes
    with app.sessions.begin() as db:
        context = replier.base_context(email, "", "") | {
            "login": {
                "url": _new_link(db, public_url, email, next_path, now),
                "expires_at": replier.format_time(now + timedelta(minutes=minutes)),
                "minutes": minutes,
            }
        }
        return replier.queue(db, Notice(STAFF_LOGIN, email, context, internal=True), now)


def _new_link(db: Session, base_url: str, email: str, next_path: str | None, now: datetime) -> str:
    """A new one-time link for ``email`` under ``base_url``, stored in ``db``."""
    minutes = desk().config.web.login_link_minutes
    token = logins.new_login(db, email, now, timedelta(minutes=minutes))
    return base_url.rstrip("/") + url_for("login.confirm", token=token, next=next_path)


def login_link(email: str, base_url: str) -> str | None:
    """A new one-time link for staff ``email``, as the login mail carries it, for the
    operator to hand over (`mailproc login-link`); None when ``email`` is not staff."""
    email = email.strip().lower()
    if not is_staff(email):
        return None
    with desk().sessions.begin() as db:
        return _new_link(db, base_url, email, None, utcnow())


@blueprint.get("/entrar/<token>")
def confirm(token: str) -> str:
    """The link's page: a button that logs in (see the module's docstring for why)."""
    return render_template("login_confirm.html.j2", token=token,
                           next=local_path(request.args.get("next")))  # fmt: skip


@blueprint.post("/entrar/<token>")
@limiter.limit(ENTER_PER_CLIENT)
def enter(token: str) -> Response | tuple[str, int]:
    """Use the link: one session for its address, once, while it is valid and the address
    still staff. Why a link is refused is not told (nor whether it ever existed)."""
    now = utcnow()
    with desk().sessions.begin() as db:
        email = logins.use_login(db, token, now)
    if email is None or not is_staff(email):
        log.info("staff login refused: a link unknown, used, expired or no longer staff's "
                 "(from %s)", request.remote_addr)  # fmt: skip
        return render_template("login_invalid.html.j2"), 410
    sign_in(session, email, now)
    log.info("staff login of %s by mailed link (from %s)", email, request.remote_addr)
    return redirect(local_path(request.form.get("next")) or url_for("staff.queue"))


@blueprint.post("/sair")
def logout() -> Response:
    session.clear()
    flash("Você saiu. Para entrar de novo, peça um novo link.", "success")
    return redirect(url_for("login.ask"))


@blueprint.before_app_request
def trust_the_proxy() -> None:
    """With [web] sso_header set, a request whose header names a staff address is that
    person's: their session is started (or switched to them) here. A header naming anyone
    else logs nobody in, and is refused on the staff's pages: the proxy says who this is,
    and it is not staff (a requester's own pages stay open to them)."""
    header = desk().config.web.sso_header
    if header is None:
        return
    email = request.headers.get(header, "").strip().lower()
    staff = current_staff()
    if not email or (staff is not None and staff.email == email):
        return
    if is_typed_address(email) and is_staff(email):
        sign_in(session, email, utcnow())
        log.info("staff login of %s by SSO header (from %s)", email, request.remote_addr)
    else:
        log.info("staff login refused: the SSO header names %s, not staff (from %s)",
                 email[:MAX_ADDRESS], request.remote_addr)  # fmt: skip
        session.clear()
    load_staff()
    if current_staff() is None and request.blueprint in STAFF_BLUEPRINTS:
        abort(403)
