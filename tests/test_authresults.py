"""Sender authentication: which Authentication-Results headers are our server's, what they
say of the From (failed, an aligned pass, or nothing known), forgeries of every kind, the
block / flag / ignore policy as a pure decision, and the outcome through ``mailproc ingest``
and through Dovecot and ``mailproc poll --once``."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailproc.config import load_config
from mailproc.decision.decide import Facts, Policy, Thread, decide
from mailproc.decision.values import AuthFailure, Outcome
from mailproc.errors import ConfigError
from mailproc.mail.authresults import (
    AuthResults,
    OnFailure,
    Result,
    authenticated,
    own_hop,
    parse,
    verdict,
)
from mailproc.mail.message import Address, InboundMessage
from mailproc.mail.parse import parse_message
from mailproc.resources import shipped_dir
from mailproc.rules.rulebook import Rulebook, load_rulebook
from mailproc.service.app import App
from mailproc.storage import models as m
from tests.conftest import write_config
from tests.e2e import DeskFactory
from tests.mails import REQUESTER, SUPPORT, error_report, mail
from tests.threads import MARIA, STAFF_EMAIL, queued, reply, staff_reply, ticket
from tests.timing import cpu_seconds

Ingest = Callable[[bytes], dict[str, Any]]
OURS = "mx.compras.example.gov.br"
VICTIM = "saude.rj.gov.br"  # Maria's domain, which the forgeries claim
ATTACKER = "atacante.example.net"  # the forger's own domain, which passes SPF and DKIM

# Headers as servers write them (addresses and keys changed), folding kept where they fold.
GMAIL = (
    "mx.google.com;\n       dkim=pass header.i=@saude.rj.gov.br header.s=sel1 "
    "header.b=Ab3dEf9h;\n       spf=pass (google.com: domain of maria.silva@saude.rj.gov.br "
    "designates 200.20.10.5 as permitted sender) smtp.mailfrom=maria.silva@saude.rj.gov.br;\n"
    "       dmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from=saude.rj.gov.br"
)
MICROSOFT_365 = (
    "spf=pass (sender IP is 40.107.22.51)\n smtp.mailfrom=saude.rj.gov.br; dkim=none (message "
    "not signed)\n header.d=none;dmarc=fail action=none header.from=saude.rj.gov.br;"
    "compauth=fail\n reason=001"
)
# Postfix with milters: OpenDKIM writes its header, then OpenDMARC (which reads it) writes
# its own above it.
OPENDMARC_PASS = f"{OURS}; dmarc=pass (p=quarantine dis=none) header.from={VICTIM}"
OPENDKIM_PASS = (
    f"{OURS};\n\tdkim=pass (2048-bit key; unprotected) header.d={VICTIM} "
    f'header.i=@{VICTIM} header.a=rsa-sha256 header.s=default header.b="AbCd1234"'
)
FAILED = (
    f"{OURS}; spf=softfail (domain of transitioning suporte.example.gov.br does not designate "
    "45.33.32.156 as permitted sender) smtp.mailfrom=suporte.example.gov.br; dkim=none; "
    "dmarc=fail (p=none dis=none) header.from=suporte.example.gov.br"
)
# What a forger writes into the mail they send, naming our server and claiming everything.
FORGED_PASS = (
    f"{OURS}; spf=pass smtp.mailfrom=maria.silva@{VICTIM}; dkim=pass header.d={VICTIM}; "
    f"dmarc=pass header.from={VICTIM}"
)

# The Received lines of a Postfix border server and of Dovecot's LMTP delivery behind it.
BORDER = (
    "from mail.atacante.example.net (mail.atacante.example.net [45.33.32.156])\n"
    f"\tby {OURS} (Postfix) with ESMTPS id 4Zx9Lq2Bz3; Fri, 20 Nov 2026 09:00:01 -0300"
)
LMTP = (
    f"from {OURS} ({OURS} [10.20.0.5])\n\tby imap.compras.example.gov.br with LMTP id "
    "kX3bCDEwYGc (envelope-from <x@example.net>) for <suporte@compras.example.gov.br>; "
    "Fri, 20 Nov 2026 09:00:02 -0300"
)
CONTENT_FILTER = (
    f"from localhost (localhost [127.0.0.1])\n\tby {OURS} (Postfix) with ESMTP id 4Zx9M; "
    "Fri, 20 Nov 2026 09:00:02 -0300"
)


def delivered(
    ours: Sequence[str],
    sender_wrote: Sequence[str] = (),
    *,
    raw: bytes | None = None,
    hops: Sequence[str] = (LMTP,),
    border: str = BORDER,
) -> bytes:
    """``raw`` (by default a mail from Maria) as Postfix with OpenDKIM and OpenDMARC and
    then Dovecot's LMTP deliver it: the delivery's fields and Received lines (``hops``), our
    server's Authentication-Results (``ours``, top first), the Received line our border
    server wrote, then the header the sender wrote, with ``sender_wrote`` at its top."""
    fields = [
        ("Return-Path", "<bounce@example.net>"),
        ("Delivered-To", SUPPORT),
        *(("Received", hop) for hop in hops),
        *(("Authentication-Results", value) for value in ours),
        ("Received", border),
        *(("Authentication-Results", value) for value in sender_wrote),
    ]
    top = "".join(f"{name}: {value}\n" for name, value in fields).encode()
    return top + (raw if raw is not None else mail("Erro no SIASG", "O SIASG dá erro."))


def judged(raw: bytes) -> str | None:
    """What our server's headers say of ``raw``: "failed", "pass" (aligned), "unknown"
    (checked nothing), or None (it wrote nothing)."""
    found = verdict(parse_message(raw), OURS)
    if found is None:
        return None
    return "failed" if found.failed else "pass" if found.aligned_pass else "unknown"


# -- the parser --------------------------------------------------------------------------


def test_gmail_results_are_read_in_order_with_the_domain_each_is_about() -> None:
    assert parse(GMAIL) == AuthResults(
        "mx.google.com",
        (
            Result("dkim", "pass", VICTIM),
            Result("spf", "pass", VICTIM),
            Result("dmarc", "pass", VICTIM),
        ),
    )


def test_microsoft_365_writes_no_authserv_id_so_its_header_is_never_ours() -> None:
    assert parse(MICROSOFT_365).authserv_id == ""
    assert [(r.method, r.result) for r in parse(MICROSOFT_365).results] == [
        ("spf", "pass"), ("dkim", "none"), ("dmarc", "fail"), ("compauth", "fail")
    ]  # fmt: skip
    assert judged(delivered([MICROSOFT_365])) is None


def test_semicolons_inside_comments_and_quoted_strings_separate_nothing() -> None:
    value = f'{OURS}; spf=pass (a; dmarc=fail (nested; \\) dkim=fail)) reason="x; dkim=fail"'

    assert parse(value) == AuthResults(OURS, (Result("spf", "pass"),))


def test_a_double_quote_inside_a_comment_is_only_a_character() -> None:
    """RFC 5322: a comment holds no quoted string, so a quote in one cannot carry the comment
    over a result that follows it."""
    value = f'{OURS}; spf=pass (a "b) smtp.mailfrom={ATTACKER}; dmarc=fail (c" d)'

    assert parse(value).results == (Result("spf", "pass", ATTACKER), Result("dmarc", "fail"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", AuthResults("", ())),
        (";;;", AuthResults("", ())),
        ("garbage ;;; ==", AuthResults("garbage", ())),
        (f"{OURS}; =fail; dmarc; spf=", AuthResults(OURS, ())),
        (f"{OURS}; dmarc=fail (unclosed", AuthResults(OURS, (Result("dmarc", "fail"),), False)),
        (f'{OURS}; reason="an unclosed quote; dmarc=fail', AuthResults(OURS, (), whole=False)),
        (
            f"{OURS}; dmarc=fail header.from=exa\u00e7\u00e3o.gov.br \x00\ufffd",
            AuthResults(OURS, (Result("dmarc", "fail", "exa\u00e7\u00e3o.gov.br"),)),
        ),
    ],
)  # fmt: skip
def test_garbage_never_raises_and_what_is_readable_is_kept(
    value: str, expected: AuthResults
) -> None:
    assert parse(value) == expected


@pytest.mark.parametrize(
    ("hop", "ours"),
    [
        (LMTP, True),
        (CONTENT_FILTER, True),
        ("from hub.compras.example.gov.br ([IPv6:fd00::25]) by mx with ESMTPS id 1; date", True),
        (BORDER, False),
        # A HELO can claim a private address; the address our server saw is public.
        (f"from [10.0.0.1] (unknown [45.33.32.156]) by {OURS} with ESMTP id 2; date", False),
        # Only the protocol our server wrote counts, not words in the connecting host's name.
        ("from x.with.lmtp (x [45.33.32.156]) by mx with ESMTP id 3; date", False),
        ("by mx.compras.example.gov.br (Postfix, from userid 0) id 4; date", False),
        # A HELO with spaces: the last protocol is the one the receiving server wrote.
        ("from x with LMTP (x [45.33.32.156]) by mx with ESMTP id 5; date", False),
        (LMTP.replace("kX3bCDEwYGc", "k" * 1024), False),  # longer than our hops write
        ("garbage", False),
    ],
)
def test_a_hop_is_our_own_only_over_lmtp_or_from_an_internal_address(hop: str, ours: bool) -> None:
    assert own_hop(hop) is ours


# -- what our server's headers say of the From ---------------------------------------------


@dataclass(frozen=True)
class Case:
    """A mail from Maria (``From`` overridden by ``sender``) as our server delivers it."""

    ours: tuple[str, ...]
    sender_wrote: tuple[str, ...] = ()
    hops: tuple[str, ...] = (LMTP,)
    sender: str = REQUESTER
    extra: tuple[tuple[str, str], ...] = ()

    def raw(self) -> bytes:
        body = mail("Erro no SIASG", "O SIASG dá erro.", sender=self.sender)
        top = "".join(f"{name}: {value}\n" for name, value in self.extra).encode()
        return delivered(self.ours, self.sender_wrote, raw=top + body, hops=self.hops)


def ours(*resinfos: str) -> str:
    """A header of our server with ``resinfos``."""
    return "; ".join((OURS, *resinfos))


UNALIGNED_SPF = f"spf=pass smtp.mailfrom=bounce@{ATTACKER}"
UNALIGNED_DKIM = f"dkim=pass header.d={ATTACKER} header.i=@{ATTACKER}"
NO_DMARC_POLICY = f"dmarc=none header.from={VICTIM}"
DMARC_FAIL = f"dmarc=fail header.from={VICTIM}"
PADDING = [f'dkim=neutral reason="signature {n} ignored" header.d=lista{n}.example.org'
           for n in range(120)]  # fmt: skip
HELO_INTERNAL = f"from [10.0.0.1] (unknown [45.33.32.156]) by {OURS} with ESMTP id 2; date"
TWO_AUTHORS = f"{REQUESTER}, Forger <forger@{ATTACKER}>"
FORGER_PASSES = (ours(f"dmarc=pass header.from={ATTACKER}", f"dkim=pass header.d={ATTACKER}"),)

# Each forgery claims Maria's From, and none may be an aligned pass. "failed": our server
# checked and did not vouch; None: it wrote nothing, and the sender's headers count for nothing.
FORGERIES: dict[str, tuple[Case, str | None]] = {
    "an unaligned SPF pass, the victim publishing no DMARC policy": (
        Case((ours(UNALIGNED_SPF, "dkim=none", NO_DMARC_POLICY),)), "failed"),
    "an unaligned DKIM pass, the victim publishing no DMARC policy": (
        Case((ours(UNALIGNED_DKIM, f"spf=none smtp.mailfrom={ATTACKER}", NO_DMARC_POLICY),)),
        "failed"),
    "unaligned passes and no DMARC result at all": (
        Case((ours(UNALIGNED_SPF, UNALIGNED_DKIM),)), "failed"),
    "an unaligned pass when DMARC gave temperror": (
        Case((ours(UNALIGNED_SPF, f"dmarc=temperror header.from={VICTIM}"),)), "failed"),
    "an unaligned pass when DMARC gave permerror": (
        Case((ours(UNALIGNED_DKIM, f"dmarc=permerror header.from={VICTIM}"),)), "failed"),
    "none everywhere: nothing passing, nothing failing": (
        Case((ours(f"spf=none smtp.mailfrom={ATTACKER}", "dkim=none", NO_DMARC_POLICY),)),
        "failed"),
    "OpenDMARC's fail in the header below a pass of ours": (
        Case((ours(UNALIGNED_SPF), ours(DMARC_FAIL))), "failed"),
    "a DMARC fail below an aligned DKIM pass": (
        Case((OPENDKIM_PASS, ours(DMARC_FAIL))), "failed"),
    "a DKIM fail of the From domain beside its pass": (
        Case((ours(f"dkim=pass header.d={VICTIM}", f"dkim=fail header.d={VICTIM}"),)), "failed"),
    "an SPF softfail of the From domain in a second header": (
        Case((ours(f"spf=pass smtp.mailfrom={VICTIM}"),
              ours(f"spf=softfail smtp.mailfrom={VICTIM}"))), "failed"),
    "DMARC's pass for another From domain than the one the desk reads": (
        Case(FORGER_PASSES), "failed"),
    "DMARC's pass for a look-alike of the From domain": (
        Case((ours(f"dmarc=pass header.from={VICTIM}.{ATTACKER}"),)), "failed"),
    "DMARC's pass naming no From domain": (Case((ours("dmarc=pass"),)), "failed"),
    "a header over 8 KB with dmarc=fail at its end": (
        Case((ours(f"spf=pass smtp.mailfrom=maria.silva@{VICTIM}", *PADDING, DMARC_FAIL),)),
        "failed"),
    "a pass the sender wrote below our border, ours checking nothing": (
        Case((ours("spf=none", "dkim=none", NO_DMARC_POLICY),), sender_wrote=(FORGED_PASS,)),
        "failed"),
    "a pass the sender wrote, and no header of ours": (
        Case((), sender_wrote=(FORGED_PASS,)), None),
    "a pass the sender wrote below a HELO claiming an internal address": (
        Case((), hops=(HELO_INTERNAL,), sender_wrote=(FORGED_PASS,)), None),
    "another server's pass": (Case((f"mx.{ATTACKER}; dmarc=pass header.from={VICTIM}",)), None),
    "another server's pass above ours": (
        Case((f"mx.{ATTACKER}; dmarc=pass header.from={VICTIM}", ours(UNALIGNED_SPF))), "failed"),
    "our authserv-id in capitals on our failure, a pass of ours above it": (
        Case((ours(UNALIGNED_SPF), f"MX.Compras.Example.GOV.BR.; DMARC=Fail header.from={VICTIM}")),
        "failed"),
    "look-alike authserv-ids claiming a pass": (
        Case((f"{OURS}.{ATTACKER}; dmarc=pass header.from={VICTIM}",
              f"mx.c\u043empras.example.gov.br; dmarc=pass header.from={VICTIM}")), None),
    "passes for the From domain inside comments": (
        Case((ours(f"{UNALIGNED_SPF} (dmarc=pass header.from={VICTIM})",
                   f"dkim=pass header.d={ATTACKER} (header.d={VICTIM})"),)), "failed"),
    "the From domain inside a quoted reason": (
        Case((ours(f'dkim=pass reason="header.d={VICTIM}" header.d={ATTACKER}'),)), "failed"),
    "an encoded word that would decode to a pass": (
        Case((ours(f"spf=none (=?us-ascii?q?=29=3B_dkim=3Dpass_header.d=3D{VICTIM}_=28?=) "
                   f"smtp.mailfrom={ATTACKER}", NO_DMARC_POLICY),)), "failed"),
    "a comment left open over our failure": (
        Case((ours(f"dkim=pass header.d={VICTIM} (unclosed", DMARC_FAIL),)), "failed"),
    "the From domain as the envelope's local part": (
        Case((ours(f"spf=pass smtp.mailfrom={VICTIM}@{ATTACKER}"),)), "failed"),
    "SPF passing for the HELO name only": (
        Case((ours(f"spf=pass smtp.helo={VICTIM}"),)), "failed"),
    "a DKIM pass for the public suffix": (
        Case((ours("dkim=pass header.d=rj.gov.br"),)), "failed"),
    "a DKIM pass for a domain ending like the From domain": (
        Case((ours(f"dkim=pass header.i=@x{VICTIM}"),)), "failed"),
    "two From addresses, the forger's passing": (
        Case(FORGER_PASSES, sender=TWO_AUTHORS), "failed"),
    "two From fields, the forger's passing": (
        Case(FORGER_PASSES, extra=(("From", f"forger@{ATTACKER}"),)), "failed"),
}  # fmt: skip
GENUINE: dict[str, tuple[Case, str | None]] = {
    "OpenDMARC's pass above OpenDKIM's": (Case((OPENDMARC_PASS, OPENDKIM_PASS)), "pass"),
    "behind a content filter": (Case((OPENDMARC_PASS,), hops=(LMTP, CONTENT_FILTER)), "pass"),
    "delivered without LMTP": (Case((OPENDMARC_PASS,), hops=()), "pass"),
    "Gmail's header, one for all methods": (Case((GMAIL.replace("mx.google.com", OURS),)), "pass"),
    "an aligned DKIM pass of a subdomain, no DMARC policy": (
        Case((ours(f"dkim=pass header.d=mail.{VICTIM}", NO_DMARC_POLICY),)), "pass"),
    "a DKIM pass by header.i alone": (Case((ours(f"dkim=pass header.i=@{VICTIM}"),)), "pass"),
    "an aligned SPF pass, no DKIM": (
        Case((ours(f"spf=pass smtp.mailfrom=bounces@{VICTIM}", "dkim=none"),)), "pass"),
    "a forwarding hop: SPF failed, the signature survived": (
        Case((ours(f"dmarc=pass header.from={VICTIM}"),
              ours(f"spf=fail smtp.mailfrom={VICTIM}", f"dkim=pass header.d={VICTIM}"))), "pass"),
    "a list's broken signature beside the sender's": (
        Case((ours("dkim=fail header.d=lista.example.org", f"dkim=pass header.d={VICTIM}"),)),
        "pass"),
    "our server checked nothing": (Case((ours("none"),)), "unknown"),
    "no header of ours": (Case(()), None),
}  # fmt: skip


@pytest.mark.parametrize(("case", "expected"), FORGERIES.values(), ids=FORGERIES.keys())
def test_a_forgery_is_never_an_aligned_pass(case: Case, expected: str | None) -> None:
    raw = case.raw()

    assert judged(raw) == expected
    assert not authenticated(parse_message(raw), OURS)


@pytest.mark.parametrize(("case", "expected"), GENUINE.values(), ids=GENUINE.keys())
def test_genuine_mail_is_read_as_our_server_judged_it(case: Case, expected: str | None) -> None:
    assert judged(case.raw()) == expected


def test_another_servers_header_is_passed_by_unread_however_long() -> None:
    """Only our headers are read whole: another's (or a sender's) is read as far as its
    authserv-id, so 12 MB of it cost nothing where reading it would take seconds."""

    def theirs(n: int) -> InboundMessage:
        results = "; ".join(f"dkim=pass header.d=l{k}.example.org" for k in range(n))
        return parse_message(delivered([f"mx.{ATTACKER}; {results}", OPENDMARC_PASS]))

    short, long = theirs(75_000), theirs(300_000)
    found = verdict(long, OURS)

    assert found is not None and found.aligned_pass
    # 4x as long costs no more to pass by: well under the 4x of reading it (tests/timing.py)
    ratio = cpu_seconds(lambda: verdict(long, OURS)) / cpu_seconds(lambda: verdict(short, OURS))
    assert ratio < 2


def test_the_verdict_reads_short_and_names_no_one() -> None:
    unaligned = delivered([f"{OURS}; spf=pass smtp.mailfrom={ATTACKER}; dmarc=none"])
    left_open = delivered([f"{OURS}; dkim=none (open"])

    assert str(verdict(parse_message(delivered([FAILED])), OURS)) == (
        "dmarc=fail dkim=none spf=softfail"
    )
    assert str(verdict(parse_message(unaligned), OURS)) == (
        "dmarc=none dkim=absent spf=pass(unaligned)"
    )
    assert str(verdict(parse_message(left_open), OURS)) == (
        "dmarc=absent dkim=none spf=absent (header left open)"
    )


def test_a_forwarders_from_is_authentic_only_with_an_aligned_pass() -> None:
    """decide trusts a forward only from an authentic From (mailproc.decision.proofs)."""
    redecompras = "Redecompras <redecompras@planejamento.rj.gov.br>"
    forward = mail("ENC: dúvida", "Segue.", sender=redecompras)
    genuine = delivered([f"{OURS}; dmarc=pass header.from=planejamento.rj.gov.br"], raw=forward)
    forged = delivered(
        [f"{OURS}; spf=pass smtp.mailfrom={ATTACKER}; dmarc=none"],
        sender_wrote=[f"{OURS}; dmarc=pass header.from=planejamento.rj.gov.br"],
        raw=forward,
    )

    assert authenticated(parse_message(genuine), OURS)
    assert not authenticated(parse_message(forged), OURS)
    assert not authenticated(parse_message(delivered([], raw=forward)), OURS)
    assert not authenticated(parse_message(genuine), "")  # not configured


# -- the decision ------------------------------------------------------------------------

ANA = Address(STAFF_EMAIL, "Ana Souza")
CODE = "2026-000007"
UNALIGNED = f"{OURS}; spf=pass smtp.mailfrom={ATTACKER}; dkim=none; dmarc=none"


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    return load_rulebook(shipped_dir("rules"))


def policy(on_failure: OnFailure = "block", authserv_id: str = OURS) -> Policy:
    return Policy({SUPPORT}, set(), None, authserv_id=authserv_id, on_auth_failure=on_failure)


def staff_thread() -> Thread:
    return Thread(CODE, "aberto", "erro-siasg", True, {}, (), staff=True)


def requester_thread() -> Thread:
    return Thread(CODE, "aberto", "erro-siasg", True, {}, (), requester=True)


def inbound(text: str, *results: str, sender: Address = ANA, subject: str = "") -> InboundMessage:
    """A message whose header holds only ``results``, at its top: as our server wrote them."""
    return InboundMessage(
        sender=sender,
        subject=subject or f"RE: [#{CODE}] Novo chamado: Erro ao publicar aviso no SIASG",
        text=text,
        headers={"authentication-results": results, "from": (sender.email,)}
        if results
        else {"from": (sender.email,)},
    )


def test_block_quarantines_a_staff_answer_of_unaligned_passes_and_tells_the_address_it_claims(
    rulebook: Rulebook,
) -> None:
    facts = Facts(inbound("#resolvido\n\nLiberado.", UNALIGNED), staff_thread(), rulebook, policy())

    decision = decide(facts)

    assert decision.outcome is Outcome.QUARANTINED
    assert decision.staff is None  # no directive is carried out
    assert decision.ticket_code == CODE  # for the ticket's history
    verdict_text = "dmarc=none dkim=none spf=pass(unaligned)"
    assert decision.authentication == AuthFailure(verdict_text, True)
    assert decision.request is not None and decision.request.requester == ANA
    assert f"não foi incluída no chamado {CODE}" in decision.notice
    assert verdict_text in decision.notice
    assert not authenticated(facts.message, facts.policy.authserv_id)


@pytest.mark.parametrize(
    ("subject", "text", "thread"),
    [
        (f"RES: [#{CODE}] Chamado registrado", "Segue o print.", requester_thread()),
        (f"RES: [#{CODE}] Chamado registrado", "cancelar", requester_thread()),
        ("meus chamados", "", None),  # a command that names no ticket
    ],
)
def test_block_stops_requester_replies_and_commands(
    rulebook: Rulebook, subject: str, text: str, thread: Thread | None
) -> None:
    message = inbound(text, FAILED, sender=Address(MARIA), subject=subject)

    decision = decide(Facts(message, thread, rulebook, policy()))

    assert decision.outcome is Outcome.QUARANTINED
    assert decision.command is None
    assert decision.ticket_code == (thread.code if thread else None)


def test_block_still_opens_a_new_ticket_flagged(rulebook: Rulebook) -> None:
    message = inbound("O SIASG dá erro.", FAILED, sender=Address(MARIA), subject="Erro no SIASG")

    decision = decide(Facts(message, None, rulebook, policy()))

    assert decision.outcome in (Outcome.CREATED, Outcome.INCOMPLETE)
    assert decision.authentication == AuthFailure("dmarc=fail dkim=none spf=softfail", False)


def test_flag_lets_a_failed_requester_reply_through_flagged(rulebook: Rulebook) -> None:
    message = inbound("Segue o print.", FAILED, sender=Address(MARIA),
                      subject=f"RES: [#{CODE}] Chamado registrado")  # fmt: skip

    decision = decide(Facts(message, requester_thread(), rulebook, policy("flag")))

    assert (decision.outcome, decision.ticket_code) == (Outcome.UPDATED, CODE)
    assert decision.authentication == AuthFailure("dmarc=fail dkim=none spf=softfail", False)


@pytest.mark.parametrize(
    ("settings", "results", "aligned"),
    [
        (policy("ignore"), (FAILED,), False),
        (policy("block", authserv_id=""), (FAILED,), False),  # not configured: not checked
        (policy("block"), (f"{OURS}; none",), False),  # our server checked nothing
        (policy("block"), (), False),  # our server wrote nothing: not checked
        (policy("block"), (f"{OURS}; dkim=pass header.d=mail.{VICTIM}",), True),
        (policy("ignore"), (f"{OURS}; dkim=pass header.d={VICTIM}",), True),
    ],
)
def test_no_failure_to_act_on_leaves_the_requester_reply_alone(
    rulebook: Rulebook, settings: Policy, results: tuple[str, ...], aligned: bool
) -> None:
    message = inbound("Segue o print.", *results, sender=Address(MARIA),
                      subject=f"RES: [#{CODE}] Chamado registrado")  # fmt: skip
    facts = Facts(message, requester_thread(), rulebook, settings)

    decision = decide(facts)

    assert decision.outcome is Outcome.UPDATED
    assert decision.authentication is None
    assert authenticated(facts.message, facts.policy.authserv_id) is aligned


def test_on_failure_must_be_one_of_the_three(tmp_path: Path) -> None:
    extra = '[authentication]\nauthserv_id = "mx.x"\non_failure = "reject"\n'

    with pytest.raises(ConfigError, match=r"authentication\.on_failure: must be one of"):
        load_config(write_config(tmp_path, "sqlite:///x.db", extra))


# -- through ingest (SQLite and PostgreSQL) -----------------------------------------------

AUTHENTICATION = '[authentication]\nauthserv_id = "{ours}"\non_failure = "{on_failure}"\n'


@pytest.fixture
def on_failure() -> OnFailure:
    return "block"


@pytest.fixture
def config_path(tmp_path: Path, database_url: str, on_failure: OnFailure) -> Path:
    """The shared desk, behind a receiving server named OURS."""
    return write_config(
        tmp_path, database_url, AUTHENTICATION.format(ours=OURS, on_failure=on_failure)
    )


def test_a_blocked_staff_resolvido_resolves_nothing_and_is_logged_on_the_ticket(
    ingest: Ingest, app: App
) -> None:
    code = ingest(delivered([OPENDMARC_PASS], raw=error_report()))["ticket"]
    forged = staff_reply(code, "#resolvido\n\nLiberado.")

    result = ingest(delivered([FAILED], sender_wrote=[FORGED_PASS], raw=forged))

    assert (result["outcome"], result["replies"]) == ("quarantined", 1)
    view = ticket(app, code)
    assert view.state == "aberto"
    assert view.messages == 1
    assert [d for k, d in view.events if k == "auth_blocked"] == [
        {"verdict": "dmarc=fail dkim=none spf=softfail"}
    ]
    assert queued(app, "staff_answer") == []  # nothing relayed to the requester
    [notice] = queued(app, "quarantined")
    assert notice.recipients == [STAFF_EMAIL]
    assert f"não foi incluída no chamado {code}" in " ".join(notice.text.split())


def test_the_decision_is_logged_in_one_line_that_names_nobody(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    code = app.pipeline.process(delivered([OPENDMARC_PASS], raw=error_report()), "test").ticket
    assert code is not None

    with caplog.at_level(logging.WARNING, logger="mailproc.tickets.pipeline"):
        app.pipeline.process(delivered([FAILED], raw=staff_reply(code, "#resolvido")), "test")

    [line] = [r.getMessage() for r in caplog.records if "authentication" in r.getMessage()]
    assert "auth_blocked" in line and code in line and "dmarc=fail dkim=none" in line
    assert "@" not in line and "example.gov.br" not in line


def test_a_blocked_requester_cancelar_leaves_the_ticket_in_service(
    ingest: Ingest, app: App
) -> None:
    code = ingest(delivered([OPENDMARC_PASS], raw=error_report()))["ticket"]

    result = ingest(delivered([UNALIGNED], sender_wrote=[FORGED_PASS], raw=reply(code, "cancelar")))

    assert result["outcome"] == "quarantined"
    assert ticket(app, code).state == "aberto"
    assert "auth_blocked" in ticket(app, code).kinds()
    assert queued(app, "cancelled") == []


def test_a_new_ticket_from_a_failed_sender_opens_flagged(ingest: Ingest, app: App) -> None:
    result = ingest(delivered([FAILED], raw=error_report()))

    assert result["outcome"] == "created"
    view = ticket(app, result["ticket"])
    assert ("auth_flagged", {"verdict": "dmarc=fail dkim=none spf=softfail"}) in view.events
    assert "auth_blocked" not in view.kinds()


@pytest.mark.parametrize("on_failure", ["flag"])
def test_a_flagged_staff_resolvido_resolves_and_the_flag_stays_on_the_ticket(
    ingest: Ingest, app: App
) -> None:
    code = ingest(delivered([OPENDMARC_PASS], raw=error_report()))["ticket"]

    result = ingest(delivered([FAILED], raw=staff_reply(code, "#resolvido\n\nLiberado.")))

    assert (result["outcome"], result["ticket"]) == ("updated", code)
    view = ticket(app, code)
    assert view.state == "resolvido"
    kinds = view.kinds()
    assert kinds.index("answered") < kinds.index("auth_flagged")
    [relay] = queued(app, "staff_answer")
    assert relay.recipients == [MARIA]


# -- through Dovecot and ``mailproc poll --once`` ------------------------------------------


@pytest.mark.servers
def test_under_block_a_forged_pass_acts_on_no_ticket_through_a_real_mailbox(
    make_desk: DeskFactory,
) -> None:
    """Maria's ticket, then three forgeries in her and a staff member's name: our server found
    only the forger's own domain passing (or nothing at all), and each mail carries a full
    pass naming our server below the border. None may cancel, resolve or answer."""
    desk = make_desk()
    # The desk's [authentication] table, whatever the shared config holds, is ours under block.
    text = re.sub(r"(?ms)^\[authentication\]\n.*?(?=^\[|\Z)", "", desk.config.read_text())
    desk.config.write_text(text + "\n" + AUTHENTICATION.format(ours=OURS, on_failure="block"))
    desk.imap.append("INBOX", delivered([OPENDMARC_PASS, OPENDKIM_PASS], raw=error_report()))
    assert desk.poll().returncode == 0
    with desk.session() as session:
        code, priority = session.execute(select(m.Ticket.code, m.Ticket.priority)).one()
    forgeries = [
        delivered([UNALIGNED], sender_wrote=[FORGED_PASS], raw=reply(code, "cancelar")),
        delivered(
            [f"{OURS}; dkim=pass header.d={ATTACKER}", f"{OURS}; dmarc=temperror header.from=x"],
            sender_wrote=[FORGED_PASS],
            raw=staff_reply(code, "#resolvido\n\nResolvido, acesse http://atacante.example.net"),
        ),
        delivered([f"{OURS}; spf=none; dkim=none; dmarc=none"], sender_wrote=[FORGED_PASS],
                  raw=reply(code, "urgente\n\nÉ urgente.", sender=REQUESTER)),
    ]  # fmt: skip
    desk.imap.append_many("INBOX", forgeries)

    poll = desk.poll()

    assert poll.returncode == 0, poll.stderr
    with desk.session() as session:
        row = session.scalars(select(m.Ticket)).one()
        after, kinds = (row.state, row.priority), [e.kind for e in row.events]
    assert after == ("aberto", priority)
    assert kinds.count("auth_blocked") == 3
    assert "answered" not in kinds and "cancelled" not in kinds
    assert set(desk.outcomes().values()) == {"created", "quarantined"}
    to_maria = [sent for sent in desk.sent_mail() if MARIA in str(sent["To"])]
    assert all("atacante" not in sent.as_string() for sent in to_maria)  # no relayed link
    assert any(STAFF_EMAIL in str(sent["To"]) for sent in desk.sent_mail())  # told: nothing changed
