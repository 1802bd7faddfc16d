"""The decision stage as a pure function: no database, no server."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailproc.decision.commands import Command, CommandKind
from mailproc.decision.decide import STAGES, Facts, Policy, Thread, decide
from mailproc.decision.proofs import Proof
from mailproc.decision.ratings import Rating
from mailproc.decision.staff import StaffAnswer
from mailproc.decision.ticket_state import TicketState
from mailproc.decision.values import Outcome, Unproven
from mailproc.mail.message import Address, Attachment, InboundMessage
from mailproc.resources import shipped_dir
from mailproc.rules.rulebook import Priority, Rulebook, load_rulebook
from tests.mails import error_body, screenshot_png

SUPPORT = "suporte@compras.example.gov.br"
REDECOMPRAS = "redecompras@planejamento.rj.gov.br"
POLICY = Policy(own_addresses={SUPPORT}, trusted_forwarders={REDECOMPRAS}, default_theme=None)
# A mail whose From was shown authentic (mailproc.decision.proofs): its sender may act.
AUTHENTIC = Proof(authentic_from="dkim pass d=saude.rj.gov.br")
SCREENSHOT = Attachment("print.png", "image/png", "image/png", screenshot_png())
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

    assert decision.outcome is Outcome.QUARANTINED
    assert decision.reason == "no usable sender address: From names no one, or several"


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

    request = decide(Facts(forward, None, rulebook, POLICY, proof=AUTHENTIC)).request

    assert request is not None
    assert request.requester.email == "carlos.pereira@der.rj.gov.br"
    assert request.forwarder == REDECOMPRAS
    assert "Segue para registro" not in request.text


def test_forward_from_anyone_else_is_their_own_message(rulebook: Rulebook) -> None:
    forward = message("ENC: Dúvida sobre empenho", FORWARD, sender=MARIA)

    request = decide(Facts(forward, None, rulebook, POLICY, proof=AUTHENTIC)).request

    assert request is not None
    assert (request.requester, request.forwarder) == (MARIA, None)


CHIEFS_FORWARD = """Prezados, encaminho o relato da servidora para providências.

Atenciosamente,

Carlos Eduardo Mattos
Superintendente

________________________________
De: Lúcia Ferraz <lucia.ferraz@seplag.rj.gov.br>
Enviado: segunda-feira, 7 de dezembro de 2026 09:12
Para: Carlos Eduardo Mattos <carlos.mattos@seplag.rj.gov.br>
Assunto: Erro ao publicar aviso

UASG: 160555
Módulo: Divulgação de Compras
Data e hora do erro: 07/12/2026 às 09:00
Mensagem de erro: Erro interno no servidor (código 500)
Passo a passo: Entrei em Divulgação de Compras, selecionei o pregão e cliquei em Publicar.

