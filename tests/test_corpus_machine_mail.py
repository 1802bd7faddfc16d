"""Machine-mail detection over the shared corpus of other projects' real test messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailproc.machine_mail import machine_reason, machine_verdict

parse = pytest.importorskip("mailproc.parse", reason="mailproc.parse (parse_message) is absent")

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
NOT_MESSAGES = {".yml", ".tsv", ".md"}
OURS = ("suporte@compras.example.gov.br",)
MACHINE, HUMAN = True, False

# Reviewed by opening each file. HUMAN means nothing in the message's own headers marks it as
# machine-generated; spam that a person-like sender wrote is another stage's business.
REVIEWED = {
    "cpython-test_email/msg_01.txt": HUMAN,
    "cpython-test_email/msg_02.txt": MACHINE,  # Mailman digest From ppp-request@
    "cpython-test_email/msg_04.txt": HUMAN,
    "cpython-test_email/msg_05.txt": MACHINE,  # multipart/report, delivery-status
    "cpython-test_email/msg_16.txt": MACHINE,  # DSN from postmaster@, Return-Path <>
    "cpython-test_email/msg_25.txt": MACHINE,  # Auto-Submitted: auto-generated (failure)
    "cpython-test_email/msg_32.txt": MACHINE,  # FreeBSD list: Sender owner-..., Precedence bulk
    "cpython-test_email/msg_33.txt": MACHINE,  # the same, PGP-signed
    "cpython-test_email/msg_43.txt": MACHINE,  # multipart/report from "MAILER DAEMON <>"
    "django-helpdesk/forwarded-message.eml": HUMAN,  # a person forwarding a GitHub notice
    "django-helpdesk/quoted_printable.eml": HUMAN,
    "mail-parser/mail_malformed_2": MACHINE,  # multipart/report from postmaster@
    "mail-parser/mail_test_13": MACHINE,  # newsletter: List-Id, List-Unsubscribe
    "mail-parser/mail_test_16": MACHINE,  # Precedence: junk
    "mail-parser/mail_test_5": MACHINE,  # Precedence: bulk, List-Unsubscribe
    "mail-parser/mail_test_6": MACHINE,  # noreply@ newsletter with List-Id
    "otobo/EmailParser/FilenameWithCRLF.box": MACHINE,  # delivery-status inside multipart/mixed
    "otobo/EmailParser/MultipartMixedPlainHTML.eml": HUMAN,  # "Fwd:" from a person
    "otobo/EmailParser/NestedMessage-Test1.box": HUMAN,  # list headers only in the attached
    "otobo/EmailParser/PostMaster-Test10.box": MACHINE,  # Postfix bounce
    "otobo/EmailParser/UTF8Filename.box": MACHINE,  # Precedence: list, List-ID
    "otobo/PostMaster/PostMaster-Test10.box": MACHINE,
    "otobo/PostMaster/PostMaster-Test20.box": HUMAN,  # Outlook "FW:"
    "rt/8859-15-message-series/dir": MACHINE,  # rt-users list: Precedence bulk, List-Id
    "rt/multipart-report": MACHINE,  # Sendmail DSN with Auto-Submitted
    "rt/nested-rfc-822": HUMAN,  # resent by a person; Precedence: list only in the attached
    "zammad/mail004.box": HUMAN,  # "AW:" reply to a ticket
    "zammad/mail014.box": HUMAN,  # "AW:" reply with an attached message
    "zammad/mail018.box": MACHINE,  # German Exchange DSN from postmaster@
    "zammad/mail026.box": MACHINE,  # invoice robot, Return-Path noreply@
    "zammad/mail033-undelivered-mail-returned-to-sender.box": MACHINE,
    "zammad/mail052.box": MACHINE,  # text/plain Postfix bounce, Return-Path <>
    "zammad/mail055.box": MACHINE,
    # SpamAssassin report: Precedence/List-Id belong to the spam it attached, not to it.
    "zammad/mail069.box": HUMAN,
    "zammad/mail082.box": HUMAN,  # "FW:" from a person
    "zammad/mail089.box": MACHINE,  # ServiceNow: Auto-Submitted auto-generated, Precedence bulk
    "zammad/mail090.box": MACHINE,
    "zammad/mail099.box": MACHINE,  # noreply@
}

# Permanent failures the delivery reports name, as flufl.bounce reads them.
BOUNCED = {
    "cpython-test_email/msg_16.txt": {"jangel1@cougar.noc.ucla.edu"},
    "mail-parser/mail_malformed_2": {"abh@netpar.com.br"},
    "otobo/EmailParser/PostMaster-Test10.box": {"asdfasdfasdfasd@example.com"},
    "rt/multipart-report": {"jesmund@mailbox.other.example.com"},
    "zammad/mail018.box": {"m.smith@example.com"},
    "zammad/mail033-undelivered-mail-returned-to-sender.box": {"not_existing@znuny.com"},
    "zammad/mail055.box": {"ticket-bounce-trigger2@example.com"},
}


def _corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    files = (path for path in CORPUS.rglob("*") if path.is_file())
    return sorted(str(p.relative_to(CORPUS)) for p in files if p.suffix not in NOT_MESSAGES)


@pytest.fixture(scope="module", autouse=True)
def _corpus_present() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS}")


@pytest.mark.parametrize("name", _corpus_files())
def test_every_corpus_message_gets_a_verdict(name: str) -> None:
    raw = (CORPUS / name).read_bytes()
    verdict = machine_verdict(parse.parse_message(raw), OURS, raw)
    assert verdict.reason is None or verdict.reason.strip()
    assert verdict.reason is not None or not verdict.bounced


@pytest.mark.parametrize(("name", "machine"), sorted(REVIEWED.items()))
def test_reviewed_corpus_messages(name: str, machine: bool) -> None:
    reason = machine_reason(parse.parse_message((CORPUS / name).read_bytes()), OURS)
    assert (reason is not None) == machine, reason


@pytest.mark.parametrize(("name", "recipients"), sorted(BOUNCED.items()))
def test_corpus_bounces_name_their_failed_recipients(name: str, recipients: set[str]) -> None:
    raw = (CORPUS / name).read_bytes()
    assert machine_verdict(parse.parse_message(raw), OURS, raw).bounced == recipients


def test_the_review_covers_the_corpus_files_it_names() -> None:
    assert set(REVIEWED) | set(BOUNCED) <= set(_corpus_files())
