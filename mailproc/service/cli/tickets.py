"""``mailproc tickets``: what the desk recorded, ticket by ticket."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from mailproc.service.cli.arguments import Commands, add_command, add_group
from mailproc.service.cli.output import say, say_json

if TYPE_CHECKING:
    from mailproc.service.app import App
    from mailproc.storage import models as m


def add_commands(commands: Commands) -> None:
    tickets = add_group(commands, "tickets", "list and show tickets")
    listing = add_command(tickets, "list", list_tickets, "newest tickets first")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--state")
    listing.add_argument("--limit", type=int, default=50)
    show = add_command(tickets, "show", show_ticket, "one ticket with its thread")
    show.add_argument("code")
    show.add_argument("--json", action="store_true")


def list_tickets(app: App, args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from mailproc.storage import models as m

    with app.start().sessions() as session:
        query = select(m.Ticket).order_by(m.Ticket.id.desc()).limit(args.limit)
        if args.state:
            query = query.where(m.Ticket.state == args.state)
        tickets = [_summary(t) for t in session.scalars(query)]
    if args.json:
        say_json(tickets)
        return
    for t in tickets:
        say(
            f"{t['code']}  {t['state']:<26} {t['theme'] or '-':<16} {t['requester']:<32} "
            f"{t['subject']}"
        )


def show_ticket(app: App, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from mailproc.storage import models as m

    with app.start().sessions() as session:
        ticket = session.scalars(select(m.Ticket).filter_by(code=args.code)).first()
        if ticket is None:
            print(f"mailproc: no ticket {args.code}", file=sys.stderr)
            return 1
        detail = _detail(ticket)
    if args.json:
        say_json(detail)
        return 0
    for key, value in detail.items():
        if isinstance(value, list):
            say(f"{key}:")
            for item in value:
                say(f"  - {json.dumps(item, ensure_ascii=False, default=str)}")
        elif isinstance(value, dict):
            say(f"{key}: {json.dumps(value, ensure_ascii=False, default=str)}")
        else:
            say(f"{key}: {value}")
    return 0


def _summary(ticket: m.Ticket) -> dict[str, object]:
    return {
        "code": ticket.code,
        "state": ticket.state,
        "theme": ticket.theme_id,
        "priority": ticket.priority,
        "requester": ticket.requester_email,
        "subject": ticket.subject,
        "created_at": ticket.created_at.isoformat(),
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
    }


def _detail(ticket: m.Ticket) -> dict[str, object]:
    return {
        **_summary(ticket),
        "answers": dict(ticket.answers),
        "participants": [{"email": p.email, "role": p.role} for p in ticket.participants],
        "evaluation": _evaluation(ticket.evaluation),
        "messages": [
            {
                "id": msg.id,
                "outcome": msg.outcome,
                "from": msg.sender,
                "subject": msg.subject,
                "received_at": msg.created_at.isoformat(),
                "attachments": [
                    {
                        "filename": a.filename,
                        "type": a.detected_type or a.declared_type,
                        "size": a.size,
                        "sha256": a.sha256,
                    }
                    for a in msg.attachments
                ],
            }
            for msg in ticket.messages
        ],
        "events": [
            {"kind": e.kind, "at": e.created_at.isoformat(), **e.detail} for e in ticket.events
        ],
    }


def _evaluation(evaluation: m.Evaluation | None) -> dict[str, object] | None:
    """The requester's rating; "at" is when they last gave it (a new rating replaces it)."""
    if evaluation is None:
        return None
    return {
        "score": evaluation.score,
        "comment": evaluation.comment,
        "rater": evaluation.rater,
        "at": evaluation.updated_at.isoformat(),
    }
