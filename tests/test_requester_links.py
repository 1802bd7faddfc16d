"""The encrypted links mailed to requesters (mailproc.outgoing.links): a link opens exactly
what it was made for, for as long as [web] requester_link_days says, and nothing else, and
nobody who sees it can read whose it is."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7

from mailproc.outgoing.links import TICKET_KIND, RequesterLinks, TicketLink, link_key

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
    assert links.read_ticket(token_of(url)) == TicketLink(CODE, EMAIL, shared=False)


def test_a_link_mailed_with_copies_reads_back_as_shared(links: RequesterLinks) -> None:
    url = links.ticket_url(CODE, EMAIL, shared=True)
    assert links.read_ticket(token_of(url)) == TicketLink(CODE, EMAIL, shared=True)


def test_a_my_tickets_link_reads_back_as_its_address(links: RequesterLinks) -> None:
    url = links.my_tickets_url(EMAIL)
    assert url.startswith(BASE + "/meus-chamados/")
    assert links.read_my_tickets(token_of(url)) == EMAIL


def test_links_are_short_enough_for_a_mail_line(links: RequesterLinks) -> None:
    """Encryption costs length: a Fernet token is 57 bytes (version, time, IV, MAC) plus the
    payload padded to 16 bytes, in base64: 140 characters for this code and address, 119 for
    "Meus chamados". The notices put the URL alone on its line, so what matters is that a
    mail client shows it whole and clickable; 160 leaves room for a longer address (each 16
    more bytes of it cost about 21 characters) and still fails if the payload grows."""
    assert len(links.ticket_token(CODE, EMAIL)) <= 160
    assert len(links.ticket_token(CODE, EMAIL, shared=True)) <= 160
    assert len(links.my_tickets_token(EMAIL)) <= 160


def test_a_link_for_the_longest_address_still_fits_a_mail_line(links: RequesterLinks) -> None:
    """RFC 5321 allows a 254-character address; RFC 5322 a 998-character line."""
    longest = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".br"
    assert len(longest) == 254
    assert len(links.ticket_url(CODE, longest, shared=True)) < 998
    assert links.read_ticket(token_of(links.ticket_url(CODE, longest))) == TicketLink(CODE, longest)


def test_a_url_carries_no_base64_padding(links: RequesterLinks) -> None:
    for email in (EMAIL, "a@b.br", "jo@x.gov.br", "ana.costa@x.gov.br"):
        assert "=" not in links.ticket_url(CODE, email)
        assert "=" not in links.my_tickets_url(email)
        assert links.read_my_tickets(links.my_tickets_token(email)) == email


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
    assert links.read_ticket(token[:60]) is None
    assert links.read_ticket("") is None
    assert links.read_my_tickets("") is None


def test_a_token_with_other_than_ascii_opens_nothing(links: RequesterLinks) -> None:
    token = links.ticket_token(CODE, EMAIL)
    assert links.read_ticket("ç" + token[1:]) is None
    assert links.read_my_tickets(token[:-1] + "é") is None


def test_the_same_link_made_twice_differs(links: RequesterLinks) -> None:
    """A fresh IV each time: two links of one ticket say nothing of being the same."""
    assert links.ticket_token(CODE, EMAIL) != links.ticket_token(CODE, EMAIL)


def test_a_token_made_with_another_key_opens_nothing(links: RequesterLinks) -> None:
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
        assert links.read_ticket(ticket) == TicketLink(CODE, EMAIL)
        assert links.read_my_tickets(mine) == EMAIL
    with time_machine.travel(made + timedelta(days=91), tick=False):
        assert links.read_ticket(ticket) is None
        assert links.read_my_tickets(mine) is None


def test_a_token_whose_first_block_was_flipped_to_another_code_opens_nothing(
    links: RequesterLinks,
) -> None:
    """The strongest forgery without the key: the code lies in the first block, which is
    the IV XOR the decrypted first block, so flipping the IV's bits would turn the code
    into another one in plain CBC. Fernet's MAC covers the IV: the token opens nothing."""
    forged = flipped_to(links.ticket_token(CODE, EMAIL), CODE, "2026-000124")
    assert decrypted_ignoring_the_mac(forged).startswith(b'["2026-000124","')  # a real forgery
    assert links.read_ticket(forged) is None


def decrypted_ignoring_the_mac(token: str) -> bytes:
    """What plain AES-CBC, without Fernet's MAC check, would make of ``token``."""
    aes_key = base64.urlsafe_b64decode(link_key(KEY, TICKET_KIND))[16:]  # Fernet's spec
    data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    iv, ciphertext = data[9:25], data[25:-32]
    decryptor = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def flipped_to(token: str, code: str, other: str) -> str:
    """``token`` with its IV changed so that, without the MAC, it would decrypt to ``other``
    in place of ``code`` (the payload starts with '["' and the code)."""
    data = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    iv_start = 1 + 8 + 2  # version, timestamp; then '["' in the first plaintext block
    for i, (a, b) in enumerate(zip(code.encode(), other.encode(), strict=True)):
        data[iv_start + i] ^= a ^ b
    return base64.urlsafe_b64encode(bytes(data)).decode().rstrip("=")


@pytest.mark.parametrize("value", [CODE, [CODE], [CODE, EMAIL, "x"], [CODE, 1], {"code": CODE}])
def test_a_validly_encrypted_value_of_the_wrong_shape_opens_nothing(
    links: RequesterLinks, value: object
) -> None:
    """Defence in depth: should a payload ever be encrypted with the ticket key by mistake,
    only a [code, email] pair reads as a ticket."""
    token = Fernet(link_key(KEY, TICKET_KIND)).encrypt(json.dumps(value).encode()).decode()
    assert links.read_ticket(token.rstrip("=")) is None


def test_an_encrypted_payload_that_is_not_json_opens_nothing(links: RequesterLinks) -> None:
    token = Fernet(link_key(KEY, TICKET_KIND)).encrypt(b"\xff not json").decode()
    assert links.read_ticket(token) is None


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