Att.,
Lúcia
"""


def test_a_report_forwarded_on_the_senders_own_behalf_is_read_from_the_forward(
    rulebook: Rulebook,
) -> None:
    forward = message(
        "ENC: Erro ao publicar aviso", CHIEFS_FORWARD, sender=MARIA, attachments=(SCREENSHOT,)
    )

    decision = decide(Facts(forward, None, rulebook, POLICY, proof=AUTHENTIC))

    assert (decision.outcome, decision.theme_id) == (Outcome.CREATED, "erro-siasg")
    assert decision.request is not None and decision.request.requester == MARIA
    assert decision.answers["uasg"] == "160555"


# -- conversations ----------------------------------------------------------------------------

CODE = "2026-000007"
ANA = Address("ana.souza@suporte.example.gov.br", "Ana Souza")


def open_thread(
    state: str = "aberto", *, requester: bool = True, staff: bool = False, entitled: bool = True
) -> Thread:
    return Thread(CODE, state, "erro-siasg", entitled, {}, (), requester=requester, staff=staff)


def in_thread(text: str, *, sender: Address = MARIA, subject: str = "") -> InboundMessage:
    return message(subject or f"RE: [#{CODE}] Chamado registrado: Erro", text, sender=sender)


def test_the_order_of_the_stages_is_one_visible_tuple() -> None:
    assert [stage.__name__ for stage in STAGES] == [
        "unparseable",
        "from_a_machine",
        "without_sender",
        "too_large",
        "unverified_sender",
        "requester_command",
        "staff_answer",
        "rating",
        "reply_to_ticket",
        "stranger_quoting_a_code",
    ]


def test_a_staff_reply_is_an_answer_with_its_directives_read_off(rulebook: Rulebook) -> None:
    staff = open_thread(requester=False, staff=True)
    reply = in_thread("#resolvido\n#prioridade baixa\n\nLiberado.\n\n> citação", sender=ANA)

    decision = decide(Facts(reply, staff, rulebook, POLICY, proof=AUTHENTIC))

    assert (decision.outcome, decision.ticket_code) == (Outcome.UPDATED, CODE)
    assert decision.staff == StaffAnswer("Liberado.", TicketState.RESOLVED, Priority.BAIXA)
    assert decision.request is not None and decision.request.text == "Liberado."


def test_a_staff_typo_in_a_directive_is_held_not_answered_with_command_help(
    rulebook: Rulebook,
) -> None:
    staff = open_thread(requester=False, staff=True)

    typo = in_thread("#resolvdo\nLiberado.", sender=ANA)
    decision = decide(Facts(typo, staff, rulebook, POLICY, proof=AUTHENTIC))

    assert decision.staff is not None and decision.staff.unknown == ("#resolvdo",)


def test_status_in_the_thread_is_a_command_on_the_thread_ticket(rulebook: Rulebook) -> None:
    decision = decide(Facts(in_thread("status"), open_thread(), rulebook, POLICY))

    assert (decision.outcome, decision.ticket_code) == (Outcome.COMMAND, CODE)
    assert decision.command == Command(CommandKind.STATUS, CODE)


def test_a_command_on_a_ticket_the_sender_has_no_part_in_is_help_without_the_ticket(
    rulebook: Rulebook,
) -> None:
    other = open_thread(requester=False, entitled=False)
    status = message(f"status {CODE}", "", sender=Address("curioso@example.com"))

    decision = decide(Facts(status, other, rulebook, POLICY))

    assert (decision.outcome, decision.ticket_code) == (Outcome.COMMAND, None)
    assert decision.command is not None and decision.command.kind is CommandKind.HELP
    assert f"Não encontramos o chamado {CODE}" in decision.command.problem


def test_a_command_naming_another_code_than_the_thread_is_not_taken_for_the_thread(
    rulebook: Rulebook,
) -> None:
    decision = decide(Facts(in_thread("status 2026-000999"), open_thread(), rulebook, POLICY))

    assert decision.command is not None and decision.command.kind is CommandKind.HELP


@pytest.mark.parametrize(
    ("thread_", "text", "problem"),
    [
        (open_thread(requester=False), "cancelar", "Somente quem abriu"),
        (open_thread("resolvido"), "cancelar", "não pode mais ser cancelado"),
        (open_thread(), "urgente", "Informe o motivo"),
        (open_thread("aguardando_informacoes"), "urgente: amanhã", "ainda aguarda informações"),
        (open_thread("cancelado"), "urgente: amanhã", "não é possível pedir urgência"),
    ],
)
def test_commands_that_cannot_be_carried_out_say_why(
    rulebook: Rulebook, thread_: Thread, text: str, problem: str
) -> None:
    decision = decide(Facts(in_thread(text), thread_, rulebook, POLICY))

    assert decision.command is not None and decision.command.kind is CommandKind.HELP
    assert problem in decision.command.problem


def test_urgente_with_a_reason_is_bound_to_the_ticket(rulebook: Rulebook) -> None:
    urgent = in_thread("Urgente: pregão amanhã")
    decision = decide(Facts(urgent, open_thread(), rulebook, POLICY, proof=AUTHENTIC))

    assert decision.command == Command(CommandKind.URGENT, CODE, "pregão amanhã")


def test_a_rating_counts_from_the_requester_of_a_resolved_ticket_only(rulebook: Rulebook) -> None:
    resolved = decide(
        Facts(in_thread("Nota: 4"), open_thread("resolvido"), rulebook, POLICY, proof=AUTHENTIC)
    )
    still_open = decide(Facts(in_thread("Nota: 4"), open_thread(), rulebook, POLICY))
    by_participant = decide(
        Facts(in_thread("Nota: 4"), open_thread("resolvido", requester=False), rulebook, POLICY)
    )

    assert resolved.rating == Rating(4)
    assert still_open.rating is None and still_open.outcome is Outcome.UPDATED
    assert by_participant.rating is None


def test_a_stranger_gets_a_notice_when_the_desk_says_so(rulebook: Rulebook) -> None:
    notice = Policy({SUPPORT}, {REDECOMPRAS}, default_theme=None, stranger_reply="notice")
    stranger = in_thread("Também tenho esse erro.", sender=Address("intruso@example.com"))
    outsider = open_thread(requester=False, entitled=False)

    decision = decide(Facts(stranger, outsider, rulebook, notice))
    default = decide(Facts(stranger, outsider, rulebook, POLICY))

    assert (decision.outcome, decision.quoted_code) == (Outcome.REJECTED, CODE)
    assert default.outcome is not Outcome.REJECTED and default.quoted_code == CODE


# -- proofs: what a forged From cannot do ------------------------------------------------------

STAFF_THREAD = open_thread(requester=False, staff=True)
PROOF_NEEDED = {
    "a staff answer": (in_thread("#resolvido\nResolvido.", sender=ANA), STAFF_THREAD, "staff"),
    "a staff relay": (in_thread("Segue o link: http://x.example", sender=ANA), STAFF_THREAD,
                      "staff"),
    "a cancellation": (in_thread("cancelar"), open_thread(), "requester"),
    "an urgency": (in_thread("Urgente: pregão amanhã"), open_thread(), "requester"),
    "a rating": (in_thread("Nota: 1"), open_thread("resolvido"), "requester"),
}  # fmt: skip


@pytest.mark.parametrize("case", PROOF_NEEDED)
def test_an_action_without_proof_changes_nothing_and_says_why(
    rulebook: Rulebook, case: str
) -> None:
    mail, thread, role = PROOF_NEEDED[case]

    decision = decide(Facts(mail, thread, rulebook, POLICY))

    assert decision.outcome is Outcome.QUARANTINED
    assert decision.ticket_code == CODE
    assert decision.unproven is not None and decision.unproven.role == role
    assert (decision.staff, decision.rating, decision.command) == (None, None, None)


@pytest.mark.parametrize("case", PROOF_NEEDED)
def test_an_action_to_the_tickets_signed_address_of_its_role_is_carried_out(
    rulebook: Rulebook, case: str
) -> None:
    mail, thread, role = PROOF_NEEDED[case]
    other_role = "requester" if role == "staff" else "staff"

    right = decide(Facts(mail, thread, rulebook, POLICY, proof=Proof(frozenset({(CODE, role)}))))
    wrong_role = Proof(frozenset({(CODE, other_role)}))
    wrong_ticket = Proof(frozenset({("2026-000008", role)}))

    assert right.outcome in (Outcome.UPDATED, Outcome.COMMAND)
    for proof in (wrong_role, wrong_ticket):
        assert decide(Facts(mail, thread, rulebook, POLICY, proof=proof)).unproven == Unproven(
            right_action(mail, thread, rulebook), role
        )


def right_action(mail: InboundMessage, thread: Thread, rulebook: Rulebook) -> str:
    unproven = decide(Facts(mail, thread, rulebook, POLICY)).unproven
    assert unproven is not None
    return unproven.action


def test_adding_to_ones_own_ticket_needs_no_proof(rulebook: Rulebook) -> None:
    waiting = open_thread("aguardando_informacoes")

    decision = decide(Facts(in_thread("Segue a UASG: 925001."), waiting, rulebook, POLICY))

    assert (decision.outcome, decision.ticket_code, decision.unproven) == (
        Outcome.UPDATED,
        CODE,
        None,
    )


def test_status_and_my_tickets_need_no_proof_their_answer_goes_to_the_from_address(
    rulebook: Rulebook,
) -> None:
    status = decide(Facts(in_thread("status"), open_thread(), rulebook, POLICY))

    assert status.outcome is Outcome.COMMAND and status.unproven is None


COPYING = message(
    "Erro ao publicar aviso no SIASG",
    "UASG: 925001",
    cc=tuple(Address(f"pessoa{n}@saude.rj.gov.br") for n in range(50)),
    to=(Address(SUPPORT), Address("suporte+2026-000001.rabcdefghij@compras.example.gov.br")),
)


def test_people_copied_join_only_from_an_authentic_mail_and_at_most_ten(
    rulebook: Rulebook,
) -> None:
    policy = Policy({SUPPORT}, set(), default_theme="erro-siasg")

    unproven = decide(Facts(COPYING, None, rulebook, policy))
    proven = decide(Facts(COPYING, None, rulebook, policy, proof=AUTHENTIC))

    assert unproven.copied == ()
    assert proven.copied == tuple(f"pessoa{n}@saude.rj.gov.br" for n in range(10))


def test_a_reply_adds_the_people_it_copies_only_when_it_came_to_the_signed_address(
    rulebook: Rulebook,
) -> None:
    reply = replace(COPYING, subject=f"RE: [#{CODE}] Chamado registrado: Erro")
    signed = Proof(frozenset({(CODE, "requester")}))

    assert decide(Facts(reply, open_thread(), rulebook, POLICY)).copied == ()
    assert len(decide(Facts(reply, open_thread(), rulebook, POLICY, proof=signed)).copied) == 10


def test_a_forward_from_a_forwarders_address_without_an_authentic_from_is_its_own(
    rulebook: Rulebook,
) -> None:
    forward = message("ENC: Dúvida sobre empenho", FORWARD, sender=Address(REDECOMPRAS))

    request = decide(Facts(forward, None, rulebook, POLICY)).request

    assert request is not None
    assert (request.requester.email, request.forwarder) == (REDECOMPRAS, None)


def test_quoting_a_code_that_names_no_ticket_gets_the_same_notice_as_someone_elses(
    rulebook: Rulebook,
) -> None:
    notice = Policy({SUPPORT}, {REDECOMPRAS}, default_theme=None, stranger_reply="notice")
    stranger = in_thread("Também tenho esse erro.", sender=Address("intruso@example.com"))
    outsider = open_thread(requester=False, entitled=False)

    existing = decide(Facts(stranger, outsider, rulebook, notice))
    missing = decide(Facts(stranger, None, rulebook, notice))

    assert (existing.outcome, existing.quoted_code) == (Outcome.REJECTED, CODE)
    assert (missing.outcome, missing.quoted_code) == (Outcome.REJECTED, CODE)
