"""Erasure of one person (LGPD art. 18): everything the desk holds about one address.

    their own tickets (as requester)     erased whole: every message on them (staff answers
                                         too), raw mail, files, participants, history, the
                                         rating, the mail the desk sent about them
    other people's tickets they are on   kept; the person leaves them: their participation,
                                         their own messages (raw mail, files, the history
                                         entries about them), and the desk's mail sent to them
                                         or carrying their words or files
    the rest                             their mail without a ticket and raw mail from them
                                         (duplicates, internal errors), mail sent to them,
                                         delivery reports about their address and its
                                         failing_addresses row, history entries and alerts
                                         naming them, ratings they gave

What stays is other people's own mail that names them (a Cc header, an address quoted in a
text): that is the other person's record. The address is compared without regard to case;
a person who wrote from several addresses is erased once per address.

Everything is planned first (``erase(..., dry_run=True)`` stops there and counts it), then
deleted in one transaction, children before parents, and the database compacted
(mailproc.storage.retention.compact) so that the deleted bytes leave its files too.
"""

from __future__ import annotations

import email
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parseaddr
from typing import Any

from sqlalchemy import Text, cast, delete, func, inspect, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from mailproc.errors import MailprocError
from mailproc.storage import models as m
from mailproc.storage.retention import BATCH, compact, engine_of

log = logging.getLogger(__name__)

# The order rows are deleted in: each table before the tables its rows refer to.
DELETION_ORDER: tuple[type[m.Base], ...] = (
    m.Event,
    m.Evaluation,
    m.Participant,
    m.OutboxBody,
    m.OutboxMail,
    m.Attachment,
    m.Message,
    m.RawMessage,
    m.Ticket,
    m.FailingAddress,
    m.Alert,
    m.WebLogin,
)


@dataclass
class Plan:
    """The rows an erasure deletes: primary keys by table."""

    rows: dict[type[m.Base], set[Any]] = field(
        default_factory=lambda: {model: set() for model in DELETION_ORDER}
    )

    def add(self, model: type[m.Base], keys: Iterable[Any]) -> None:
        self.rows[model].update(keys)

    def __getitem__(self, model: type[m.Base]) -> set[Any]:
        return self.rows[model]


@dataclass(frozen=True)
class ErasureReport:
    """What an erasure deleted, or would delete with ``dry_run``: rows of each table."""

    address: str
    dry_run: bool
    rows: dict[str, int]
    compacted: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "dry_run": self.dry_run,
            "rows": self.rows,
            "compacted": self.compacted,
        }


def erase(sessions: sessionmaker[Session], address: str, *, dry_run: bool) -> ErasureReport:
    """Delete everything about ``address`` (see the module docstring) in one transaction,
    then compact the database; with ``dry_run`` only count it."""
    person = _address(address)
    with sessions.begin() as session:
        plan = _plan(session, person)
        if not dry_run:
            for model in DELETION_ORDER:
                _delete(session, model, plan[model])
    counts = {model.__tablename__: len(plan[model]) for model in DELETION_ORDER}
    if dry_run:
        return ErasureReport(person, dry_run, counts)
    compacted = compact(engine_of(sessions))
    # The log's formatter masks the address (mailproc.logsafe): the domain stays readable.
    log.info("erased everything about %s: %s", person, counts)
    return ErasureReport(person, dry_run, counts, compacted)


def _address(given: str) -> str:
    """The bare address, lower case ("Maria <Maria@x.gov.br>" -> "maria@x.gov.br")."""
    address = parseaddr(given)[1].strip().lower()
    if "@" not in address:
        raise MailprocError(f"not an e-mail address: {given!r}")
    return address


# -- the plan -------------------------------------------------------------------------------


def _plan(session: Session, person: str) -> Plan:
    plan = Plan()
    names = _naming(person)
    plan.add(m.Ticket, _ids(session, m.Ticket.id, _is(m.Ticket.requester_email, person)))
    plan.add(m.Event, _naming_rows(session, m.Event.id, m.Event.detail, person, names))
    _plan_messages(session, plan, person)
    plan.add(m.Event, _ids(session, m.Event.id, m.Event.ticket_id.in_(sorted(plan[m.Ticket]))))
    plan.add(
        m.Participant,
        _ids(session, m.Participant.id, m.Participant.ticket_id.in_(sorted(plan[m.Ticket])))
        | _ids(session, m.Participant.id, _is(m.Participant.email, person)),
    )
    plan.add(
        m.Evaluation,
        _ids(session, m.Evaluation.id, m.Evaluation.ticket_id.in_(sorted(plan[m.Ticket])))
        | _ids(session, m.Evaluation.id, _is(m.Evaluation.rater, person)),
    )
    _plan_outbox(session, plan, person, names)
    plan.add(m.FailingAddress, _ids(session, m.FailingAddress.email,
                                    _is(m.FailingAddress.email, person)))  # fmt: skip
    plan.add(m.Alert, _naming_rows(session, m.Alert.id, m.Alert.detail, person, names))
    plan.add(m.WebLogin, _ids(session, m.WebLogin.id, _is(m.WebLogin.email, person)))
    return plan


