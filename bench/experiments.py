"""Experiments for files the bench's owner does not own: ``mailproc`` with some functions
replaced, to measure a proposed change before it is made where it belongs.

    BENCH_EXPERIMENTS=NAME python -m bench --poller bench.experiments ...
    BENCH_EXPERIMENTS=all python -m bench.stages --n 1000

Each experiment is named in BENCH_EXPERIMENTS ("all" for every one); the replacement is the
proposed change, written against the code it replaces (run with ``--tree`` on an export of
it). Nothing here is used by mailproc itself. An experiment that lands is deleted here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

EXPERIMENTS_ENV = "BENCH_EXPERIMENTS"

EXPERIMENTS: dict[str, Callable[[], None]] = {}


def experiment(function: Callable[[], None]) -> Callable[[], None]:
    EXPERIMENTS[function.__name__] = function
    return function


# None proposed now: route_known_files and sqlite_uncached_statements landed (bench/README.md).


def _selected() -> list[str]:
    names = [n.strip() for n in os.environ.get(EXPERIMENTS_ENV, "").split(",") if n.strip()]
    return list(EXPERIMENTS) if names == ["all"] else names


def apply_selected() -> None:
    """Apply the experiments named in BENCH_EXPERIMENTS; an unknown name ends the run."""
    for name in _selected():
        if name not in EXPERIMENTS:
            sys.exit(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
        EXPERIMENTS[name]()


def main() -> int:
    apply_selected()
    from mailproc.service.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
