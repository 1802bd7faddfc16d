"""A large message's copies are handed back to the system once freed (mailproc.service.memory)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mailproc.service.memory import give_back_large_blocks

# Two large blocks, one after the other, as the copies of a 25 MB message come and go; then
# how much of the second one the process still holds (MB of resident memory).
SCRIPT = textwrap.dedent(
    """
    import sys
    from mailproc.service.memory import give_back_large_blocks

    def resident_mb():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024

    if sys.argv[1] == "tuned":
        give_back_large_blocks()
    first = bytearray(30 * 1024 * 1024)
    del first
    before = resident_mb()
    second = bytearray(20 * 1024 * 1024)
    del second
    print(resident_mb() - before)
    """
)


def kept_after_free(mode: str) -> float:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return float(run.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc on Linux")
def test_a_freed_large_block_is_handed_back_to_the_system() -> None:
    if not give_back_large_blocks():
        pytest.skip("no glibc mallopt here")
    assert kept_after_free("tuned") < 2
    # What the setting prevents: glibc, left alone, serves the second block from a heap that
    # keeps it after the first block raised its threshold.
    assert kept_after_free("default") > 15
