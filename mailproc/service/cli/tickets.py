"""``mailproc tickets``: what the desk recorded, ticket by ticket: the list, one ticket's
conversation, and its files written out."""

from __future__ import annotations

import argparse
import mimetypes
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from mailproc.decision.ticket_state import TicketState
from mailproc.service.cli.arguments import Commands, add_command, add_group, add_json_option
from mailproc.service.cli.output import desk_time, human_size, say, say_json

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailproc.service.app import App
    from mailproc.storage import models as m
    from mailproc.storage.store import OutboxEntry

# tickets list: (title, width) of each column but the last, the subject, which takes the rest.
COLUMNS = (
    ("CODE", 11),
    ("STATE", 24),
    ("THEME", 18),
    ("PRIORITY", 8),
    ("OPENED", 20),
    ("REQUESTER", 32),
)


def add_commands(commands: Commands) -> None:
    tickets = add_group(commands, "tickets", "list and show tickets, write out their files")
    listing = add_command(tickets, "list", list_tickets, "newest tickets first")
    add_json_option(listing)
    states = [state.value for state in TicketState]
    listing.add_argument(
        "--state", choices=states, metavar="STATE", help=f"only tickets in it: {', '.join(states)}"
    )
    listing.add_argument(
        "--limit", type=int, default=50, metavar="N", help="at most N tickets (default: 50)"
    )
    show = add_command(
        tickets, "show", show_ticket, "one ticket: its messages and files, the desk's mail, history"
    )
    show.add_argument("code", metavar="CODE", help="the ticket's code, e.g. 2026-000123")
    add_json_option(show)
    files = add_command(
        tickets, "files", write_files, "write a ticket's files to a folder; print each path"
    )
    files.add_argument("code", metavar="CODE", help="the ticket's code, e.g. 2026-000123")
    files.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="folder to write to, made if missing (default: ./CODE-files); "
        "a file already there is never replaced: the new one is numbered (print-2.png)",
    )


def list_tickets(app: App, args: argparse.Namespace) -> None:
    from mailproc.storage import store

    with app.start().sessions() as session:
        tickets = store.newest_tickets(session, args.state, args.limit)
        if args.json:
            say_json([_summary(t) for t in tickets])
            return
        zone = app.config.desk.timezone
        say(_row([title for title, _ in COLUMNS], "SUBJECT"), fit=True)
        for t in tickets:
            cells = [t.code, t.state, t.theme_id or "-", t.priority, desk_time(t.created_at, zone)]
            say(_row([*cells, t.requester_email], t.subject), fit=True)


def _row(cells: Sequence[str], last: str) -> str:
    """One line of tickets list: each cell padded to its column, then the last one."""
    padded = [f"{cell:<{width}}" for cell, (_, width) in zip(cells, COLUMNS, strict=True)]
    return " ".join([*padded, last])


