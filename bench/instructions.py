"""Instructions per message, counted by valgrind: a CPU figure that the machine's load does
not move, for comparing two versions of the code on a shared, noisy machine.

    python -m bench.instructions                  # this checkout's mailproc
    python -m bench.instructions --tree DIR       # another tree's (e.g. a git archive)

The bench's first ``--last`` messages are generated once and pickled; then, each under
valgrind (cachegrind, no cache simulation) with hash randomisation off, a child process
runs the pipeline in-process (``Pipeline.process``: raw bytes stored, parsed, decided,
applied on a fresh SQLite database; no IMAP, no SMTP) over the first ``--first`` and the
first ``--last`` of them, and another parses them as the bench's baseline does
(``bench.baseline.parse``). The difference over the messages between the two counts
leaves out start-up and the first messages' warm-up (imports, statements compiled).
Repeated runs of the same tree agree to a few parts in a hundred thousand.

Instructions are not time: a cache miss costs cycles, not instructions, and mailproc's
larger code runs at fewer instructions per cycle than the baseline's parse (see
bench/README.md). Compare trees with it; quote time from the bench.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.messages import MailGenerator
from bench.stages import CONFIG

CHECKOUT = Path(__file__).resolve().parents[1]

# The child: ``python -c PIPELINE FILE N`` (the tree under test first on sys.path).
PIPELINE = """
import pickle, subprocess, sys, tempfile
from pathlib import Path
raws = pickle.loads(Path(sys.argv[1]).read_bytes())[: int(sys.argv[2])]
from mailproc.service.app import App
from mailproc.config import load_config
folder = Path(tempfile.mkdtemp(prefix="mailproc-instructions-"))
config = folder / "config.toml"
config.write_text(sys.argv[3])
upgrade = [sys.executable, "-m", "mailproc", "--config", str(config), "db", "upgrade"]
subprocess.run(upgrade, check=True, capture_output=True, cwd=folder)
app = App(load_config(config)).start()
for raw in raws:
    app.pipeline.process(raw, "bench")
"""
BASELINE = """
import pickle, sys
from pathlib import Path
from bench import baseline
for raw in pickle.loads(Path(sys.argv[1]).read_bytes())[: int(sys.argv[2])]:
    baseline.parse(raw)
"""


def count(code: str, tree: Path, mail: Path, n: int) -> int:
    """The instructions a child running ``code`` over the first ``n`` messages executes."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        sys.exit("valgrind not found: apt-get install valgrind")
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": f"{tree}{os.pathsep}{CHECKOUT}"}
    argv = [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    # The interpreter itself: sys.executable may be a shim (pyenv) that valgrind would count.
    argv += [os.path.realpath(sys.executable), "-c", code, str(mail), str(n), CONFIG]
    # Run from the mail's folder: ``-c`` puts the working directory first on sys.path, and
    # a checkout there would shadow the tree.
    done = subprocess.run(
        argv, env=env, cwd=mail.parent, capture_output=True, text=True, check=False
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        sys.exit(f"valgrind run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_message(code: str, tree: Path, mail: Path, first: int, last: int) -> float:
    return (count(code, tree, mail, last) - count(code, tree, mail, first)) / (last - first)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__)
    parser.add_argument("--tree", type=Path, default=CHECKOUT, help="source tree to measure")
    parser.add_argument("--first", type=int, default=50)
    parser.add_argument("--last", type=int, default=250)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if not 0 <= args.first < args.last:
        parser.error("--first must be below --last")
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as folder:
        mail = Path(folder) / "mail.pickle"
        raws = [m.raw for m in MailGenerator(args.seed).messages(args.last)]
        mail.write_bytes(pickle.dumps(raws))
        tree = args.tree.resolve()
        mailproc = per_message(PIPELINE, tree, mail, args.first, args.last)
        baseline = per_message(BASELINE, tree, mail, args.first, args.last)
    print(f"{tree}: messages {args.first + 1}-{args.last} of the bench's mail (seed {args.seed})")
    print(f"  baseline (stdlib parse)    {baseline / 1e6:8.2f} M instructions per message")
    print(f"  mailproc (in-process)      {mailproc / 1e6:8.2f} M instructions per message")
    print(f"  mailproc / baseline        {mailproc / baseline:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
