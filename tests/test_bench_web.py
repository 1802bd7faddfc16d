"""The web view's page-time bench: the desk it seeds, and a tiny end-to-end run on each
backend that writes every figure (never asserting a timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from bench.web import Seeder, area_staff, pages, seed
from mailproc.config import load_config
from mailproc.resources import shipped_dir
from mailproc.rules.rulebook import load_rulebook
from mailproc.service.app import App
from mailproc.storage import models as m
from tests.conftest import write_config
from tests.db_fixtures import BACKENDS, POSTGRES_ADMIN_URL
from tests.mails import error_report

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def seeder(seed_value: int = 2026) -> Seeder:
    rulebook = load_rulebook(shipped_dir("rules"))
    return Seeder(rulebook, area_staff(rulebook), seed_value, NOW)


def made_rows(made: Seeder, tickets: int) -> dict[str, list[dict[str, Any]]]:
    for day in range(tickets):
        made.ticket(datetime(2026, 1, 1, tzinfo=UTC).replace(day=1 + day % 28))
    return {table.name: rows for table, rows in made.rows.take()}


def test_the_same_seed_makes_the_same_desk_and_another_seed_another() -> None:
    first, again, other = made_rows(seeder(), 40), made_rows(seeder(), 40), made_rows(seeder(7), 40)

    assert first == again
    assert first["messages"] != other["messages"]


def test_every_ticket_has_its_request_first_then_two_to_four_mails_in_time_order() -> None:
    rows = made_rows(seeder(), 200)

    threads: dict[int, list[dict[str, Any]]] = {}
    for message in rows["messages"]:
        threads.setdefault(message["ticket_id"], []).append(message)
    assert len(threads) == 200
    for ticket in rows["tickets"]:
        thread = threads[ticket["id"]]
        assert 2 <= len(thread) <= 4
        assert thread[0]["sender"] == ticket["requester_email"]
        assert thread[0]["outcome"] in ("created", "incomplete")
        assert 500 <= len(str(thread[0]["body_text"])) <= 3000
        times = [message["created_at"] for message in thread]
        assert times == sorted(times)
        assert ticket["updated_at"] == times[-1]


def test_the_area_member_works_in_the_siasg_area_and_every_theme_has_staff() -> None:
    rulebook = load_rulebook(shipped_dir("rules"))

    staff = area_staff(rulebook)

    assert "ana.souza@suporte.example.gov.br" in staff["suporte-siasg@example.gov.br"]
    assert {theme.routing.address for theme in rulebook.themes} == set(staff)


def test_a_seeded_desk_goes_on_opening_tickets_after_the_seeded_ones(
    tmp_path: Path, database_url: str, engine: Engine
) -> None:
    rows = seed(engine, seeder(), 60)
    desk = App(load_config(write_config(tmp_path, database_url))).start()

    result = desk.pipeline.process(error_report(), "test")

    assert result.ticket is not None, result
    with desk.sessions() as session:
        codes = session.scalars(select(m.Ticket.code)).all()
        assert len(codes) == len(set(codes)) == rows["tickets"] + 1
        # The new rows took ids after the seeded ones (PostgreSQL's sequences were moved on).
        assert session.scalar(select(func.max(m.Message.id))) == rows["messages"] + 1
    desk.engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_tiny_run_times_every_page_and_writes_its_figures(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgresql":
        request.getfixturevalue("postgres_url")  # skips (or fails under CI) without a server
    results = tmp_path / "web.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench.web", "--n", "300", "--requests", "2", "--warmup", "1",
         "--backends", backend, "--json", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "MAILPROC_BENCH_POSTGRES_URL": POSTGRES_ADMIN_URL},
    )  # fmt: skip

    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(results.read_text())
    result = figures["backends"][backend]
    assert result["rows"]["tickets"] == 300
    assert result["rows"]["messages"] >= 600
    assert all(0 <= share <= 1 for share in result["shares"].values())
    timed = {timing["label"]: timing for timing in result["timings"]}
    assert list(timed) == [page.label for page in pages(result["ticket_code"])]
    assert all(timing["status"] == 200 for timing in timed.values()), timed
    assert all(timing["median_ms"] > 0 for timing in timed.values())
    assert timed["login form (baseline)"]["ratio"] == 1
    assert f"{backend}, 300 tickets" in run.stdout
