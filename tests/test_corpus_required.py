"""The tests that read the shared mail corpus cannot vanish unseen when it is missing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Every module that reads the corpus (test_bounces for two of its reports only).
READERS = [
    "tests/test_corpus_machine_mail.py",
    "tests/test_corpus_outcomes.py",
    "tests/test_corpus_parse.py",
    "tests/test_corpus_pipeline.py",
    "tests/test_fuzz.py",
    "tests/test_bounces.py::test_a_bounce_of_our_reply_is_noted_on_its_ticket_and_marks_the"
    "_address[sqlite-exchange (corpus)]",
]


def pytest_without_corpus(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    """The corpus readers run by pytest, as `make test` would, with the corpus elsewhere."""
    environment = {**os.environ, "MAILPROC_TEST_CORPUS": str(tmp_path / "no-corpus")}
    environment.pop("CI", None)
    if ci:
        environment["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", *READERS],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_without_the_corpus_one_summary_line_says_why_its_tests_were_skipped(
    tmp_path: Path,
) -> None:
    run = pytest_without_corpus(tmp_path, ci=False)

    assert run.returncode == 0, run.stdout + run.stderr
    lines = [line for line in run.stdout.splitlines() if "no-corpus" in line]
    assert len(lines) == 1, run.stdout
    assert re.match(
        r"SKIPPED \[6\] tests/conftest\.py:\d+: the shared mail corpus is not", lines[0]
    )
    assert "MAILPROC_TEST_CORPUS" in lines[0]


@pytest.mark.slow
def test_without_the_corpus_a_ci_run_fails_and_says_why(tmp_path: Path) -> None:
    run = pytest_without_corpus(tmp_path, ci=True)

    assert run.returncode != 0
    assert f"the shared mail corpus is not at {tmp_path / 'no-corpus'}" in run.stdout
