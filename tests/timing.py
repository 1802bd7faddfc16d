"""How the CPU time of a piece of work grows with its input: the linear-time tests' yardstick.

Only ratios are asserted, never times: 4× the input must cost well under 8× the CPU.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

# 4× the input costs about 4× when linear and 16× when quadratic: 8 tells them apart, with
# room for the noise of a shared machine.
LINEAR_BOUND: Final = 8.0


def cpu_seconds(work: Callable[[], object]) -> float:
    """The best of three runs' CPU time (at least a millisecond, so a ratio stays finite)."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return max(best, 1e-3)


def growth(work: Callable[[int], object], n: int, attempts: int = 3) -> float:
    """How many times more CPU ``work`` takes at 4n than at n (about 4 when linear).

    A shared machine only ever adds time, so a ratio over LINEAR_BOUND is measured again, up
    to ``attempts`` times, and the least one counts: a quadratic cost is over it every time
    (a full test run once measured 8.5 for a linear one)."""
    ratios: list[float] = []
    while len(ratios) < attempts and (not ratios or ratios[-1] >= LINEAR_BOUND):
        ratios.append(cpu_seconds(lambda: work(4 * n)) / cpu_seconds(lambda: work(n)))
    return min(ratios)
