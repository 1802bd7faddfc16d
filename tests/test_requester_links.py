"""The signed links mailed to requesters (mailproc.outgoing.links): a link opens exactly what
it was made for, for as long as [web] requester_link_days says, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from mailproc.outgoing.links import RequesterLinks

KEY = b"k" * 32
BASE = "https://atendimento.example.gov.br"
CODE = "2026-000123"
EMAIL = "maria.silva@saude.rj.gov.br"


@pytest.fixture
def links() -> RequesterLinks:
    return RequesterLinks(BASE, KEY, max_age_days=90)


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_ticket_link_reads_back_as_its_code_and_address(links: RequesterLinks) -> None:
    url = links.ticket_url(CODE, EMAIL)
    assert url.startswith(BASE + "/acompanhar/")
    assert links.read_ticket(token_of(url)) == (CODE, EMAIL)


def test_a_my_tickets_link_reads_back_as_its_address(links: RequesterLinks) -> None:
    url = links.my_tickets_url(EMAIL)
    assert url.startswith(BASE + "/meus-chamados/")
    assert links.read_my_tickets(token_of(url)) == EMAIL


def test_links_are_short_enough_for_a_mail_line(links: RequesterLinks) -> None:
    assert len(links.ticket_token(CODE, EMAIL)) < 120
    assert len(links.my_tickets_token(EMAIL)) < 120


def test_a_link_is_not_made_of_the_bare_code(links: RequesterLinks) -> None:
    assert CODE not in links.ticket_token(CODE, EMAIL)


@pytest.mark.parametrize("position", [0, 10, 40, -5, -1])
def test_a_token_changed_anywhere_opens_nothing(links: RequesterLinks, position: int) -> None:
    token = links.ticket_token(CODE, EMAIL)
    changed = "A" if token[position] != "A" else "B"
    tampered = token[:position] + changed + token[position:][1:]
    assert tampered != token
    assert links.read_ticket(tampered) is None


def test_a_truncated_or_empty_token_opens_nothing(links: RequesterLinks) -> None:
    token = links.ticket_token(CODE, EMAIL)
    assert links.read_ticket(token[:-3]) is None
    assert links.read_ticket(token.split(".")[0]) is None
    assert links.read_ticket("") is None
    assert links.read_my_tickets("") is None


def test_a_token_signed_with_another_key_opens_nothing(links: RequesterLinks) -> None:
    other = RequesterLinks(BASE, b"o" * 32, max_age_days=90)
    assert links.read_ticket(other.ticket_token(CODE, EMAIL)) is None
    assert links.read_my_tickets(other.my_tickets_token(EMAIL)) is None


def test_a_ticket_token_is_no_my_tickets_token_and_the_other_way_round(
    links: RequesterLinks,
) -> None:
    assert links.read_my_tickets(links.ticket_token(CODE, EMAIL)) is None
    assert links.read_ticket(links.my_tickets_token(EMAIL)) is None


def test_a_token_expires_after_the_configured_days(links: RequesterLinks) -> None:
    made = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    with time_machine.travel(made, tick=False):
        ticket, mine = links.ticket_token(CODE, EMAIL), links.my_tickets_token(EMAIL)
    with time_machine.travel(made + timedelta(days=89), tick=False):
        assert links.read_ticket(ticket) == (CODE, EMAIL)
        assert links.read_my_tickets(mine) == EMAIL
    with time_machine.travel(made + timedelta(days=91), tick=False):
        assert links.read_ticket(ticket) is None
        assert links.read_my_tickets(mine) is None


def test_a_validly_signed_value_of_the_wrong_shape_opens_nothing() -> None:
    """Defence in depth: should a payload ever be signed with the ticket salt by mistake,
    only a [code, email] pair reads as a ticket."""
    from itsdangerous import URLSafeTimedSerializer

    from mailproc.outgoing.links import TICKET_SALT

    links = RequesterLinks(BASE, KEY, max_age_days=90)
    signer = URLSafeTimedSerializer(KEY, salt=TICKET_SALT)
    for value in (CODE, [CODE], [CODE, EMAIL, "x"], [CODE, 1], {"code": CODE}):
        assert links.read_ticket(str(signer.dumps(value))) is None


# -- the link in the mail templates ----------------------------------------------------------

# The notices to a ticket's requester: each carries "Acompanhe seu chamado" when a link exists.
TRACKED = ("created", "incomplete", "completed", "status", "staff_answer", "urgent_received",
           "cancelled", "rating_received", "closed_incomplete", "closed_unanswered")  # fmt: skip
# Mail to staff about a ticket: the requester's link is not theirs to have.
UNTRACKED = ("routed", "area_update", "area_urgent", "area_cancelled", "deadline_reminder",
             "deadline_escalation", "staff_help", "proof_needed")  # fmt: skip
TRACKING_URL = f"{BASE}/acompanhar/TOKEN"


def rendered(purpose: str, tracking_url: str) -> tuple[str, str]:
    from mailproc.outgoing.replies import ReplyRenderer
    from mailproc.resources import shipped_dir
    from tests.test_replies import sample_context

    context = sample_context(purpose)
    context["ticket"] = dict(context["ticket"], tracking_url=tracking_url)  # type: ignore[call-overload]
    reply = ReplyRenderer(shipped_dir("templates")).render(purpose, context)
    return reply.text, reply.html


@pytest.mark.parametrize("purpose", TRACKED)
def test_a_notice_to_the_requester_carries_the_link_in_both_parts(purpose: str) -> None:
    text, html = rendered(purpose, TRACKING_URL)
    lines = text.splitlines()
    assert lines[lines.index("Acompanhe seu chamado:") + 1] == TRACKING_URL
    assert f'<a href="{TRACKING_URL}"' in html
    assert ">Acompanhe seu chamado</a>" in html


@pytest.mark.parametrize("purpose", TRACKED)
def test_without_a_link_a_notice_says_nothing_of_it(purpose: str) -> None:
    text, html = rendered(purpose, "")
    assert "Acompanhe seu chamado" not in text and "Acompanhe seu chamado" not in html


@pytest.mark.parametrize("purpose", UNTRACKED)
def test_mail_to_staff_never_carries_the_requesters_link(purpose: str) -> None:
    text, html = rendered(purpose, TRACKING_URL)
    assert TRACKING_URL not in text and TRACKING_URL not in html
