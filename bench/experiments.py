"""Experiments for files the bench's owner does not own: ``mailproc`` with some functions
replaced, to measure a proposed change before it is made where it belongs.

    BENCH_EXPERIMENTS=batch_ack,fold_once python -m bench --poller bench.experiments ...

Each experiment is named in BENCH_EXPERIMENTS ("all" for every one); the replacement is the
proposed change, written against the committed code (run with ``--tree`` on an export of
it). Nothing here is used by mailproc itself.
"""

from __future__ import annotations

import email.charset
import email.header
import email.utils
import hashlib
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from email import policy
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

EXPERIMENTS_ENV = "BENCH_EXPERIMENTS"
ACK_BATCH = 50  # messages committed before one MOVE and one cursor save
PARSE_AHEAD = 64  # messages handed to the parsing process ahead of the pipeline

EXPERIMENTS: dict[str, Callable[[], None]] = {}


def experiment(function: Callable[[], None]) -> Callable[[], None]:
    EXPERIMENTS[function.__name__] = function
    return function


@experiment
def batch_ack() -> None:
    """poller._drain: ack (MOVE) and save the cursor once per ACK_BATCH committed messages,
    not once per message. A crash re-reads at most that many, which dedup absorbs: the
    cursor is saved only after the MOVE, as now."""
    from mailproc import poller, store
    from mailproc.decision import Outcome

    def _drain(app: Any, box: Any, source: Any, report: Any, stopping: Any) -> None:
        name, folder = source.settings.name, source.settings.folder
        origin = f"imap:{name}/{folder}"
        with app.sessions.begin() as session:
            cursor = store.load_cursor(session, name, folder)
        done: list[tuple[int, bool]] = []
        last: list[Any] = []

        def flush() -> None:
            for quarantine in (False, True):
                uids = [uid for uid, q in done if q is quarantine]
                if uids:
                    box.ack_many(uids, quarantine=quarantine)
            if last:
                with app.sessions.begin() as session:
                    store.save_cursor(session, name, folder, last[-1])
            done.clear()
            last.clear()

        try:
            for fetched in _fetched(box, cursor):
                if stopping is not None and stopping.is_set():
                    return
                if fetched.raw is not None:
                    result = app.pipeline.process(fetched.raw, origin)
                else:
                    result = app.pipeline.process(
                        fetched.headers or b"", origin, full_size=fetched.size
                    )
                done.append((fetched.uid, result.outcome is Outcome.QUARANTINED))
                last.append(fetched.cursor)
                report.count(result)
                if len(done) >= ACK_BATCH:
                    flush()
        finally:
            flush()

    setattr(poller, "_drain", _drain)  # noqa: B010


@experiment
def deliver_after_drain() -> None:
    """poller.poll_imap: while watching a mailbox (``mailproc run`` with IDLE), deliver the
    outbox right after a drain that processed mail, instead of waiting for the outbox job
    ([scheduler] outbox_seconds, 15 s by default) to come round."""
    import time

    from mailproc import poller
    from mailproc.imap_source import ImapMailbox

    def poll_imap(
        app: Any, source: Any, report: Any, stopping: Any = None, watch_seconds: float = 0
    ) -> None:
        deadline = time.monotonic() + watch_seconds
        with ImapMailbox(source.settings) as box:
            while True:
                before = report.processed
                poller._drain(app, box, source, report, stopping)
                if watch_seconds and report.processed > before:
                    poller.deliver(app)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (stopping is not None and stopping.is_set()):
                    return
                box.wait_for_news(min(remaining, 60.0))

    setattr(poller, "poll_imap", poll_imap)  # noqa: B010


_PARSED: dict[int, Future[Any]] = {}


def _fetched(box: Any, cursor: Any) -> Iterator[Any]:
    """box.fetch_new(cursor); with parse_ahead, each body is already being parsed."""
    pool = _POOL[0] if _POOL else None
    if pool is None:
        yield from box.fetch_new(cursor)
        return
    from mailproc.parse import parse_message

    window: deque[Any] = deque()
    for fetched in box.fetch_new(cursor):
        if fetched.raw is not None:
            _PARSED[id(fetched.raw)] = pool.submit(parse_message, fetched.raw)
        window.append(fetched)
        if len(window) >= PARSE_AHEAD:
            yield window.popleft()
    yield from window


