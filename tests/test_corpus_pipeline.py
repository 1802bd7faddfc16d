"""Every real-world mail in the shared corpus gets exactly one defined outcome, no exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from mailproc.decision.values import Outcome
from mailproc.service.app import App
from mailproc.storage import models as m
from tests.conftest import CORPUS, require_corpus

require_corpus()

NOT_MAIL = {".yml", ".tsv", ".md"}
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in NOT_MAIL)


@pytest.fixture(scope="module")
def corpus_app(module_desk: App) -> App:
    """One desk for the whole corpus: messages that reply to each other may thread."""
    return module_desk


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_message_gets_one_defined_outcome(corpus_app: App, path: Path) -> None:
    raw = path.read_bytes()
    result = corpus_app.pipeline.process(raw, f"corpus:{path.name}")

    assert result.outcome in set(Outcome)
    with corpus_app.sessions() as session:
        stored = session.scalars(select(m.RawMessage).where(m.RawMessage.data == raw)).one()
        # The raw bytes are kept and the outcome recorded against them; identical bytes seen
        # before (zammad/mail006 is otobo's PostMaster-Test4) keep their first outcome.
        if result.outcome is Outcome.DUPLICATE:
            assert stored.outcome is not None
        else:
            assert stored.outcome == result.outcome.value
    if result.outcome is Outcome.QUARANTINED:
        assert result.reason, "a quarantined message must say why"
        assert not result.reason.startswith("internal error"), result.reason


def test_the_corpus_is_all_there() -> None:
    assert len(FILES) >= 225
