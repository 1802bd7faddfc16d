"""Running a mailproc command as a subprocess: wall time, CPU time and peak memory."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.peak import PEAK_FILE_ENV

SAMPLE_SECONDS = 0.1


@dataclass(frozen=True)
class Measured:
    """One finished process. ``peak_rss_kb`` is its own high-water mark (VmHWM, written at
    exit when run through ``bench.peak``, else 0); ``tree_peak_kb`` is the largest sum of
    the resident memory of it and its descendants, sampled every SAMPLE_SECONDS."""

    seconds: float
    exit_code: int
    cpu_seconds: float
    peak_rss_kb: int
    tree_peak_kb: int
    stdout: str
    stderr: str

    @property
    def cores(self) -> float:
        return self.cpu_seconds / self.seconds if self.seconds else 0.0


class Running:
    """A started process whose memory is sampled until ``finish`` (unless not ``sample``)."""

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        name: str = "run",
        *,
        sample: bool = True,
    ) -> None:
        self._out = cwd / f"{name}.stdout"
        self._err = cwd / f"{name}.stderr"
        self._peak = cwd / f"{name}.peak"
        self._peak.unlink(missing_ok=True)
        env = {**env, PEAK_FILE_ENV: str(self._peak)}
        with self._out.open("wb") as out, self._err.open("wb") as err:
            self.started = time.perf_counter()
            self.process = subprocess.Popen(
                list(argv), cwd=cwd, env=dict(env), stdout=out, stderr=err
            )
        self._tree_peak = 0
        self._done = threading.Event()
        # A sample scans /proc (~5 ms): several processes sampled at once would take a
        # noticeable share of the cores they are measured on.
        self._sample_memory = sample
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while self._sample_memory and not self._done.wait(SAMPLE_SECONDS):
            self._tree_peak = max(self._tree_peak, tree_rss_kb(self.process.pid))

    def finish(self, timeout: float | None = None) -> Measured:
        """Waits for the process (killing it after ``timeout``) and reaps it with wait4."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                self.process.kill()
                deadline = None
            time.sleep(0.01)
        seconds = time.perf_counter() - self.started
        self._done.set()
        self._sampler.join()
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return Measured(
            seconds=seconds,
            exit_code=self.process.returncode,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            peak_rss_kb=self._own_peak(),
            tree_peak_kb=self._tree_peak,
            stdout=self._out.read_text(errors="replace"),
            stderr=self._err.read_text(errors="replace"),
        )

    def _own_peak(self) -> int:
        try:
            return int(self._peak.read_text())
        except (OSError, ValueError):
            return 0


def run_measured(argv: Sequence[str], cwd: Path, env: Mapping[str, str], name: str) -> Measured:
    return Running(argv, cwd, env, name).finish()


def tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and all its descendants now, in KB (0 once it is gone)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            proc = Path("/proc", entry.name)
            pages = int((proc / "statm").read_bytes().split()[1])
            ppid = int((proc / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        pid = int(entry.name)
        parents[pid], rss[pid] = ppid, pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(rss.get(pid, 0) for pid in tree)
