"""How pages print the desk's values: times in pt-BR in the desk's zone, states and
priorities by their Portuguese names (the labels the mail uses), and the desk's own name and
addresses on every page."""

from __future__ import annotations

from datetime import datetime, tzinfo

from flask import Flask

from mailproc.config import DeskConfig
from mailproc.decision.states import PRIORITY_LABELS, state_label


def local_time(moment: datetime | None, zone: tzinfo) -> str:
    """ "07/12/2026 09:15" in the desk's zone; "" for none."""
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%d/%m/%Y %H:%M")


def number(value: float, decimals: int = 0) -> str:
    """A number as pt-BR writes it: 1.234 and 3,5."""
    text = f"{value:,.{decimals}f}"
    return text.translate(str.maketrans(",.", ".,"))


def install(app: Flask, desk: DeskConfig) -> None:
    zone = desk.timezone
    app.add_template_filter(lambda moment: local_time(moment, zone), "local_time")
    app.add_template_filter(state_label, "state_label")
    app.add_template_filter(lambda p: PRIORITY_LABELS.get(p, p), "priority_label")
    app.add_template_filter(number, "thousands")
    app.jinja_env.globals.update(
        desk_name=desk.name, desk_address=desk.address, desk_phone=desk.phone
    )
