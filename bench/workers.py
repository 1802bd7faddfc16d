"""Scale-out on PostgreSQL: 1, 2 and 4 `mailproc poll --once` workers sharing one database.

    python -m bench.workers                       # N = 2,000 over 4 mailboxes
    python -m bench.workers --n 400 --rounds 2 --json results.json

A mailbox is read by one worker at a time (mailproc/leases.py), so the workers share the
load through several mailboxes (a desk has several support addresses) and the outbox, which
they claim with SKIP LOCKED. Each configuration gets the same mail in fresh mailboxes and a
fresh database, and must give every message one outcome and its replies once, with gapless
ticket codes: a fast but wrong run fails. See bench/README.md, "Workers on PostgreSQL".
"""

from __future__ import annotations

import argparse
import dataclasses
import email.parser
import email.policy
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from bench.measure import Measured, Running
from bench.messages import Generated, MailGenerator
from bench.run import Bench, _json_line, _machine, parse_args
from bench.servers import Arrival, Mailbox, ReplyListener, dovecot
from mailproc.storage import models as m
from mailproc.storage.db import make_engine
from tests.db_fixtures import throwaway_postgres

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


@dataclass(frozen=True)
class Setup:
    """One configuration: the store and how many workers run against it."""

    backend: str  # "postgresql" or "sqlite"
    workers: int

    @property
    def label(self) -> str:
        return f"{self.backend} x{self.workers}"


@dataclass
class Checks:
    """What the database, the SMTP listener and the mailboxes say after a run."""

    outcomes: dict[str, str]  # inbound Message-ID -> outcome
    replies: Counter[str]  # inbound Message-ID -> replies that arrived answering it
    tickets: int
    sent: int
    arrived: int
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "outcomes": dict(sorted(Counter(self.outcomes.values()).items())),
            "tickets": self.tickets,
            "sent": self.sent,
            "arrived": self.arrived,
            "problems": self.problems,
        }


@dataclass
class WorkersRun:
    setup: Setup
    round: int
    n: int
    seconds: float
    workers: list[Measured]
    reports: list[dict[str, object]]
    load: str
    busy: float  # share of the machine's CPU time in use during the run, any process
    checks: Checks
    waits: LockWaits | None  # PostgreSQL only
    ratio: float = 0.0  # msg/s over that of one PostgreSQL worker in the same round

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0

    @property
    def cores(self) -> float:
        cpu = sum(worker.cpu_seconds for worker in self.workers)
        return cpu / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        exits = all(worker.exit_code == 0 for worker in self.workers)
        return exits and not self.checks.problems

    @property
    def verdict(self) -> str:
        return "ok" if self.ok else "; ".join(self.checks.problems[:3]) or "a worker failed"

    def summary(self) -> dict[str, object]:
        return {
            "backend": self.setup.backend,
            "workers": self.setup.workers,
            "round": self.round,
            "n": self.n,
            "seconds": round(self.seconds, 2),
            "rate": round(self.rate, 1),
            "ratio": round(self.ratio, 2),
            "worker_cores": round(self.cores, 2),
            "machine_busy": round(self.busy, 2),
            "load_at_start": self.load,
            "processed_per_worker": [report.get("processed", 0) for report in self.reports],
            "delivered_per_worker": [report.get("delivered", 0) for report in self.reports],
            "exit_codes": [worker.exit_code for worker in self.workers],
            "checks": self.checks.summary(),
            **(self.waits.summary() if self.waits else {}),
        }


# -- the mail ---------------------------------------------------------------------------


def spread(messages: Iterable[Generated], mailboxes: int) -> list[list[Generated]]:
    """Deal the messages to the mailboxes in turn, except that a reply goes to the mailbox of
    the message it answers: a requester answers the address that wrote to them, and the one
    worker reading a mailbox then sees the original before its reply, as with one worker."""
    dealt: list[list[Generated]] = [[] for _ in range(mailboxes)]
    home: dict[str, int] = {}
    for turn, message in enumerate(messages):
        answered = str(_HEADERS.parsebytes(message.raw).get("In-Reply-To", "")).strip()
        box = home.get(answered, turn % mailboxes)
        home[message.message_id] = box
        dealt[box].append(message)
    return dealt


