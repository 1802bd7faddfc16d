"""The mailproc benchmark: throughput against a stdlib baseline, memory, and IDLE latency.

    python -m bench                  # N = 1,000 and 5,000, the 25 MB message, IDLE latency
    python -m bench --quick          # smoke run: N = 30 only
    python -m bench --n 1000 --latency-seconds 0 --big-mb 0

Everything runs on 127.0.0.1: the tests' throwaway Dovecot and a lean SMTP sink. See
bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.baseline import BaselineResult, run_baseline
from bench.measure import Measured, Running, run_measured
from bench.messages import Generated, MailGenerator, big_message
from bench.servers import Dovecot, Mailbox, ReplyListener, append, dovecot

REPO = Path(__file__).resolve().parents[1]
PASSWORD_ENV = "MAILPROC_BENCH_IMAP_PASSWORD"

DESK = """\
[desk]
name = "Central de Atendimento – Compras.gov.br RJ"
address = "suporte@compras.example.gov.br"
trusted_forwarders = ["redecompras@planejamento.rj.gov.br"]

[authentication]
authserv_id = "mx.compras.example.gov.br"

[database]
url = "sqlite:///mailproc.db"

[[imap]]
name = "suporte"
host = "{imap_host}"
port = {imap_port}
tls = "none"
user = "{user}"
password_env = "{password_env}"
poll_seconds = {poll_seconds}
idle = true

[smtp]
host = "{smtp_host}"
port = {smtp_port}
tls = "none"

[delivery]
outbox_maildir = "outbox"

