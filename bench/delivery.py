"""The outbox's delivery alone: CPU and database work per mail, against a real SMTP listener.

    python -m bench.delivery --mails 2000
    python -m bench.delivery --mails 2000 --database postgresql --repeat 3
    python -m bench.delivery --mails 0 --big-mb 25       # memory of one large routed copy

Each run: a fresh database upgraded to the newest schema (SQLite file, or a throwaway
PostgreSQL database of the tests' server), N pending outbox mails built by
``replies.build_email`` (5-50 KB, log-uniform: text and HTML, most with a file attached)
and queued as the pipeline queues them (``store.add_outbox_mail``: the row, and its bytes
in ``outbox_bodies``), and ``outbox.deliver_due`` against the bench's SMTP sink
(``bench/sink.py``) in a child process, so that the listener's CPU is not the delivery's.
Printed per run: CPU ms per mail (this process's ``time.process_time()`` over N, the
kernel's share in brackets), mails/s (wall), the listener's CPU per mail (the client waits
for each of its replies: the wall time includes it), and the statements and commits per
mail.

``--big-mb`` delivers one mail with a file of that size attached (base64: 4/3 of it) and
prints the Python allocation peak during ``deliver_due`` (tracemalloc), less the mail's own
size. To measure another source tree's ``mailproc``, run from outside the checkout with that
tree first on the path: ``cd /tmp && PYTHONPATH=DIR:/work/main python -m bench.delivery``.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, make_url, select, text

HOST = "127.0.0.1"
FROM = "suporte@compras.example.gov.br"
WORDS = [
    "solicitação",
    "registrada",
    "chamado",
    "erro",
    "publicar",
    "aviso",
    "licitação",
    "pregão",
    "eletrônico",
    "sistema",
    "compras",
    "unidade",
    "gestora",
    "UASG",
    "cadastro",
    "fornecedor",
    "prazo",
    "anexo",
    "captura",
    "tela",
    "passo",
    "acesso",
    "perfil",
    "servidor",
    "órgão",
    "secretaria",
    "estado",
    "documento",
    "protocolo",
    "análise",
]


def _listener(pipe: Pipe) -> None:
    """The child process: the bench's SMTP sink, counting what it accepts, until told to stop."""
    from bench.sink import SmtpSink

    with SmtpSink(HOST) as sink:
        pipe.send(sink.port)
        while pipe.recv() != "stop":
            pipe.send((len(sink.arrivals()), time.process_time()))
    pipe.send((len(sink.arrivals()), time.process_time()))


class Listener:
    """The SMTP listener in its own process."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_listener, args=(child,), daemon=True)
        self._process.start()
        child.close()  # so that a listener that dies is an EOFError here, not a hang
        self.port: int = self._pipe.recv()

    def received(self) -> tuple[int, float]:
        """Mails accepted so far, and the listener's CPU seconds."""
        self._pipe.send("count")
        mails, cpu = self._pipe.recv()
        return int(mails), float(cpu)

    def stop(self) -> None:
        self._pipe.send("stop")
        self._pipe.recv()
        self._process.join(10)


