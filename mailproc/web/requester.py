"""Requesters' pages (filled in by the requester work)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("requester", __name__)


@blueprint.get("/meus-chamados")
def ask_my_tickets() -> str:
    return "meus chamados"
