"""Staff actions on a ticket (filled in by the actions work)."""

from __future__ import annotations

from flask import Blueprint

blueprint = Blueprint("actions", __name__, url_prefix="/equipe/chamados")