def desk_config(config: str, boxes: Sequence[Mailbox], database_url: str) -> str:
    """The bench's one-mailbox desk (bench/run.py) with its [[imap]] table repeated for every
    mailbox, each under its own name, and the database at ``database_url``."""
    start = config.index("[[imap]]")
    block = config[start : config.index("\n[", start) + 1]
    first = boxes[0]
    extra = [
        _replace_once(
            _replace_once(block, f'user = "{first.user}"', f'user = "{box.user}"'),
            r'(?m)^name = "(.*)"$',
            rf'name = "\g<1>{index}"',
        )
        for index, box in enumerate(boxes[1:], start=2)
    ]
    config = _replace_once(config, r'(?m)^url = ".*"$', f'url = "{database_url}"')
    return config + "\n" + "\n".join(extra)


def _replace_once(text_: str, pattern: str, replacement: str) -> str:
    """``re.subn`` that fails loudly when the bench's desk no longer has the line it edits."""
    if not pattern.startswith("(?m)"):
        pattern = re.escape(pattern)
    result, count = re.subn(pattern, replacement, text_, count=2)
    if count != 1:
        raise ValueError(f"desk config: {pattern!r} found {count} times, expected once")
    return result


# -- where the workers queue ---------------------------------------------------------------

_SESSIONS = text(
    "SELECT wait_event_type = 'Lock', left(query, 60) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND state IN ('active', 'idle in transaction')"
)


class LockWaits:
    """Samples the workers' PostgreSQL sessions every SAMPLE_SECONDS while a run lasts: of the
    sessions inside a statement or a transaction, how many wait for a lock, and on what."""

    SAMPLE_SECONDS = 0.1

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.sampled = 0
        self.statements: Counter[str] = Counter()

    def __enter__(self) -> LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._engine.dispose()

    def _sample(self) -> None:
        with self._engine.connect() as connection:
            while not self._done.wait(self.SAMPLE_SECONDS):
                for waiting, statement in connection.execute(_SESSIONS):
                    self.sampled += 1
                    self.statements[statement] += bool(waiting)
                connection.rollback()  # a fresh snapshot of pg_stat_activity each time

    @property
    def share(self) -> float:
        return sum(self.statements.values()) / self.sampled if self.sampled else 0.0

    def summary(self) -> dict[str, object]:
        top = [(statement, count) for statement, count in self.statements.most_common(3) if count]
        return {"lock_wait_share": round(self.share, 2), "lock_waits_on": dict(top)}


# -- one configuration --------------------------------------------------------------------


class WorkersBench:
    """The bench's servers and desk (bench.run.Bench), several mailboxes, several workers."""

    def __init__(self, bench: Bench, dealt: list[list[Generated]], timeout: float) -> None:
        self.bench, self.dealt, self.timeout = bench, dealt, timeout
        self.messages = [message for box in dealt for message in box]

    def measure(self, setup: Setup, round_: int) -> WorkersRun:
        boxes = [self.bench.server.new_mailbox() for _ in self.dealt]
        for box, messages in zip(boxes, self.dealt, strict=True):
            box.append_all(message.raw for message in messages)
        folder = self.bench.desk(boxes[0], f"{setup.backend}-{setup.workers}-{round_}")
        with _database(setup.backend, folder) as url:
            config = folder / "config.toml"
            config.write_text(desk_config(config.read_text(), boxes, url), encoding="utf-8")
            if setup.backend == "postgresql":  # bench.desk upgraded the SQLite file only
                self._upgrade(folder)
            listener = self.bench.listener
            listener.reset()
            load, before = _loadavg(), _cpu_times()
            with _lock_waits(url) as waits:
                started = time.perf_counter()
                running = [
                    Running(self._poll(folder), folder, self.bench.env, f"worker{k}", sample=False)
                    for k in range(setup.workers)
                ]
                workers = [worker.finish(self.timeout) for worker in running]
                seconds = time.perf_counter() - started
            busy = _busy(before, _cpu_times())
            reports = [_json_line(worker.stdout) for worker in workers]
            checks = self._check(url, listener.arrivals(), boxes, reports)
        return WorkersRun(setup, round_, len(self.messages), seconds, workers, reports, load,
                          busy, checks, waits)  # fmt: skip

    def _poll(self, folder: Path) -> list[str]:
        return self.bench.mailproc(folder, "poll", "--once", "--json")

    def _upgrade(self, folder: Path) -> None:
        argv = [sys.executable, "-m", "mailproc", "--config", str(folder / "config.toml"), "db",
                "upgrade"]  # fmt: skip
        subprocess.run(argv, cwd=folder, env=self.bench.env, check=True, capture_output=True)

    def _check(
        self,
        url: str,
        arrivals: list[Arrival],
        boxes: Sequence[Mailbox],
        reports: list[dict[str, object]],
    ) -> Checks:
        engine = make_engine(url)
        try:
            checks = read_checks(engine, arrivals)
        finally:
            engine.dispose()
        n = len(self.messages)
        processed = sum(int(str(report.get("processed", 0))) for report in reports)
        if processed != n:
            checks.problems.append(f"the workers processed {processed} messages, not {n}")
        wanted = {_bare(message.message_id) for message in self.messages}
        if missing := wanted - set(checks.outcomes):
            checks.problems.append(f"{len(missing)} messages without an outcome")
        expected = {_bare(message.message_id) for message in self.messages if message.expects_reply}
        if unanswered := expected - set(checks.replies):
            checks.problems.append(f"{len(unanswered)} messages got no reply")
        if left := sum(box.count("INBOX") for box in boxes):
            checks.problems.append(f"{left} messages left unacknowledged in the mailboxes")
        return checks