def show_ticket(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when there is no such ticket."""
    from mailproc.storage import store

    with app.start().sessions() as session:
        ticket = store.conversation(session, args.code)
        if ticket is None:
            return _no_ticket(args.code)
        replies = store.outbox_entries(session, None, None, ticket_id=ticket.id)[::-1]
        purges = _purges(ticket)
        if args.json:
            say_json(_detail(ticket, replies, purges))
        else:
            _print_conversation(ticket, replies, purges, app.config.desk.timezone)
    return 0


def write_files(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when there is no such ticket, or files of it are gone: retention purged them."""
    from mailproc.storage import store

    zone = app.config.desk.timezone
    with app.start().sessions() as session:
        ticket = store.conversation(session, args.code)
        if ticket is None:
            return _no_ticket(args.code)
        purges = _purges(ticket)
        kept: list[m.Attachment] = []
        purged: list[tuple[m.Attachment, datetime]] = []
        for message in ticket.messages:
            emptied = _purged_on(message, purges)
            if emptied is None:
                kept.extend(message.attachments)
            else:
                purged.extend((file, emptied) for file in message.attachments)
        if purged and not kept:
            first = desk_time(min(when for _, when in purged), zone)
            print(
                f"mailproc: the files of ticket {ticket.code} were purged on {first}",
                file=sys.stderr,
            )
            return 1
        out: Path = args.out or Path(f"{ticket.code}-files")
        out.mkdir(parents=True, exist_ok=True)
        for file, name in zip(kept, _new_names(kept, out), strict=True):
            _write_new(out / name, file, session)
            say(str(out / name))
        for file, when in purged:
            print(f"mailproc: {file.filename}: purged on {desk_time(when, zone)}", file=sys.stderr)
    return 1 if purged else 0


def _no_ticket(code: str) -> int:
    print(f"mailproc: no ticket {code}", file=sys.stderr)
    return 1


def _new_names(files: Sequence[m.Attachment], out: Path) -> list[str]:
    """A name in ``out`` for each file, none of a file already there (print-2.png).

    Made safe again, whatever stored them: a name must never lead out of ``out``, nor act on
    the shell or the terminal of whoever opens the folder."""
    from mailproc.mail.safe_names import generated_filename, safe_filename, unique_names

    wanted = [
        safe_filename(file.filename) or generated_filename(number, _extension(file))
        for number, file in enumerate(files, 1)
    ]
    there = [path.name for path in out.iterdir()]
    return unique_names([*there, *wanted])[len(there) :]


def _write_new(path: Path, file: m.Attachment, session: Session) -> None:
    """Write one file's bytes, loaded now and let go after, to a path that must be new ("x":
    never replace a file, even one made meanwhile)."""
    with path.open("xb") as written:
        written.write(file.data or b"")
    session.expire(file, ["data"])


def _extension(file: m.Attachment) -> str:
    guessed = mimetypes.guess_extension(file.detected_type or file.declared_type) or ""
    return guessed.lstrip(".")


# -- one ticket, read -----------------------------------------------------------------------


def _purges(ticket: m.Ticket) -> list[datetime]:
    """When retention purged the ticket (again, if a reply reopened it and it closed again)."""
    from mailproc.storage.retention import PURGED

    return [event.created_at for event in ticket.events if event.kind == PURGED]


def _purged_on(message: m.Message, purges: Sequence[datetime]) -> datetime | None:
    """The first purge after ``message`` came, which emptied its text and files."""
    return next((when for when in purges if when >= message.created_at), None)


def _print_conversation(
    ticket: m.Ticket, replies: Sequence[OutboxEntry], purges: Sequence[datetime], zone: tzinfo
) -> None:
    """The ticket as an operator reads it: its header, each message (who, when, what came of
    it, its text and files), the desk's mail about it, its history."""
    _print_header(ticket, zone)
    for message in ticket.messages:
        say("")
        _print_message(message, _purged_on(message, purges), zone)
    if replies:
        say("")
        say("Mail the desk sent")
        for mail in replies:
            when = desk_time(mail.sent_at or mail.next_attempt_at, zone)
            to = ", ".join(mail.to)
            say(f"  {when}  {mail.status:<9} {mail.purpose:<18} to {to}: {mail.subject}")
    if ticket.events:
        say("")
        say("History")
        for event in ticket.events:
            detail = ", ".join(f"{k}: {_plain(v)}" for k, v in event.detail.items() if v)
            say(f"  {desk_time(event.created_at, zone)}  {event.kind}  {detail}".rstrip())


def _print_header(ticket: m.Ticket, zone: tzinfo) -> None:
    """One "key: value" line each (a script may split them), then the answers."""
    say(f"ticket: {ticket.code}")
    say(f"subject: {ticket.subject}")
    say(f"state: {ticket.state}")
    say(f"theme: {ticket.theme_id or '-'}")
    say(f"priority: {ticket.priority}")
    say(f"requester: {_person(ticket.requester_name, ticket.requester_email)}")
    say(f"opened: {desk_time(ticket.created_at, zone)}")
    say(f"due: {desk_time(ticket.due_at, zone)}")
    others = [
        f"{p.email} ({p.role})" for p in ticket.participants if p.email != ticket.requester_email
    ]
    if others:
        say(f"participants: {', '.join(others)}")
    if rating := ticket.evaluation:
        comment = f": {rating.comment}" if rating.comment else ""
        when = desk_time(rating.updated_at, zone)
        say(f"rating: {rating.score}/5 by {rating.rater}, {when}{comment}")
    if ticket.answers:
        say("")
        say("Answers")
        for label, value in ticket.answers.items():
            say(f"  {label}: {_plain(value)}")


def _print_message(message: m.Message, purged: datetime | None, zone: tzinfo) -> None:
    """Who sent it, when, what came of it; its text, or when a purge emptied it; its files."""
    sender = _person(message.sender_name, message.sender)
    say(f"From {sender}, {desk_time(message.created_at, zone)}, {message.outcome}")
    say(f"  Subject: {message.subject}")
    if purged:
        say(f"  (mail purged on {desk_time(purged, zone)})")
    else:
        say("")
        for line in message.body_text.strip("\n").splitlines() or ["(no text)"]:
            say(f"    {line}".rstrip())
    if not message.attachments:
        return
    say("")
    files = [
        (file.filename, file.detected_type or file.declared_type, human_size(file.size))
        for file in message.attachments
    ]
    name_width, kind_width = (max(len(row[i]) for row in files) for i in (0, 1))
    for name, kind, size in files:
        say(f"  {name:<{name_width}}  {kind:<{kind_width}}  {size:>6}")


def _person(name: str, email: str) -> str:
    return f"{name} <{email}>" if name else email


def _plain(value: object) -> str:
    """A stored value (an answer, an event's detail) as text, not as a Python repr."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return "-" if value is None else str(value)


# -- JSON: the shapes scripts rely on -------------------------------------------------------


def _summary(ticket: m.Ticket) -> dict[str, object]:
    return {
        "code": ticket.code,
        "state": ticket.state,
        "theme": ticket.theme_id,
        "priority": ticket.priority,
        "requester": ticket.requester_email,
        "subject": ticket.subject,
        "created_at": ticket.created_at.isoformat(),
        "due_at": _iso(ticket.due_at),
    }


def _detail(
    ticket: m.Ticket, replies: Sequence[OutboxEntry], purges: Sequence[datetime]
) -> dict[str, object]:
    """The ticket as ``--json`` shows it: its summary, then its story; times in UTC."""
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
                # The stored text (HTML mail's as text); "" once purged, as purged_at says.
                "text": msg.body_text,
                "purged_at": _iso(_purged_on(msg, purges)),
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
        "replies": [
            {
                "id": mail.id,
                "message_id": mail.message_id,
                "status": mail.status,
                "purpose": mail.purpose,
                "to": mail.to,
                "subject": mail.subject,
                "created_at": mail.created_at.isoformat(),
                "sent_at": _iso(mail.sent_at),
            }
            for mail in replies
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


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
