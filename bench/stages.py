"""Where a message's time goes, stage by stage: the pipeline in-process on the bench's mail
(no IMAP, no SMTP), each stage timed by a wrapper; cheaper and steadier than a profiler.

    python -m bench.stages --n 1000
    BENCH_EXPERIMENTS=NAME python -m bench.stages --n 1000   # with bench/experiments.py

Times overlap: a stage's figure includes the stages it calls (``queue`` holds ``render``
and ``build_email``; a query holds the autoflush of what the transaction added before it).

The same messages are parsed by the bench's baseline (``bench.baseline.parse``: the standard
library, policy.default, every part decoded) in the same process, and every stage is also
given as a share of that: the budget. The bench's ratio is the baseline's wall time over
mailproc's, so on two cores a ratio of 1 needs mailproc's CPU per message, all processes
together, under twice the baseline's, split evenly; "two-core ceiling" is the ratio that
``total`` would give with the work split perfectly and nothing else running (no IMAP, no
SMTP, no start-up).
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import baseline, experiments
from bench.messages import MailGenerator

CONFIG = """\
[desk]
name = "Central de Atendimento"
address = "suporte@compras.example.gov.br"
trusted_forwarders = ["redecompras@planejamento.rj.gov.br"]
[authentication]
authserv_id = "mx.compras.example.gov.br"
[database]
url = "sqlite:///mailproc.db"
[delivery]
outbox_maildir = "outbox"
"""


def _timed(owner: Any, name: str, label: str, totals: dict[str, float]) -> None:
    function: Callable[..., Any] | None = getattr(owner, name, None)
    if function is None:  # not in this version of mailproc
        return

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + time.process_time() - began

    setattr(owner, name, timed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stages", description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    experiments.apply_selected()

    from mailproc.config import load_config
    from mailproc.outgoing import notices, replies
    from mailproc.service.app import App
    from mailproc.storage import store
    from mailproc.tickets import pipeline

    totals: dict[str, float] = {}
    for owner, name, label in (
        (store, "save_raw", "store raw (own commit)"),
        (pipeline, "parse_message", "parse"),
        (pipeline, "decide", "decide (rules)"),
        (pipeline.Pipeline, "_thread", "thread lookup"),
        (store, "find_earlier", "dedup lookup"),
        (store, "record_message", "message row"),
        (store, "open_ticket", "ticket row + code"),
        (store, "mark_raw", "mark raw"),
        (notices.Replier, "queue", "reply: queue (all)"),
        (store, "mail_tally", "reply: guards' tally query"),
        (notices.Replier, "held_back", "reply: guards (caps, bounces)"),
        (store, "ticket_attachments", "ticket files read back"),
        (replies.ReplyRenderer, "render", "reply: render"),
        (notices, "build_email", "reply: build_email"),
        (pipeline.Pipeline, "process", "total"),
    ):
        _timed(owner, name, label, totals)

    folder = Path(tempfile.mkdtemp(prefix="mailproc-stages-"))
    (folder / "config.toml").write_text(CONFIG, encoding="utf-8")
    config = str(folder / "config.toml")
    upgrade = [sys.executable, "-m", "mailproc", "--config", config, "db", "upgrade"]
    subprocess.run(upgrade, check=True, capture_output=True)
    app = App(load_config(folder / "config.toml")).start()
    raws = [m.raw for m in MailGenerator(args.seed).messages(args.n)]
    wall = time.perf_counter()
    for raw in raws:
        app.pipeline.process(raw, "bench")
    wall = time.perf_counter() - wall
    began = time.process_time()
    for raw in raws:
        baseline.parse(raw)
    budget = (time.process_time() - began) / args.n
    print(f"{args.n} messages, {wall / args.n * 1000:.2f} ms wall each; CPU per message:")
    print(f"  {'stage':28s} {'ms':>6s} {'x baseline':>11s}")
    print(f"  {'baseline (stdlib parse)':28s} {budget * 1000:6.2f} {1:11.2f}")
    for label, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        each = seconds / args.n
        print(f"  {label:28s} {each * 1000:6.2f} {each / budget:11.2f}")
    if totals.get("total"):
        ceiling = 2 * budget / (totals["total"] / args.n)
        print(f"two-core ceiling of the bench's ratio at this CPU: {ceiling:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