@contextmanager
def database(kind: str, folder: Path) -> Iterator[Engine]:
    """A fresh database at the newest schema; a PostgreSQL one is dropped afterwards."""
    from mailproc.storage.db import make_engine
    from mailproc.storage.schema import upgrade

    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{folder / 'outbox.sqlite3'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    from tests.db_fixtures import POSTGRES_ADMIN_URL

    name = f"mailproc_bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def build_mails(count: int, seed: int, attach_bytes: int | None = None) -> list[dict[str, Any]]:
    """Outbox rows as the pipeline queues them: replies (some with a copy) and routed copies
    with files; sizes 5-50 KB log-uniform, or one file of ``attach_bytes``."""
    from mailproc.mail.message import Attachment
    from mailproc.outgoing.replies import RenderedReply, build_email
    from mailproc.storage.db import utcnow

    rng = random.Random(seed)
    due = utcnow() - timedelta(seconds=1)
    rows = []
    for n in range(count):
        size = attach_bytes or int(math.exp(rng.uniform(math.log(5_000), math.log(50_000))))
        words = rng.choices(WORDS, k=rng.randint(60, 400))
        body = "\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12)) + "\n"
        text_size = len(body.encode()) * 2 + 1500  # text and HTML, headers
        data = rng.randbytes(max(size - text_size, 0) * 3 // 4)
        files = [Attachment("captura-de-tela.png", "image/png", "image/png", data)] if data else []
        to = f"servidor{n}@saude.rj.gov.br"
        cc = ["redecompras@planejamento.rj.gov.br"] if rng.random() < 0.5 else []
        raw = build_email(
            RenderedReply(
                subject="Chamado registrado: erro ao publicar aviso",
                text=body,
                html="<p>" + body.replace("\n", "<br>\n") + "</p>\n",
            ),
            sender=FROM,
            sender_name="Central de Atendimento",
            to=[to],
            cc=cc,
            tag=f"[#2026-{n:06d}]",
            in_reply_to=f"orig-{n}@saude.rj.gov.br",
            references=[f"orig-{n}@saude.rj.gov.br"],
            message_id=f"reply-{n}-{seed}@compras.example.gov.br",
            attachments=files,
        )
        rows.append(
            {
                "ticket_id": None,
                "message_id": f"reply-{n}-{seed}@compras.example.gov.br",
                "purpose": "ack",
                "sender": FROM,
                "recipients": [to, *cc],
                "to_address": to,
                "subject": "Chamado registrado",
                "raw": raw,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": due,
                "created_at": due,
            }
        )
    return rows


def _policy() -> Any:
    from mailproc.config import DeliveryConfig

    # The shipped defaults (config.example.toml); the Maildir is not used with SMTP.
    return DeliveryConfig(Path("outbox"), 10, 60, 3600, "hold")


@dataclass
class Counted:
    statements: int = 0
    commits: int = 0


@contextmanager
def counting(engine: Engine) -> Iterator[Counted]:
    counted = Counted()

    def statement(*_: Any) -> None:
        counted.statements += 1

    def commit(*_: Any) -> None:
        counted.commits += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


@dataclass
class Run:
    mails: int
    cpu_ms_per_mail: float
    system_ms_per_mail: float  # of which in the kernel (loopback TCP, file writes)
    mails_per_s: float
    listener_ms_per_mail: float  # the SMTP server's CPU: what the wall time waits on
    statements_per_mail: float
    commits_per_mail: float


def deliver_once(
    kind: str, listener: Listener, rows: list[dict[str, Any]], measure_memory: bool = False
) -> tuple[Run, float]:
    """Fill a fresh database with ``rows``, deliver them all; the figures, and the tracemalloc
    peak in bytes when ``measure_memory``."""
    from mailproc.outgoing.delivery import SmtpSender
    from mailproc.outgoing.outbox import deliver_due
    from mailproc.storage import models as m
    from mailproc.storage.db import make_sessions
    from mailproc.storage.store import add_outbox_mail

    with (
        tempfile.TemporaryDirectory(prefix="mailproc-bench-delivery-") as tmp,
        database(kind, Path(tmp)) as engine,
    ):
        sessions = make_sessions(engine)
        with sessions.begin() as session:  # one commit
            for row in rows:
                add_outbox_mail(session, {k: v for k, v in row.items() if k != "raw"}, row["raw"])
        sender = SmtpSender(HOST, listener.port, "none", None, None, timeout=60)
        policy = _policy()
        before, listener_cpu = listener.received()
        if measure_memory:
            tracemalloc.start()
        with counting(engine) as counted:
            wall, cpu, kernel = time.perf_counter(), time.process_time(), os.times().system
            report = deliver_due(sessions, sender, policy, threading.Event())
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            kernel = os.times().system - kernel
        peak = 0.0
        if measure_memory:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        after, listener_after = listener.received()
        listener_cpu = listener_after - listener_cpu
        with engine.connect() as connection:
            statuses = set(connection.scalars(select(m.OutboxMail.status).distinct()))
    n = len(rows)
    if report.sent != n or after - before != n or statuses - {"sent"}:
        raise SystemExit(f"not every mail went out once: {report}, {after - before}, {statuses}")
    run = Run(
        n,
        cpu / n * 1000,
        kernel / n * 1000,
        n / wall,
        listener_cpu / n * 1000,
        counted.statements / n,
        counted.commits / n,
    )
    return run, peak


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__)
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--big-mb", type=float, default=0, help="one mail with a file this big")
    args = parser.parse_args(argv)

    import mailproc

    print(f"mailproc from {Path(mailproc.__file__).parent}; database {args.database}")
    listener = Listener()
    try:
        if args.mails:
            rows = build_mails(args.mails, args.seed)
            sizes = [len(row["raw"]) for row in rows]
            print(
                f"{len(rows)} mails, {statistics.mean(sizes) / 1000:.1f} KB on average "
                f"({min(sizes) / 1000:.1f}-{max(sizes) / 1000:.1f})"
            )
            runs = []
            for _ in range(args.repeat):
                run, _ = deliver_once(args.database, listener, rows)
                runs.append(run)
                print(
                    f"  CPU {run.cpu_ms_per_mail:.2f} ms/mail "
                    f"(kernel {run.system_ms_per_mail:.2f}), {run.mails_per_s:.0f} mails/s "
                    f"(listener CPU {run.listener_ms_per_mail:.2f} ms/mail), "
                    f"{run.statements_per_mail:.2f} statements and "
                    f"{run.commits_per_mail:.2f} commits per mail"
                )
            cpu = statistics.median(r.cpu_ms_per_mail for r in runs)
            rate = statistics.median(r.mails_per_s for r in runs)
            print(f"median: CPU {cpu:.2f} ms/mail, {rate:.0f} mails/s")
        if args.big_mb:
            [row] = build_mails(1, args.seed, attach_bytes=int(args.big_mb * 1_000_000))
            size = len(row["raw"])
            _, peak = deliver_once(args.database, listener, [row], measure_memory=True)
            print(
                f"one mail of {size / 1e6:.1f} MB: allocation peak while delivering "
                f"{peak / 1e6:.1f} MB ({(peak - size) / 1e6:.1f} MB over the mail itself)"
            )
    finally:
        listener.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