_POOL: list[ProcessPoolExecutor] = []


@experiment
def parse_ahead() -> None:
    """poller: parse in another process (one worker) while the main one stores and replies.
    Implies batch_ack (the drain loop is the same)."""
    from mailproc import pipeline

    original = getattr(pipeline, "parse_message")  # noqa: B009
    workers = int(os.environ.get("BENCH_PARSE_WORKERS", "1"))
    _POOL.append(ProcessPoolExecutor(max_workers=workers))

    def parse_message(raw: bytes) -> Any:
        future = _PARSED.pop(id(raw), None)
        return future.result() if future is not None else original(raw)

    setattr(pipeline, "parse_message", parse_message)  # noqa: B010
    if "batch_ack" not in _selected():
        batch_ack()


@experiment
def fold_once() -> None:
    """answers._own_lines: fold each line once (not up to three times per marker test), and
    remember the last text (check_message asks for the own lines of one body twice)."""
    from mailproc import answers
    from mailproc.textfold import fold

    spaces = re.compile(r"\s+")
    markers = answers._HISTORY_MARKERS
    memo: dict[str, list[str]] = {}

    def is_marker(folded: str) -> bool:
        return any(marker.search(folded) for marker in markers)

    def _own_lines(text: str) -> list[str]:
        if text in memo:
            return memo[text]
        lines = text.splitlines()
        folded = [fold(line) for line in lines]
        own = lines
        for number, line in enumerate(folded):
            following = folded[number + 1] if number + 1 < len(lines) else ""
            joined = spaces.sub(" ", f"{line} {following}").strip()
            if is_marker(line) or (not is_marker(following) and is_marker(joined)):
                own = lines[:number]
                break
        memo.clear()
        memo[text] = own
        return list(own)

    setattr(answers, "_own_lines", _own_lines)  # noqa: B010


@experiment
def reply_cap_index() -> None:
    """store.replies_since: an indexed lookup instead of a scan of the whole outbox (LIKE
    over the JSON recipients of every row, raw bytes beside them). Proposed: a column
    ``to_address`` with an index on (to_address, created_at); here an expression index on
    the first recipient stands in for it."""
    from sqlalchemy import func, literal_column, select, text

    from mailproc import models as m
    from mailproc import notices, store

    def replies_since(session: Any, address: str, since: Any) -> int:
        # A literal path, not a bound parameter: SQLite matches the index expression as written.
        first = func.json_extract(m.OutboxMail.recipients, literal_column("'$[0]'"))
        query = select(func.count()).where(first == address, m.OutboxMail.created_at >= since)
        return session.scalar(query) or 0

    for module in (store, notices):
        setattr(module, "replies_since", replies_since)  # noqa: B010
    _ON_START.append(
        lambda app: _execute(
            app,
            text(
                "CREATE INDEX IF NOT EXISTS ix_bench_outbox_to "
                "ON outbox (json_extract(recipients, '$[0]'), created_at)"
            ),
        )
    )


@experiment
def raw_update() -> None:
    """store.mark_raw: one UPDATE instead of loading the RawMessage (and its bytes) back;
    store.save_raw: look up and insert in one transaction instead of two."""
    from sqlalchemy import select, update
    from sqlalchemy.exc import IntegrityError

    from mailproc import models as m
    from mailproc import store
    from mailproc.db import utcnow

    def mark_raw(session: Any, raw_id: int, outcome: Any, reason: str = "") -> None:
        session.execute(
            update(m.RawMessage)
            .where(m.RawMessage.id == raw_id)
            .values(outcome=outcome.value, reason=reason or None, processed_at=utcnow())
        )

    def save_raw(sessions: Any, raw: bytes, origin: str) -> Any:
        digest = hashlib.sha256(raw).hexdigest()
        for _ in range(2):
            try:
                with sessions.begin() as session:
                    query = select(m.RawMessage.id, m.RawMessage.outcome).filter_by(sha256=digest)
                    found = session.execute(query).first()
                    if found is not None:
                        return store.RawRecord(found.id, digest, found.outcome)
                    row = m.RawMessage(sha256=digest, size=len(raw), data=raw, source=origin)
                    session.add(row)
                    session.flush()
                    return store.RawRecord(row.id, digest, None)
            except IntegrityError:
                continue
        raise RuntimeError(f"raw message {digest} neither found nor inserted")

    setattr(store, "mark_raw", mark_raw)  # noqa: B010
    setattr(store, "save_raw", save_raw)  # noqa: B010


