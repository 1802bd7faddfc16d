"""The coordinator's dashboard (filled in by the dashboard work)."""

from __future__ import annotations

from flask import Blueprint

from mailproc.web.access import coordinator_required

blueprint = Blueprint("dashboard", __name__, url_prefix="/equipe/painel")


@blueprint.get("/")
@coordinator_required
def show() -> str:
    return "painel"