def read_checks(engine: Engine, arrivals: list[Arrival]) -> Checks:
    """What the database holds after a run, and what it got wrong: a message with two
    outcomes, a stored message without one, ticket codes with a gap or a repeat, outbox mail
    not sent, or a number of mails at the listener other than the number sent."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(m.Message.message_id, m.Message.outcome).where(m.Message.raw_id.is_not(None))
        ).all()
        codes = list(connection.scalars(select(m.Ticket.code)))
        open_raws = connection.scalar(select(func.count()).where(m.RawMessage.outcome.is_(None)))
        by_status = select(m.OutboxMail.status, func.count()).group_by(m.OutboxMail.status)
        statuses: Counter[str] = Counter(dict(connection.execute(by_status).all()))
    problems = [f"{mid} has {count} outcomes" for mid, count in
                Counter(mid for mid, _ in rows).items() if count > 1]  # fmt: skip
    if open_raws:
        problems.append(f"{open_raws} stored messages without an outcome")
    problems += _code_gaps(codes)
    if unsent := statuses.total() - statuses["sent"]:
        problems.append(f"{unsent} outbox mails not sent")
    if len(arrivals) != statuses["sent"]:
        problems.append(f"{len(arrivals)} mails arrived for {statuses['sent']} sent")
    return Checks(
        outcomes={_bare(mid): outcome for mid, outcome in rows if mid},
        replies=Counter(_bare(a.in_reply_to) for a in arrivals if a.in_reply_to),
        tickets=len(codes),
        sent=statuses["sent"],
        arrived=len(arrivals),
        problems=problems,
    )


def _code_gaps(codes: Sequence[str]) -> list[str]:
    """Each year's codes ("2026-000123") must run 1, 2, 3... without a gap or a repeat."""
    years: dict[str, list[int]] = {}
    for code in codes:
        year, number = code.rsplit("-", 1)
        years.setdefault(year, []).append(int(number))
    return [
        f"ticket codes of {year} are not 1..{len(numbers)} without gaps or repeats"
        for year, numbers in sorted(years.items())
        if sorted(numbers) != list(range(1, len(numbers) + 1))
    ]


def _bare(message_id: str) -> str:
    return message_id.strip().strip("<>")


def consistent(runs: Sequence[WorkersRun]) -> None:
    """Every configuration must decide every message as the first did and answer it as often:
    the mail and its order in each mailbox are the same, only the workers change."""
    first = runs[0].checks
    for run in runs[1:]:
        differ = sum(first.outcomes.get(mid) != out for mid, out in run.checks.outcomes.items())
        if differ:
            run.checks.problems.append(f"{differ} outcomes differ from {runs[0].setup.label}")
        if run.checks.replies != first.replies:
            run.checks.problems.append(f"replies per message differ from {runs[0].setup.label}")


@contextmanager
def _lock_waits(url: str) -> Iterator[LockWaits | None]:
    if not url.startswith("postgresql"):
        yield None
        return
    with LockWaits(url) as waits:
        yield waits