[scheduler]
outbox_seconds = {outbox_seconds}
"""


@dataclass
class Throughput:
    n: int
    mailbox_bytes: int
    kinds: dict[str, int]
    baseline: BaselineResult
    mailproc: Measured
    report: dict[str, object]
    expected_replies: int
    replied: int
    unanswered: list[str] = field(default_factory=list)
    # Seconds from the poll's start to each reply's arrival: with a backlog's replies sent
    # as it is read, the first come long before the poll ends.
    reply_seconds: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.n / self.mailproc.seconds if self.mailproc.seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.rate / self.baseline.rate if self.baseline.rate else 0.0

    def summary(self) -> dict[str, object]:
        return {
            "n": self.n,
            "mailbox_mb": round(self.mailbox_bytes / 1e6, 1),
            "average_kb": round(self.mailbox_bytes / self.n / 1e3, 1) if self.n else 0,
            "kinds": self.kinds,
            "baseline_rate": round(self.baseline.rate, 1),
            "baseline_seconds": round(self.baseline.seconds, 2),
            "baseline_cpu_seconds": round(self.baseline.cpu_seconds, 2),
            "baseline_fetch_seconds": round(self.baseline.fetch_seconds, 2),
            "mailproc_rate": round(self.rate, 1),
            "mailproc_seconds": round(self.mailproc.seconds, 2),
            "mailproc_cores": round(self.mailproc.cores, 2),
            "mailproc_cpu_ms_per_message": round(self.mailproc.cpu_seconds * 1000 / self.n, 2)
            if self.n
            else 0,
            "ratio": round(self.ratio, 3),
            "peak_rss_mb": round(self.mailproc.peak_rss_kb / 1024, 1),
            "tree_peak_rss_mb": round(self.mailproc.tree_peak_kb / 1024, 1),
            "exit_code": self.mailproc.exit_code,
            "report": self.report,
            "expected_replies": self.expected_replies,
            "replied": self.replied,
            "unanswered": self.unanswered[:10],
            "first_reply_s": round(min(self.reply_seconds, default=0), 2),
            "median_reply_s": round(statistics.median(self.reply_seconds or [0]), 2),
        }


class Bench:
    """The servers, shared by every scenario; each scenario gets a fresh mailbox and desk."""

    def __init__(self, server: Dovecot, listener: ReplyListener, work: Path, args: Args) -> None:
        self.server, self.listener, self.work, self.args = server, listener, work, args
        # The mailproc measured: this repository's, or another tree's (a `git archive` of a
        # commit) when other work in progress must not move the figures.
        tree = Path(args.tree).resolve() if args.tree else REPO
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(dict.fromkeys([str(tree), str(REPO)])),
        }

    def desk(self, box: Mailbox, name: str, *, outbox_seconds: int = 15) -> Path:
        """A fresh workspace with its config and an upgraded SQLite database."""
        folder = self.work / name
        folder.mkdir()
        config = DESK.format(
            imap_host=box.host, imap_port=box.port, user=box.user, password_env=PASSWORD_ENV,
            smtp_host=self.listener.host, smtp_port=self.listener.port,
            poll_seconds=60, outbox_seconds=outbox_seconds,
        )  # fmt: skip
        (folder / "config.toml").write_text(config, encoding="utf-8")
        self.env[PASSWORD_ENV] = box.password
        subprocess.run(
            [sys.executable, "-m", "mailproc", "--config", str(folder / "config.toml"), "db",
             "upgrade"], cwd=folder, env=self.env, check=True,
            capture_output=True,
        )  # fmt: skip
        return folder

    def mailproc(self, folder: Path, *command: str) -> list[str]:
        """The command line of ``mailproc``, through bench.peak (which records its memory)."""
        config = ["--config", str(folder / "config.toml")]
        return [
            sys.executable,
            "-m",
            "bench.peak",
            self.args.poller or "mailproc",
            *config,
            *command,
        ]

    def poll_once(self, folder: Path, name: str) -> Measured:
        argv = self.mailproc(folder, "poll", "--once", "--json")
        if self.args.profile:
            out = Path(self.args.profile).resolve() / f"{name}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            argv = [sys.executable, "-m", "pyinstrument", "-o", str(out), *argv[1:]]
        return run_measured(argv, folder, self.env, "poll")

    # -- scenarios ------------------------------------------------------------------------

    def throughput(self, n: int) -> Throughput:
        box = self.server.new_mailbox()
        expected: set[str] = set()
        kinds: Counter[str] = Counter()
        size = 0

        def loaded(messages: Iterator[Generated]) -> Iterator[bytes]:
            nonlocal size
            for message in messages:
                kinds[message.kind] += 1
                size += len(message.raw)
                if message.expects_reply:
                    expected.add(message.message_id)
                yield message.raw

        box.append_all(loaded(MailGenerator(self.args.seed).messages(n)))
        baseline = run_baseline(box)
        folder = self.desk(box, f"n{n}-{time.monotonic_ns()}")
        self.listener.reset()
        began = time.monotonic()
        measured = self.poll_once(folder, f"poll-{n}")
        arrivals = self.listener.arrivals()
        answered = {arrival.in_reply_to for arrival in arrivals}
        report = _json_line(measured.stdout)
        return Throughput(
            n, size, dict(sorted(kinds.items())), baseline, measured, report,
            len(expected), len(expected & answered), sorted(expected - answered),
            [arrival.at - began for arrival in arrivals],
        )  # fmt: skip

    def memory(self, megabytes: float) -> dict[str, object]:
        """Peak RSS of one poll with one small message, then with one message of that size."""
        results: dict[str, object] = {}
        generator = MailGenerator(self.args.seed)
        for label, message in (
            ("small", generator.one(0, standalone=True)),
            ("big", big_message(int(megabytes * 1e6), self.args.seed)),
        ):
            box = self.server.new_mailbox()
            box.append_all([message.raw])
            folder = self.desk(box, f"memory-{label}-{time.monotonic_ns()}")
            self.listener.reset()
            measured = self.poll_once(folder, f"memory-{label}")
            results[label] = {
                "bytes": len(message.raw),
                "seconds": round(measured.seconds, 2),
                "peak_rss_mb": round(measured.peak_rss_kb / 1024, 1),
                "exit_code": measured.exit_code,
                "replied": any(
                    a.in_reply_to == message.message_id for a in self.listener.arrivals()
                ),
                "report": _json_line(measured.stdout),
            }
        small, big = results["small"], results["big"]
        assert isinstance(small, dict) and isinstance(big, dict)
        extra_mb = big["peak_rss_mb"] - small["peak_rss_mb"]
        results["extra_mb"] = round(extra_mb, 1)
        results["extra_over_size"] = round(extra_mb * 1024 * 1024 / big["bytes"], 2)
        return results

    def latency(self, seconds: int, interval: float, outbox_seconds: int) -> dict[str, object]:
        """``mailproc run`` idling on IDLE; one message APPENDed per ``interval``."""
        box = self.server.new_mailbox()
        folder = self.desk(box, f"latency-{time.monotonic_ns()}", outbox_seconds=outbox_seconds)
        generator = MailGenerator(self.args.seed + 1)
        self.listener.reset()
        running = Running(self.mailproc(folder, "run"), folder, self.env, "run")
        sent: dict[str, float] = {}
        try:
            imap = box.connect()
            warm = generator.one(0, standalone=True)
            append(imap, warm.raw)
            self._wait_for({warm.message_id}, timeout=60 + outbox_seconds)
            tick = time.monotonic()
            for index in range(1, int(seconds / interval) + 1):
                message = generator.one(index, standalone=True)
                sent[message.message_id] = time.monotonic()
                append(imap, message.raw)
                tick += interval
                time.sleep(max(0.0, tick - time.monotonic()))
            imap.logout()
            self._wait_for(set(sent), timeout=30 + 2 * outbox_seconds)
        finally:
            running.process.send_signal(signal.SIGTERM)
            measured = running.finish(timeout=30)
        arrived = {a.in_reply_to: a.at for a in self.listener.arrivals()}
        delays = sorted(arrived[mid] - at for mid, at in sent.items() if mid in arrived)
        return {
            "messages": len(sent),
            "replied": len(delays),
            "outbox_seconds": outbox_seconds,
            "median_s": round(statistics.median(delays), 3) if delays else None,
            "p99_s": round(_percentile(delays, 0.99), 3) if delays else None,
            "max_s": round(delays[-1], 3) if delays else None,
            # Sampled: a `run` that outlives the grace period is killed before it can report.
            "peak_rss_mb": round(max(measured.peak_rss_kb, measured.tree_peak_kb) / 1024, 1),
            "exit_code": measured.exit_code,
        }

    def _wait_for(self, message_ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if message_ids <= {a.in_reply_to for a in self.listener.arrivals()}:
                return
            time.sleep(0.05)


def _percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    rank = max(1, min(len(values), round(q * len(values) + 0.5)))
    return values[rank - 1]


def _json_line(stdout: str) -> dict[str, object]:
    for line in reversed(stdout.strip().splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return {}


@dataclass
class Args:
    n: list[int]
    quick: bool
    seed: int
    big_mb: float
    latency_seconds: int
    latency_interval: float
    outbox_seconds: list[int]
    json: str | None
    profile: str | None
    poller: str | None
    tree: str | None
    relay_ms: float


def parse_args(argv: Sequence[str] | None) -> Args:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--n", type=int, nargs="*", default=[1000, 5000], help="mailbox sizes (none: skip)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: --n 30, nothing else")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--big-mb", type=float, default=25.0, help="0 skips the memory test")
    parser.add_argument("--latency-seconds", type=int, default=60, help="0 skips it")
    parser.add_argument("--latency-interval", type=float, default=1.0)
    parser.add_argument(
        "--outbox-seconds", type=int, nargs="+", default=[15, 1],
        help="[scheduler] outbox_seconds for the latency runs (15 is the default)",
    )  # fmt: skip
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--profile", help="folder: run each poll under pyinstrument")
    parser.add_argument(
        "--poller", help="experiment: a module run instead of `mailproc` (same arguments)"
    )
    parser.add_argument("--tree", help="measure the mailproc package of this source tree")
    parser.add_argument(
        "--relay-ms", type=float, default=0,
        help="the listener answers each mail's end of data this late, as a relay would",
    )  # fmt: skip
    ns = parser.parse_args(argv)
    args = Args(**vars(ns))
    if args.quick:
        args.n, args.big_mb, args.latency_seconds = [30], 0, 0
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: run as root (the throwaway Dovecot's mail processes run as nobody)")
        return 2
    tree = Path(args.tree).resolve() if args.tree else REPO
    results: dict[str, object] = {"machine": _machine(), "commit": _commit(), "tree": str(tree)}
    throughputs: list[dict[str, object]] = []
    results["throughput"] = throughputs
    with (
        tempfile.TemporaryDirectory(prefix="mailproc-bench-") as work,
        dovecot() as server,
        ReplyListener(args.relay_ms) as listener,
    ):
        bench = Bench(server, listener, Path(work), args)
        for n in args.n:
            result = bench.throughput(n)
            throughputs.append(result.summary())
            _print_throughput(result)
        if args.big_mb:
            results["memory"] = memory = bench.memory(args.big_mb)
            _print_memory(memory)
        if args.latency_seconds:
            runs = []
            for outbox_seconds in args.outbox_seconds:
                lat = bench.latency(args.latency_seconds, args.latency_interval, outbox_seconds)
                runs.append(lat)
                _print_latency(lat)
            results["latency"] = runs
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    failed = any(t["exit_code"] != 0 or t["replied"] != t["expected_replies"] for t in throughputs)
    return 1 if failed else 0


def _print_throughput(t: Throughput) -> None:
    s = t.summary()
    print(
        f"N={t.n}: mailbox {s['mailbox_mb']} MB, {s['average_kb']} KB per message\n"
        f"  baseline (imaplib bulk FETCH + stdlib parse, 1 core): {s['baseline_seconds']} s, "
        f"{s['baseline_rate']} msg/s (fetch {s['baseline_fetch_seconds']} s)\n"
        f"  mailproc poll --once: {s['mailproc_seconds']} s, {s['mailproc_rate']} msg/s, "
        f"ratio {s['ratio']} x baseline, {s['mailproc_cores']} cores "
        f"({s['mailproc_cpu_ms_per_message']} ms CPU per message), "
        f"peak RSS {s['peak_rss_mb']} MB (tree {s['tree_peak_rss_mb']} MB)\n"
        f"  replies: {t.replied}/{t.expected_replies} expected arrived, the first "
        f"{s['first_reply_s']} s and half of all mail {s['median_reply_s']} s after the start; "
        f"exit {s['exit_code']}; {json.dumps(t.report.get('outcomes', {}))}",
        flush=True,
    )
    if t.mailproc.exit_code != 0:
        print(t.mailproc.stderr[-3000:], file=sys.stderr)


def _print_memory(m: dict[str, object]) -> None:
    print(f"memory: {json.dumps(m, ensure_ascii=False)}", flush=True)


def _print_latency(lat: dict[str, object]) -> None:
    print(f"IDLE latency: {json.dumps(lat)}", flush=True)


def _machine() -> dict[str, object]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def _commit() -> str:
    found = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return found.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
