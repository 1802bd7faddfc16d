"""Sender authentication: the Authentication-Results parser on real-world headers, the
block / flag / ignore policy as a pure decision, and the outcome through ``mailproc ingest``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from mailproc.config import load_config
from mailproc.decision.decide import Facts, Policy, Thread, decide
from mailproc.decision.values import AuthFailure, Outcome
from mailproc.errors import ConfigError
from mailproc.mail.authresults import AuthResults, OnFailure, Verdict, parse, verdict
from mailproc.mail.message import Address, InboundMessage
from mailproc.resources import shipped_dir
from mailproc.rules.rulebook import Rulebook, load_rulebook
from mailproc.service.app import App
from tests.conftest import write_config
from tests.mails import SUPPORT, error_report
from tests.threads import MARIA, STAFF_EMAIL, queued, reply, staff_reply, ticket

Ingest = Callable[[bytes], dict]
OURS = "mx.compras.example.gov.br"

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
OPENDMARC = f"{OURS}; dmarc=fail (p=quarantine dis=quarantine) header.from=saude.rj.gov.br"
OPENDKIM = (
    f'{OURS};\n\tdkim=fail reason="signature verification failed" (2048-bit key; '
    "unprotected) header.d=saude.rj.gov.br header.i=@saude.rj.gov.br header.a=rsa-sha256 "
    'header.s=default header.b="AbCd1234"'
)
FAILED = (
    f"{OURS}; spf=softfail (domain of transitioning suporte.example.gov.br does not designate "
    "203.0.113.9 as permitted sender) smtp.mailfrom=suporte.example.gov.br; dkim=none; "
    "dmarc=fail (p=none dis=none) header.from=suporte.example.gov.br"
)
PASSED = (
    f"{OURS}; spf=pass smtp.mailfrom=suporte.example.gov.br; dkim=pass "
    "header.d=suporte.example.gov.br; dmarc=pass header.from=suporte.example.gov.br"
)
# What a forger writes into the mail they send, naming our server.
FORGED_PASS = f"{OURS}; spf=pass; dkim=pass; dmarc=pass"


# -- the parser --------------------------------------------------------------------------


def test_gmail_results_are_read_in_order_with_their_comments_dropped() -> None:
    assert parse(GMAIL) == AuthResults(
        "mx.google.com", (("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass"))
    )


def test_microsoft_365_writes_no_authserv_id_so_its_header_is_never_ours() -> None:
    assert parse(MICROSOFT_365) == AuthResults(
        "", (("spf", "pass"), ("dkim", "none"), ("dmarc", "fail"), ("compauth", "fail"))
    )
    assert verdict([MICROSOFT_365], "") is None
    assert verdict([MICROSOFT_365], OURS) is None


def test_only_the_topmost_header_of_our_server_counts() -> None:
    """OpenDMARC's header is above OpenDKIM's: its DMARC verdict is the one that matters."""
    assert verdict([OPENDMARC, OPENDKIM], OURS) == Verdict(dmarc="fail")


def test_a_forged_header_with_our_name_below_ours_changes_nothing() -> None:
    found = verdict([FAILED, FORGED_PASS], OURS)

    assert found == Verdict(dmarc="fail", dkim="none", spf="softfail")
    assert found.failed


def test_headers_of_other_servers_are_ignored() -> None:
    foreign = "mx.saude.rj.gov.br; dmarc=fail header.from=saude.rj.gov.br"

    assert verdict([GMAIL, foreign], OURS) is None
    assert verdict([foreign, PASSED], OURS) == Verdict("pass", "pass", "pass")


def test_the_authserv_id_compares_without_case_quotes_or_version() -> None:
    assert verdict(['"MX.Compras.Example.GOV.br" 1; DMARC=Fail'], OURS) == Verdict(dmarc="fail")


def test_none_means_no_method_was_checked() -> None:
    found = verdict([f"{OURS}; none"], OURS)

    assert found == Verdict()
    assert not found.failed


def test_semicolons_inside_comments_and_quoted_strings_separate_nothing() -> None:
    value = f'{OURS}; spf=pass (a; dmarc=fail (nested; \\) dkim=fail)) reason="x; dkim=fail"'

    assert parse(value) == AuthResults(OURS, (("spf", "pass"),))


def test_any_passing_signature_makes_dkim_pass() -> None:
    value = f"{OURS}; dkim=fail header.d=lista.example.org; dkim/1=pass header.d=saude.rj.gov.br"

    assert verdict([value], OURS) == Verdict(dkim="pass")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        (";;;", None),
        ("garbage ;;; ==", None),
        (f"{OURS}; =fail; dmarc; spf=", Verdict()),
        (f"{OURS}; dmarc=fail (an unclosed comment", Verdict(dmarc="fail")),
        (f'{OURS}; reason="an unclosed quote; dmarc=fail', Verdict()),
        (
            f"{OURS}; dmarc=fail header.from=exa\u00e7\u00e3o.gov.br \x00\ufffd",
            Verdict(dmarc="fail"),
        ),
    ],
)
def test_garbage_never_raises_and_what_is_readable_is_kept(
    value: str, expected: Verdict | None
) -> None:
    assert verdict([value], OURS) == expected


@pytest.mark.parametrize(
    ("dmarc", "dkim", "spf", "failed"),
    [
        ("fail", "pass", "pass", True),  # DMARC checks the visible From: it decides
        ("pass", "none", "fail", False),  # aligned DKIM survived a forwarding hop
        (None, "none", "softfail", True),  # an unsigned forgery from an unlisted server
        ("none", None, "fail", True),  # the domain publishes no DMARC policy
        ("temperror", "none", "softfail", True),
        (None, "pass", "fail", False),  # a valid signature vouches for it
        (None, "fail", "neutral", False),  # a broken signature alone: a list or a gateway
        (None, "fail", None, False),
        (None, None, None, False),  # nothing checked
    ],
)
def test_what_counts_as_failed(
    dmarc: str | None, dkim: str | None, spf: str | None, failed: bool
) -> None:
    assert Verdict(dmarc, dkim, spf).failed is failed


def test_the_verdict_reads_short_and_names_nobody() -> None:
    assert str(verdict([FAILED], OURS)) == "dmarc=fail dkim=none spf=softfail"
    assert str(Verdict(dkim="pass")) == "dmarc=absent dkim=pass spf=absent"


# -- the decision ------------------------------------------------------------------------

ANA = Address(STAFF_EMAIL, "Ana Souza")
CODE = "2026-000007"


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
    return InboundMessage(
        sender=sender,
        subject=subject or f"RE: [#{CODE}] Novo chamado: Erro ao publicar aviso no SIASG",
        text=text,
        headers={"authentication-results": results} if results else {},
    )


def test_block_quarantines_a_forged_staff_answer_and_tells_the_address_it_claims(
    rulebook: Rulebook,
) -> None:
    facts = Facts(inbound("#resolvido\n\nLiberado.", FAILED), staff_thread(), rulebook, policy())

    decision = decide(facts)

    assert decision.outcome is Outcome.QUARANTINED
    assert decision.staff is None  # no directive is carried out
    assert decision.ticket_code == CODE  # for the ticket's history
    assert decision.authentication == AuthFailure("dmarc=fail dkim=none spf=softfail", True)
    assert decision.request is not None and decision.request.requester == ANA
    assert f"não foi incluída no chamado {CODE}" in decision.notice
    assert "dmarc=fail" in decision.notice


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


def test_flag_lets_a_failed_staff_answer_through_flagged(rulebook: Rulebook) -> None:
    facts = Facts(inbound("#resolvido", FAILED), staff_thread(), rulebook, policy("flag"))

    decision = decide(facts)

    assert (decision.outcome, decision.ticket_code) == (Outcome.UPDATED, CODE)
    assert decision.staff is not None and decision.staff.state == "resolvido"
    assert decision.authentication == AuthFailure("dmarc=fail dkim=none spf=softfail", False)


@pytest.mark.parametrize(
    ("settings", "results"),
    [
        (policy("ignore"), (FAILED,)),
        (policy("block", authserv_id=""), (FAILED,)),  # not configured: not checked
        (policy("block"), (PASSED, FAILED)),  # ours passed; the failure below is not ours
        (policy("block"), ()),  # our server wrote nothing: not checked
    ],
)
def test_no_failure_to_act_on_leaves_the_staff_answer_alone(
    rulebook: Rulebook, settings: Policy, results: tuple[str, ...]
) -> None:
    facts = Facts(inbound("#resolvido", *results), staff_thread(), rulebook, settings)

    decision = decide(facts)

    assert decision.outcome is Outcome.UPDATED
    assert decision.authentication is None


def test_on_failure_must_be_one_of_the_three(tmp_path: Path) -> None:
    extra = '[authentication]\nauthserv_id = "mx.x"\non_failure = "reject"\n'

    with pytest.raises(ConfigError, match=r"authentication\.on_failure: must be one of"):
        load_config(write_config(tmp_path, "sqlite:///x.db", extra))


# -- through ingest (SQLite and PostgreSQL) -----------------------------------------------


@pytest.fixture
def on_failure() -> OnFailure:
    return "block"


@pytest.fixture
def config_path(tmp_path: Path, database_url: str, on_failure: OnFailure) -> Path:
    """The shared desk, behind a receiving server named OURS."""
    extra = f'[authentication]\nauthserv_id = "{OURS}"\non_failure = "{on_failure}"\n'
    return write_config(tmp_path, database_url, extra)


def received(raw: bytes, *results: str) -> bytes:
    """``raw`` as our server delivers it: its Authentication-Results header prepended, above
    whatever the message came with (``results`` top first)."""
    fields = b"".join(f"Authentication-Results: {r}\n".encode() for r in results)
    return fields + raw


def test_a_blocked_staff_resolvido_resolves_nothing_and_is_logged_on_the_ticket(
    ingest: Ingest, app: App
) -> None:
    code = ingest(received(error_report(), PASSED))["ticket"]
    forged = staff_reply(code, "#resolvido\n\nLiberado.", headers={
        "Authentication-Results": FORGED_PASS})  # fmt: skip

    result = ingest(received(forged, FAILED))

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
    code = app.pipeline.process(received(error_report(), PASSED), "test").ticket
    assert code is not None

    with caplog.at_level(logging.WARNING, logger="mailproc.tickets.pipeline"):
        app.pipeline.process(received(staff_reply(code, "#resolvido"), FAILED), "test")

    [line] = [r.getMessage() for r in caplog.records if "authentication" in r.getMessage()]
    assert "auth_blocked" in line and code in line and "dmarc=fail dkim=none" in line
    assert "@" not in line and "example.gov.br" not in line


def test_a_blocked_requester_cancelar_leaves_the_ticket_in_service(
    ingest: Ingest, app: App
) -> None:
    code = ingest(received(error_report(), PASSED))["ticket"]

    result = ingest(received(reply(code, "cancelar"), FAILED))

    assert result["outcome"] == "quarantined"
    assert ticket(app, code).state == "aberto"
    assert "auth_blocked" in ticket(app, code).kinds()
    assert queued(app, "cancelled") == []


def test_a_new_ticket_from_a_failed_sender_opens_flagged(ingest: Ingest, app: App) -> None:
    result = ingest(received(error_report(), FAILED))

    assert result["outcome"] == "created"
    view = ticket(app, result["ticket"])
    assert ("auth_flagged", {"verdict": "dmarc=fail dkim=none spf=softfail"}) in view.events
    assert "auth_blocked" not in view.kinds()


@pytest.mark.parametrize("on_failure", ["flag"])
def test_a_flagged_staff_resolvido_resolves_and_the_flag_stays_on_the_ticket(
    ingest: Ingest, app: App
) -> None:
    code = ingest(received(error_report(), PASSED))["ticket"]

    result = ingest(received(staff_reply(code, "#resolvido\n\nLiberado."), FAILED))

    assert (result["outcome"], result["ticket"]) == ("updated", code)
    view = ticket(app, code)
    assert view.state == "resolvido"
    kinds = view.kinds()
    assert kinds.index("answered") < kinds.index("auth_flagged")
    [relay] = queued(app, "staff_answer")
    assert relay.recipients == [MARIA]
