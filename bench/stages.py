"""Where a message's time goes, stage by stage: the pipeline in-process on the bench's mail
(no IMAP, no SMTP), each stage timed by a wrapper; cheaper and steadier than a profiler.

    python -m bench.stages --n 1000
    BENCH_EXPERIMENTS=NAME python -m bench.stages --n 1000   # with bench/experiments.py

Times overlap: a stage's figure includes the stages it calls (``queue`` holds ``render``
and ``build_email``; a query holds the autoflush of what the transaction added before it).
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

from bench import experiments
from bench.messages import MailGenerator

CONFIG = """\
[desk]
name = "Central de Atendimento"
address = "suporte@compras.example.gov.br"
trusted_forwarders = ["redecompras@planejamento.rj.gov.br"]
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

    from mailproc import notices, pipeline, replies, store
    from mailproc.app import App
    from mailproc.config import load_config

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
    print(f"{args.n} messages, {wall / args.n * 1000:.2f} ms wall each; CPU ms per message:")
    for label, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {label:28s} {seconds / args.n * 1000:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
