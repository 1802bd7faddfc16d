"""The benchmark's quick mode runs end to end and reports every figure (never its timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.servers, pytest.mark.slow]


@pytest.mark.skipif(os.geteuid() != 0, reason="the bench's Dovecot runs as root")
def test_quick_bench_reports_rates_ratio_memory_and_a_reply_for_every_message(
    tmp_path: Path,
) -> None:
    results = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(results.read_text())
    (quick,) = report["throughput"]
    assert quick["n"] == 30
    assert quick["baseline_rate"] > 0
    assert quick["mailproc_rate"] > 0
    assert quick["ratio"] > 0
    assert quick["peak_rss_mb"] > 0
    assert quick["report"]["processed"] == 30
    assert quick["expected_replies"] > 0
    assert quick["replied"] == quick["expected_replies"]
    assert quick["unanswered"] == []
    assert "N=30" in run.stdout
