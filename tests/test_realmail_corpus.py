"""The realistic corpus (issue #17, item 6): mail as servidores really write it, each with the
outcome written down before it was run (tests/realmail/expected.toml), scored in-process.

The score must reach 95%: a miss is a mail that an experienced attendant would have read
right and the desk did not (or a reply that says something false or leaves something out).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from mailproc.decision.values import Outcome
from mailproc.service.app import App
from tests.realmail.build import CASES, steps
from tests.realmail.score import (
    answer_matches,
    expectations,
    expected_outcomes,
    misses_table,
    run,
    score,
)

REQUIRED_SCORE = 0.95


def test_the_corpus_is_large_reproducible_and_fully_expected() -> None:
    ids = [c.id for c in CASES]
    wanted = expectations()
    assert len(ids) >= 80
    assert len(set(ids)) == len(ids)
    assert set(wanted) == set(ids), set(wanted) ^ set(ids)
    assert expected_outcomes(wanted) <= {o.value for o in Outcome}
    first, again = steps(), steps()
    assert [s.case.build(s) for s in first[:12]] == [s.case.build(s) for s in again[:12]]


def test_the_corpus_covers_the_clients_charsets_and_encodings() -> None:
    raws = [s.case.build(s) for s in steps()]
    clients = Counter(c.client for c in CASES)
    assert {"outlook", "exchange", "gmail", "thunderbird", "zimbra", "iphone", "samsung"} <= set(
        clients
    )
    joined = b"\n".join(raws).lower()
    for charset in (b"utf-8", b"iso-8859-1", b"windows-1252"):
        assert b'charset="' + charset in joined, charset
    for encoding in (b"quoted-printable", b"base64", b"8bit"):
        assert b"content-transfer-encoding: " + encoding in joined
    assert re.search(rb"\[cid:image001\.png@01DB", joined, re.IGNORECASE)
    assert b"[image: image.png]" in joined and b"mime-version: 1.0 (1.0)" in joined
    assert b"filename*=utf-8''" in joined and b"=?windows-1252?q?" in joined


@pytest.mark.parametrize(
    ("want", "stored", "matches"),
    [
        ("160123", "160123", True),
        ("160123", "UASG 16012", False),
        ("2123345678", "(21) 2334-5678 ramal 215", True),
        ("date:2026-12-06", "06/12/2026 14:00", True),
        ("date:2026-12-06", "2026-12-06T14:00:00-03:00", True),
        ("date:2026-12-06", "6 de dezembro de 2026", True),
        ("date:2026-12-06", "16/12/2026", False),
        ("date:2026-12-06", "ontem às 14h", False),
        ("SICAF", "Módulo SICAF", True),
        ("12.ABC.345/01DE-35", "12ABC34501DE35", True),
        ("12.ABC.345/01DE-35", "12.ABC.345/01DE-36", False),
    ],
)
def test_answers_are_compared_as_the_expectations_say(
    want: str, stored: str, matches: bool
) -> None:
    assert answer_matches(want, stored) is matches


def test_the_realistic_corpus_scores_at_least_95_percent(module_desk: App) -> None:
    verdicts = run(module_desk)
    print(f"\nrealistic corpus: {score(verdicts):.1%}\n{misses_table(verdicts)}")
    assert score(verdicts) >= REQUIRED_SCORE, misses_table(verdicts)
