"""``python -m bench.peak MODULE ARGS...``: runs MODULE as ``__main__`` and, at exit, writes
this process's peak resident memory (VmHWM, in KB) to the file named by $BENCH_PEAK_FILE.

wait4()'s ru_maxrss cannot be used for this: Linux carries the high-water mark across
exec, so a child started by the (larger) bench process would report the bench's memory.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys
from pathlib import Path

PEAK_FILE_ENV = "BENCH_PEAK_FILE"


def vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _write_peak() -> None:
    target = os.environ.get(PEAK_FILE_ENV)
    if target:
        Path(target).write_text(str(vm_hwm_kb()))


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m bench.peak MODULE [ARGS...]")
    atexit.register(_write_peak)
    module, sys.argv = sys.argv[1], sys.argv[1:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
