"""The staff console: the queue and a ticket's page (filled in by the queue work)."""

from __future__ import annotations

from flask import Blueprint

from mailproc.web.access import staff_required

blueprint = Blueprint("staff", __name__, url_prefix="/equipe")


@blueprint.get("/")
@staff_required
def queue() -> str:
    return "fila"