@contextmanager
def _database(backend: str, folder: Path) -> Iterator[str]:
    """A throwaway PostgreSQL database (dropped after), or the desk's SQLite file."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'mailproc.db'}"
        return
    with throwaway_postgres("mailproc_bench") as url:
        yield url


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


# -- command line -------------------------------------------------------------------------


@dataclass
class Args:
    n: int
    mailboxes: int
    workers: list[int]
    rounds: int
    sqlite: bool
    seed: int
    timeout: float
    json: str | None
    tree: str | None


def parse_workers_args(argv: Sequence[str] | None) -> Args:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="messages, spread over the boxes")
    parser.add_argument("--mailboxes", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=1, help="repeat every configuration")
    parser.add_argument("--no-sqlite", dest="sqlite", action="store_false",
                        help="skip the one-worker SQLite reference")  # fmt: skip
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per worker")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--tree", help="measure the mailproc package of this source tree")
    args = Args(**vars(parser.parse_args(argv)))
    if 1 not in args.workers:
        parser.error("--workers must include 1: the ratios are against one worker")
    return args


def setups(args: Args) -> list[Setup]:
    sqlite = [Setup("sqlite", 1)] if args.sqlite else []
    return sqlite + [Setup("postgresql", k) for k in sorted(set(args.workers))]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_workers_args(argv)
    if os.geteuid() != 0:
        print("bench: run as root (the throwaway Dovecot's mail processes run as nobody)")
        return 2
    load = _loadavg()
    print(f"load average at start: {load}", flush=True)
    dealt = spread(MailGenerator(args.seed).messages(args.n), args.mailboxes)
    runs: list[WorkersRun] = []
    bench_args = dataclasses.replace(parse_args([]), seed=args.seed, tree=args.tree)
    with (
        tempfile.TemporaryDirectory(prefix="mailproc-bench-workers-") as work,
        dovecot() as server,
        ReplyListener() as listener,
    ):
        workers = WorkersBench(Bench(server, listener, Path(work), bench_args), dealt, args.timeout)
        for round_ in range(1, args.rounds + 1):
            for setup in setups(args):
                runs.append(workers.measure(setup, round_))
                _print_run(runs[-1])
    _rank(runs)
    consistent(runs)
    _print_table(runs, dealt, load)
    if args.json:
        results = {
            "machine": _machine(),
            "load_at_start": load,
            "mailboxes": [len(box) for box in dealt],
            "runs": [run.summary() for run in runs],
        }
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0 if all(run.ok for run in runs) else 1


def _rank(runs: list[WorkersRun]) -> None:
    """Each run's ratio against one PostgreSQL worker of the same round."""
    one = {r.round: r.rate for r in runs if r.setup == Setup("postgresql", 1)}
    for run in runs:
        run.ratio = run.rate / one[run.round] if one.get(run.round) else 0.0


def _print_run(run: WorkersRun) -> None:
    """Progress: the ratios come once every configuration of the round has run."""
    processed = [report.get("processed", 0) for report in run.reports]
    print(f"{run.setup.label}, round {run.round}: {run.seconds:.2f} s, {run.rate:.1f} msg/s, "
          f"processed {processed}, {run.verdict}", flush=True)  # fmt: skip
    for worker in run.workers:
        if worker.exit_code != 0:
            print(worker.stderr[-3000:], file=sys.stderr)


def _print_table(runs: Sequence[WorkersRun], dealt: list[list[Generated]], load: str) -> None:
    n = sum(len(box) for box in dealt)
    sizes = ", ".join(str(len(box)) for box in dealt)
    print(f"\nN = {n} over {len(dealt)} mailboxes ({sizes}); load average at start {load}")
    print("| store | workers | round | s | msg/s | ratio | worker cores | machine busy "
          "| lock waits | load | processed per worker | checks |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        s = run.summary()
        print(f"| {run.setup.backend} | {run.setup.workers} | {run.round} | {s['seconds']} "
              f"| {s['rate']} | {s['ratio']} | {s['worker_cores']} | {run.busy:.0%} "
              f"| {f'{run.waits.share:.0%}' if run.waits else ''} "
              f"| {run.load} | {s['processed_per_worker']} | {run.verdict} |")  # fmt: skip
    for run in runs:
        if run.waits and run.waits.share:
            print(f"{run.setup.label}, round {run.round}: lock waits on "
                  f"{json.dumps(run.waits.summary()['lock_waits_on'])}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
