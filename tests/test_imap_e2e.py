"""The seed's cases end to end: IMAP in (Dovecot), ``mailproc poll --once``, SMTP out."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from mailproc.storage import models as m
from tests.conftest import EXAMPLES
from tests.e2e import Desk, bare_id, message_id, parse
from tests.mails import reactivation

pytestmark = pytest.mark.servers

CODE_TAG = re.compile(r"\[#(\d{4}-\d{6})\]")
NOT_AN_EMAIL = b"isto nao e um e-mail, so uma linha sem cabecalhos\r\n"

# Message-ID -> the outcome the seed asks for.
SEED_OUTCOMES = {
    "exemplo-01@orgao.rj.gov.br": "created",  # error report with screenshot and steps
    "exemplo-02@orgao.rj.gov.br": "incomplete",  # no screenshot, no step-by-step
    "exemplo-03@orgao.rj.gov.br": "incomplete",  # UASG reactivation, CNPJ check digits wrong
    "exemplo-04@orgao.rj.gov.br": "created",  # forwarded by Redecompras
    "exemplo-05@orgao.rj.gov.br": "no_theme",
    "exemplo-06@orgao.rj.gov.br": "ignored",  # out of office
    "exemplo-07@orgao.rj.gov.br": "created",  # suggestion
}


def seed_mail() -> list[bytes]:
    """The examples, a valid UASG reactivation, and bytes that are no e-mail at all."""
    examples = [path.read_bytes() for path in sorted(EXAMPLES.glob("*.eml"))]
    return [*examples, reactivation(), NOT_AN_EMAIL]


@pytest.fixture
def polled(desk: Desk) -> tuple[Desk, list[bytes], dict[str, str]]:
    """The seed's mail appended to INBOX and one ``poll --once`` run over it."""
    raws = seed_mail()
    desk.imap.append_many("INBOX", raws)
    poll = desk.poll()
    assert poll.returncode == 0, poll.stderr
    expected = SEED_OUTCOMES | {message_id(raws[-2]): "created"}
    return desk, raws, expected


def test_each_seed_case_gets_its_outcome_in_the_database(
    polled: tuple[Desk, list[bytes], dict[str, str]],
) -> None:
    desk, raws, expected = polled

    assert desk.outcomes() == {**expected, None: "quarantined"}
    assert desk.count(m.Ticket) == Counter(expected.values())["created"] + 2
    assert desk.count(m.RawMessage) == len(raws)
    assert desk.count(m.RawMessage, m.RawMessage.outcome.is_(None)) == 0


def test_replies_reach_the_smtp_server_with_the_code_and_auto_submitted(
    polled: tuple[Desk, list[bytes], dict[str, str]],
) -> None:
    desk, _, expected = polled
    codes = desk.ticket_codes()
    answered = {mid for mid, outcome in expected.items() if outcome != "ignored"}

    assert desk.replies_per_message() == Counter(answered)
    assert desk.copies() == Counter(desk.outbox_ids())  # all the outbox holds, once each
    for reply in desk.replies():
        original = bare_id(reply["In-Reply-To"])
        assert reply["Auto-Submitted"] == "auto-replied"
        assert reply["From"].addresses[0].addr_spec == "suporte@compras.example.gov.br"
        if original in codes:
            assert CODE_TAG.findall(reply["Subject"]) == [codes[original]], reply["Subject"]
        else:  # no ticket: the list of themes, no code
            assert expected[original] == "no_theme"
            assert not CODE_TAG.search(reply["Subject"])


def test_the_forwarded_question_is_answered_to_the_servant_with_redecompras_copied(
    polled: tuple[Desk, list[bytes], dict[str, str]],
) -> None:
    desk, _, _ = polled
    [received] = [
        r
        for r in desk.smtp.messages
        if bare_id(parse(r.raw)["In-Reply-To"]) == "exemplo-04@orgao.rj.gov.br"
    ]

    assert sorted(received.recipients) == [
        "carlos.pereira@der.rj.gov.br",
        "redecompras@planejamento.rj.gov.br",
    ]


def test_the_out_of_office_gets_no_reply(
    polled: tuple[Desk, list[bytes], dict[str, str]],
) -> None:
    desk, _, _ = polled

    assert desk.replies_per_message()["exemplo-06@orgao.rj.gov.br"] == 0
    assert not [
        r for r in desk.smtp.messages if "pedro.alves@transportes.rj.gov.br" in r.recipients
    ]


def test_originals_are_moved_to_processados_and_the_unparseable_one_to_quarentena(
    polled: tuple[Desk, list[bytes], dict[str, str]],
) -> None:
    desk, _, expected = polled

    assert desk.imap.messages("INBOX") == []
    assert sorted(desk.folder_ids("Processados")) == sorted(expected)
    [quarantined] = desk.imap.messages("Quarentena")
    assert quarantined.replace(b"\r\n", b"\n") == NOT_AN_EMAIL.replace(b"\r\n", b"\n")


def test_a_second_poll_finds_nothing_new_and_sends_nothing(
    polled: tuple[Desk, list[bytes], dict[str, str]],
) -> None:
    desk, _, _ = polled
    sent = len(desk.smtp.messages)

    again = desk.poll()

    assert (again.returncode, again.report["processed"], again.report["delivered"]) == (0, 0, 0)
    assert len(desk.smtp.messages) == sent


def test_the_same_mail_delivered_again_is_a_duplicate_with_no_new_ticket_or_reply(
    polled: tuple[Desk, list[bytes], dict[str, str]],
) -> None:
    desk, raws, expected = polled
    tickets, replies = desk.count(m.Ticket), len(desk.smtp.messages)
    # The same bytes again, and the same messages re-sent through another relay (new bytes,
    # same Message-ID): both are the mail already answered.
    relayed = [b"Received: from relay2.rj.gov.br by mx; Fri, 20 Nov 2026\r\n" + r for r in raws]
    desk.imap.append_many("INBOX", raws + relayed[:-1])

    again = desk.poll()

    assert again.returncode == 0, again.stderr
    assert again.report["outcomes"] == {"duplicate": 2 * len(raws) - 1}
    assert desk.outcomes() == {**expected, None: "quarantined"}
    assert (desk.count(m.Ticket), len(desk.smtp.messages)) == (tickets, replies)
    assert desk.imap.messages("INBOX") == []
