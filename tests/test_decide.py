"""The decision stage as a pure function: no database, no server."""

from __future__ import annotations

import pytest

from mailproc.decide import Facts, Policy, Thread, decide
from mailproc.decision import Outcome
from mailproc.message import Address, Attachment, InboundMessage
from mailproc.resources import shipped_dir
from mailproc.rulebook import Rulebook, load_rulebook
from tests.mails import error_body, png

SUPPORT = "suporte@compras.example.gov.br"
REDECOMPRAS = "redecompras@planejamento.rj.gov.br"
POLICY = Policy(own_addresses={SUPPORT}, trusted_forwarders={REDECOMPRAS}, default_theme=None)
SCREENSHOT = Attachment("print.png", "image/png", "image/png", png())
MARIA = Address("maria.silva@saude.rj.gov.br", "Maria Silva")


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    return load_rulebook(shipped_dir("rules"))


def message(subject: str, text: str = "", **fields: object) -> InboundMessage:
    defaults: dict[str, object] = {"sender": MARIA, "subject": subject, "text": text}
    return InboundMessage(**{**defaults, **fields})  # type: ignore[arg-type]


def thread(state: str = "aguardando_informacoes", *, entitled: bool = True) -> Thread:
    return Thread("2026-000007", state, "erro-siasg", entitled, {}, ())


def test_machine_mail_without_sender_is_ignored_not_quarantined(rulebook: Rulebook) -> None:
    bounce = message(
        "Undelivered Mail Returned to Sender", sender=None, headers={"return-path": ("<>",)}
    )

    decision = decide(Facts(bounce, None, rulebook, POLICY))

    assert decision.outcome is Outcome.IGNORED


def test_human_mail_without_sender_is_quarantined_with_a_reason(rulebook: Rulebook) -> None:
    decision = decide(Facts(message("Erro no SIASG", sender=None), None, rulebook, POLICY))

    assert (decision.outcome, decision.reason) == (Outcome.QUARANTINED, "no usable sender address")


def test_question_about_registration_is_a_question_not_a_registration_change(
    rulebook: Rulebook,
) -> None:
    facts = Facts(
        message("Dúvida sobre o cadastro de fornecedores", "Como faço?"), None, rulebook, POLICY
    )

    assert decide(facts).theme_id == "duvidas-compras"


def test_default_theme_catches_unmatched_subjects(rulebook: Rulebook) -> None:
    policy = Policy({SUPPORT}, {REDECOMPRAS}, default_theme="duvidas-compras")

    decision = decide(Facts(message("Pedido", "Preciso de ajuda"), None, rulebook, policy))

    assert (decision.outcome, decision.theme_id) == (Outcome.CREATED, "duvidas-compras")


def test_complete_report_is_created_with_its_answers(rulebook: Rulebook) -> None:
    facts = Facts(
        message("Erro no SIASG", error_body(), attachments=(SCREENSHOT,)), None, rulebook, POLICY
    )

    decision = decide(facts)

    assert decision.outcome is Outcome.CREATED
    assert decision.answers["uasg"] == "925001"


def test_reply_completing_a_ticket_closed_untreated_reopens_it(rulebook: Rulebook) -> None:
    earlier = {
        "uasg": "925001",
        "modulo": "Divulgação",
        "data_hora": "19/11/2026 15:40",
        "mensagem_erro": "Erro 500",
        "passo_a_passo": "Abri o módulo, cliquei em Publicar e a tela ficou em branco.",
    }
    closed = Thread("2026-000007", "encerrado_sem_tratamento", "erro-siasg", True, earlier, ())
    reply = message("Re: [#2026-000007] Erro", "Segue o print.", attachments=(SCREENSHOT,))

    decision = decide(Facts(reply, closed, rulebook, POLICY))

    assert (decision.outcome, decision.completed) == (Outcome.UPDATED, True)


def test_reply_from_a_stranger_opens_its_own_request_and_keeps_the_quoted_code(
    rulebook: Rulebook,
) -> None:
    stranger = message(
        "Re: [#2026-000007] Erro no SIASG",
        "Também tenho esse erro.",
        sender=Address("intruso@example.com"),
    )

    decision = decide(Facts(stranger, thread(entitled=False), rulebook, POLICY))

    assert decision.outcome is not Outcome.UPDATED
    assert decision.quoted_code == "2026-000007"
    assert (
        decision.request is not None and decision.request.requester.email == "intruso@example.com"
    )


FORWARD = """Segue para registro.

---------- Mensagem encaminhada ---------
De: Carlos Pereira <carlos.pereira@der.rj.gov.br>
Data: qua., 18 de nov. de 2026 às 10:12
Assunto: Dúvida sobre empenho
Para: <redecompras@planejamento.rj.gov.br>

Como faço para emitir a nota de empenho?
"""


def test_forward_from_a_trusted_forwarder_belongs_to_the_original_sender(
    rulebook: Rulebook,
) -> None:
    forward = message("ENC: Dúvida sobre empenho", FORWARD, sender=Address(REDECOMPRAS))

    request = decide(Facts(forward, None, rulebook, POLICY)).request

    assert request is not None
    assert request.requester.email == "carlos.pereira@der.rj.gov.br"
    assert request.forwarder == REDECOMPRAS
    assert "Segue para registro" not in request.text


def test_forward_from_anyone_else_is_their_own_message(rulebook: Rulebook) -> None:
    forward = message("ENC: Dúvida sobre empenho", FORWARD, sender=MARIA)

    request = decide(Facts(forward, None, rulebook, POLICY)).request

    assert request is not None
    assert (request.requester, request.forwarder) == (MARIA, None)