def _plan_messages(session: Session, plan: Plan, person: str) -> None:
    """The messages on their tickets, from them, and the delivery reports that history
    entries naming them are about (a report has no ticket); with each message its files,
    its history and its raw mail. Then raw mail from them that never became a message (a
    duplicate, one that met an internal error)."""
    reports = select(m.Event.message_id).where(m.Event.id.in_(sorted(plan[m.Event])))
    theirs = or_(
        m.Message.ticket_id.in_(sorted(plan[m.Ticket])),
        _is(m.Message.sender, person),
        m.Message.id.in_(reports) & m.Message.ticket_id.is_(None),
    )
    plan.add(m.Message, _ids(session, m.Message.id, theirs))
    for batch in _batches(plan[m.Message]):
        plan.add(m.Attachment, _ids(session, m.Attachment.id, m.Attachment.message_id.in_(batch)))
        plan.add(m.Event, _ids(session, m.Event.id, m.Event.message_id.in_(batch)))
        plan.add(m.RawMessage, _ids(session, m.Message.raw_id, m.Message.id.in_(batch)) - {None})
    # The header is at the start: 64 KB of it is plenty, and spares reading whole messages.
    alone = select(m.RawMessage.id, func.substr(m.RawMessage.data, 1, 65536)).where(
        m.RawMessage.data.is_not(None),
        ~select(m.Message.id).where(m.Message.raw_id == m.RawMessage.id).exists(),
    )
    for raw_id, head in session.execute(alone):
        if person in _senders(head):
            plan.add(m.RawMessage, [raw_id])


def _plan_outbox(session: Session, plan: Plan, person: str, names: re.Pattern[str]) -> None:
    """The desk's mail about their tickets and to them; and, on other tickets they took part
    in and about no ticket, the mail that names them or carries one of their files."""
    outbox = m.OutboxMail
    tickets = plan[m.Ticket]
    plan.add(outbox, _ids(session, outbox.id, outbox.ticket_id.in_(sorted(tickets))))
    plan.add(outbox, _ids(session, outbox.id, _is(outbox.to_address, person)))
    for row_id, recipients in _rows_mentioning(session, outbox.id, outbox.recipients, person):
        if person in {recipient.lower() for recipient in recipients}:
            plan.add(outbox, [row_id])
    took_part = (
        (
            _ids(session, m.Participant.ticket_id, _is(m.Participant.email, person))
            | _ids(session, m.Message.ticket_id, _is(m.Message.sender, person))
        )
        - tickets
        - {None}
    )
    others = or_(outbox.ticket_id.in_(sorted(took_part)), outbox.ticket_id.is_(None))
    files: set[str] = set()
    for batch in _batches(plan[m.Attachment]):
        files |= _ids(session, m.Attachment.sha256, m.Attachment.id.in_(batch))
    for batch in _batches(_ids(session, outbox.id, others) - plan[outbox]):
        bodies = select(m.OutboxBody.outbox_id, m.OutboxBody.raw)
        for row_id, raw in session.execute(bodies.where(m.OutboxBody.outbox_id.in_(batch))):
            if _carries(raw, names, files):
                plan.add(outbox, [row_id])
    plan.add(m.OutboxBody, plan[outbox])


def _ids(session: Session, column: InstrumentedAttribute[Any], where: Any) -> set[Any]:
    return set(session.scalars(select(column).where(where)))


def _naming_rows(
    session: Session,
    key: InstrumentedAttribute[Any],
    data: InstrumentedAttribute[Any],
    person: str,
    names: re.Pattern[str],
) -> set[Any]:
    """The rows whose JSON ``data`` names the person."""
    rows = _rows_mentioning(session, key, data, person)
    return {row_id for row_id, value in rows if _names_in(value, names)}


def _rows_mentioning(
    session: Session, key: InstrumentedAttribute[Any], data: InstrumentedAttribute[Any], person: str
) -> Iterator[tuple[Any, Any]]:
    """Rows whose JSON ``data`` holds the address somewhere (a first sieve, in the
    database: the caller checks each)."""
    needle = json.dumps(person)[1:-1]  # as the JSON text writes it
    sieve = func.lower(cast(data, Text)).contains(needle, autoescape=True)
    yield from session.execute(select(key, data).where(sieve))


def _is(column: InstrumentedAttribute[Any], person: str) -> Any:
    return func.lower(column) == person


# -- reading what names the person ----------------------------------------------------------


def _naming(person: str) -> re.Pattern[str]:
    """The address on its own, not inside a longer one (ana@x.br is not in joana@x.br)."""
    return re.compile(rf"(?<![\w.+'-]){re.escape(person)}(?!\.?[\w-])", re.IGNORECASE)


def _names_in(value: Any, names: re.Pattern[str]) -> bool:
    """Whether a JSON value (keys too) names the person."""
    return names.search(json.dumps(value, ensure_ascii=False)) is not None


def _senders(raw: bytes) -> set[str]:
    """The From addresses of raw mail, read from its header only, lower case."""
    header = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    return {address.lower() for _, address in getaddresses(header.get_all("From", []))}


def _carries(raw: bytes, names: re.Pattern[str], files: set[str]) -> bool:
    """Whether a mail of the desk's names the person (a header, a text part) or carries one
    of the files (by SHA-256)."""
    mail = email.message_from_bytes(raw, policy=policy.default)
    for part in mail.walk():
        if any(names.search(str(value)) for value in part.values()):
            return True
        if part.is_multipart():
            continue
        if part.get_content_maintype() == "text":
            if names.search(str(part.get_content())):
                return True
        elif files:
            content = part.get_payload(decode=True)
            if isinstance(content, bytes) and hashlib.sha256(content).hexdigest() in files:
                return True
    return False


# -- deleting -------------------------------------------------------------------------------


def _delete(session: Session, model: type[m.Base], keys: set[Any]) -> None:
    primary = inspect(model).primary_key[0]
    for batch in _batches(keys):
        session.execute(
            delete(model).where(primary.in_(batch)),
            execution_options={"synchronize_session": False},
        )


def _batches(keys: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(keys)
    for start in range(0, len(ordered), BATCH):
        yield ordered[start : start + BATCH]
