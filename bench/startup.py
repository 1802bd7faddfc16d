"""Start-up of the command line: ``mailproc --help``, and ``mailproc ingest`` of one message.

    python -m bench.startup                       # this checkout's mailproc
    python -m bench.startup --tree DIR --runs 10  # another tree's (e.g. a git archive)

Each figure is the wall time of a child ``python -m mailproc``: median (min-max) of --runs,
after one run of each not timed. The children keep their compiled bytecode in the temporary
folder, as an installed mailproc has its .pyc files (here PYTHONDONTWRITEBYTECODE is set,
so a checkout's modules would be compiled again by every run: --no-bytecode-cache shows that).
``ingest`` takes examples/01-erro-completo-com-print.eml on a fresh SQLite database of its
own each run (a copy of one upgraded before timing), as config.example.toml sets it up
(relative paths: in the run's folder; no SMTP, so the reply goes to the outbox Maildir).
Then one more child of each, under ``-X importtime``, names the heavy libraries it imported
and what each cost (cumulative, in that child). The machine is noisy: compare trees in
one sitting, and quote medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MESSAGE = REPO / "examples" / "01-erro-completo-com-print.eml"
# Third-party libraries (and the stdlib's slower corners) that a command should load only
# when it uses them.
HEAVY = (
    "sqlalchemy", "alembic", "mako", "jinja2", "imapclient", "prometheus_client",
    "apscheduler", "tqdm", "inscriptis", "lxml", "flufl", "nh3", "filetype", "psycopg",
    "email_reply_parser", "mailparser", "asyncio", "multiprocessing",
)  # fmt: skip


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Wall seconds of one child, and its standard output; a failure stops the bench."""
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def heavy_imports(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    """The heavy libraries a child imports, each with the cumulative import milliseconds of
    its costliest module (the package, or a submodule imported on its own)."""
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        env=env, cwd=cwd, capture_output=True, text=True, check=False,
    )  # fmt: skip
    found: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, name = line.split("|")
        root = name.strip().split(".")[0]
        if root in HEAVY and cumulative.strip().isdigit():  # its costliest module's figure
            found[root] = max(found.get(root, 0), int(cumulative) / 1000)
    return found


def workspace(root: Path, name: str, template: Path | None) -> Path:
    """A folder with config.example.toml as config.toml, and a copy of the upgraded database."""
    folder = root / name
    (folder / "var").mkdir(parents=True)
    shutil.copy(REPO / "config.example.toml", folder / "config.toml")
    if template is not None:
        for part in template.parent.glob(template.name + "*"):  # the database, and a WAL left
            shutil.copy(part, folder / "var" / part.name)
    return folder


def summary(label: str, seconds: list[float], heavy: dict[str, float], extra: str = "") -> str:
    libraries = ", ".join(f"{name} {ms:.0f} ms" for name, ms in sorted(heavy.items())) or "none"
    return (
        f"  {label:<7} median {statistics.median(seconds):.3f} s "
        f"(min {min(seconds):.3f}, max {max(seconds):.3f}){extra}\n"
        f"          heavy imports: {libraries}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--tree", type=Path, default=REPO, help="source tree to measure")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="the children compile as the environment says",
    )
    args = parser.parse_args(argv)
    tree: Path = args.tree.resolve()
    # Only the tree on the path; each child runs in a temporary folder, as ``-m`` puts the
    # working directory first on sys.path and a checkout there would shadow the tree.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    mailproc = [sys.executable, "-m", "mailproc"]
    with tempfile.TemporaryDirectory(prefix="mailproc-startup-") as work:
        root = Path(work)
        if not args.no_bytecode_cache:  # in the temporary folder: the tree is left as it is
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        prepared = workspace(root, "template", None)
        config = ["--config", "config.toml"]
        timed([*mailproc, *config, "db", "upgrade"], env, prepared)
        database = prepared / "var" / "mailproc.db"

        help_argv = [*mailproc, "--help"]
        ingest_argv = [*mailproc, *config, "ingest", str(MESSAGE)]
        timed(help_argv, env, root)
        timed(ingest_argv, env, workspace(root, "warm-up", database))
        helps = [timed(help_argv, env, root)[0] for _ in range(args.runs)]
        help_heavy = heavy_imports(help_argv, env, root)

        ingests: list[float] = []
        outcomes: set[str] = set()
        for run in range(args.runs):
            folder = workspace(root, f"run-{run}", database)
            seconds, out = timed(ingest_argv, env, folder)
            ingests.append(seconds)
            replies = len(list((folder / "var" / "outbox" / "new").iterdir()))
            outcomes.add(f"{json.loads(out)['outcome']}, {replies} replies in the outbox")
        ingest_heavy = heavy_imports(ingest_argv, env, workspace(root, "imports", database))

    cache = "none" if args.no_bytecode_cache else "kept"
    print(f"{tree}: {args.runs} runs each ({sys.executable}; bytecode cache {cache})")
    print(summary("--help", helps, help_heavy))
    print(summary("ingest", ingests, ingest_heavy, f"; {' / '.join(sorted(outcomes))}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
