"""Staff login (filled in by the login work)."""

from __future__ import annotations

from flask import Blueprint, redirect, session, url_for
from werkzeug.wrappers import Response

blueprint = Blueprint("login", __name__)


@blueprint.get("/entrar")
def ask() -> str:
    return "entrar"


@blueprint.post("/sair")
def logout() -> Response:
    session.clear()
    return redirect(url_for("login.ask"))