_QP = email.charset.Charset("utf-8")
_QP.body_encoding = email.charset.QP
_QP.header_encoding = email.charset.QP
_CRLF = policy.compat32.clone(linesep="\r\n")


@experiment
def fast_email() -> None:
    """replies.build_email: email.mime over compat32 instead of EmailMessage and the header
    registry (4.3 ms -> 1.0 ms per reply here). The line-break check of header values that
    policy.default gave for free is kept explicitly."""
    from mailproc import notices, replies

    def build_email(
        rendered: Any,
        *,
        sender: str,
        sender_name: str,
        to: Sequence[str],
        cc: Sequence[str],
        tag: str | None,
        in_reply_to: str | None,
        references: Sequence[str],
        message_id: str,
        auto_submitted: str = "auto-replied",
    ) -> bytes:
        for value in (sender, sender_name, *to, *cc, message_id, in_reply_to or "", *references):
            if "\r" in value or "\n" in value:
                raise ValueError(f"line break in a header value: {value!r}")
        subject = " ".join((f"{tag} {rendered.subject}" if tag else rendered.subject).split())
        msg = MIMEMultipart("alternative")
        msg["Subject"] = subject if subject.isascii() else _encoded(subject)
        msg["From"] = email.utils.formataddr((sender_name, sender), charset="utf-8")
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        msg["Date"] = email.utils.formatdate(localtime=True)
        msg["Message-ID"] = f"<{message_id.strip().strip('<>')}>"
        if in_reply_to:
            msg["In-Reply-To"] = f"<{in_reply_to.strip().strip('<>')}>"
        if references:
            msg["References"] = " ".join(f"<{r.strip().strip('<>')}>" for r in references)
        msg["Auto-Submitted"] = auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
        msg["Content-Language"] = "pt-BR"
        msg.attach(MIMEText(rendered.text, "plain", _QP))  # type: ignore[arg-type]
        msg.attach(MIMEText(rendered.html, "html", _QP))  # type: ignore[arg-type]
        return msg.as_bytes(policy=_CRLF)

    for module in (replies, notices):
        setattr(module, "build_email", build_email)  # noqa: B010


def _encoded(text: str) -> str:
    return email.header.Header(text, "utf-8").encode()


_ON_START: list[Callable[[Any], None]] = []


def _execute(app: Any, statement: Any) -> None:
    with app.engine.begin() as connection:
        connection.execute(statement)


def _selected() -> list[str]:
    names = [n.strip() for n in os.environ.get(EXPERIMENTS_ENV, "").split(",") if n.strip()]
    return list(EXPERIMENTS) if names == ["all"] else names


def main() -> int:
    for name in _selected():
        if name not in EXPERIMENTS:
            sys.exit(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
        EXPERIMENTS[name]()
    if _ON_START:
        from mailproc.app import App

        start = App.start

        def start_and_prepare(self: Any) -> Any:
            app = start(self)
            for step in _ON_START:
                step(app)
            return app

        App.start = start_and_prepare  # type: ignore[method-assign]
    from mailproc.cli import main as cli_main

    try:
        return cli_main(sys.argv[1:])
    finally:
        for pool in _POOL:
            pool.shutdown(cancel_futures=True)


if __name__ == "__main__":
    sys.exit(main())
