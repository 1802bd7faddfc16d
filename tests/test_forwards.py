"""Forwarded questions: Gmail, Outlook and Thunderbird inline forwards, attached forwards."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mailproc.mail.forwards import ForwardedOriginal, extract_forward, parse_sender
from mailproc.mail.message import Address, Attachment, InboundMessage

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
FORWARDER = Address("redecompras@planejamento.rj.gov.br", "Carlos Alberto")
COMMENT = "Bom dia,\n\nSegue dúvida recebida. Favor abrir chamado.\n\nCarlos\nRedecompras"
QUESTION = "Prezados,\n\nO SIASG mostra erro ao emitir o empenho da UASG 925001.\n\nJoão Pereira"
JOAO = Address("joao.pereira@saude.rj.gov.br", "João Pereira")
FULANO = "Fulano de Tal"
PRINT = Attachment("erro.png", "image/png", "image/png", b"\x89PNG\r\n\x1a\n...")


def _mail(
    text: str,
    subject: str = "Fwd: Erro ao emitir empenho",
    attachments: tuple[Attachment, ...] = (),
    forwarded: tuple[InboundMessage, ...] = (),
) -> InboundMessage:
    return InboundMessage(
        sender=FORWARDER,
        subject=subject,
        text=text,
        attachments=attachments,
        forwarded=forwarded,
    )


def _fixture(name: str) -> InboundMessage:
    parse = pytest.importorskip(
        "mailproc.mail.parse", reason="mailproc.mail.parse is not written yet"
    )
    message: InboundMessage = parse.parse_message((FIXTURES / name).read_bytes())
    return message


GMAIL_PT = (
    "---------- Mensagem encaminhada ---------\n"
    "De: João Pereira <joao.pereira@saude.rj.gov.br>\n"
    "Date: ter., 10 de nov. de 2026 às 09:12\n"
    "Subject: Erro ao emitir empenho no SIASG\n"
    "To: <redecompras@planejamento.rj.gov.br>\n\n\n"
)
GMAIL_EN = (
    "---------- Forwarded message ---------\n"
    "From: João Pereira <joao.pereira@saude.rj.gov.br>\n"
    "Date: Tue, Nov 10, 2026 at 9:12 AM\n"
    "Subject: Erro ao emitir empenho no SIASG\n"
    "To: <redecompras@planejamento.rj.gov.br>\n\n\n"
)
THUNDERBIRD_PT = (
    "-------- Mensagem encaminhada --------\n"
    "Assunto: \tErro ao emitir empenho no SIASG\n"
    "Data: \tTue, 10 Nov 2026 09:12:00 -0300\n"
    "De: \tJoão Pereira <joao.pereira@saude.rj.gov.br>\n"
    "Para: \tredecompras@planejamento.rj.gov.br\n\n\n"
)
THUNDERBIRD_EN = (
    "-------- Forwarded Message --------\n"
    "Subject: \tErro ao emitir empenho no SIASG\n"
    "Date: \tTue, 10 Nov 2026 09:12:00 -0300\n"
    "From: \tJoão Pereira <joao.pereira@saude.rj.gov.br>\n"
    "To: \tredecompras@planejamento.rj.gov.br\n\n"
)
OUTLOOK_PT = (
    "________________________________\n"
    "De: João Pereira <joao.pereira@saude.rj.gov.br>\n"
    "Enviado: terça-feira, 10 de novembro de 2026 09:12\n"
    "Para: Redecompras <redecompras@planejamento.rj.gov.br>\n"
    "Assunto: Erro ao emitir empenho no SIASG\n\n"
)
OUTLOOK_PT_OLD = (
    "-----Mensagem original-----\n"
    'De: "João Pereira" [mailto:joao.pereira@saude.rj.gov.br]\n'
    "Enviada em: terça-feira, 10 de novembro de 2026 09:12\n"
    "Para: Redecompras\n"
    "Cc: Setor de Compras <compras@saude.rj.gov.br>; Maria <maria@saude.rj.gov.br>\n"
    "Assunto: Erro ao emitir empenho no SIASG\n\n"
)
OUTLOOK_EN = (
    "-----Original Message-----\n"
    "From: João Pereira <joao.pereira@saude.rj.gov.br>\n"
    "Sent: Tuesday, November 10, 2026 9:12 AM\n"
    "To: Redecompras <redecompras@planejamento.rj.gov.br>\n"
    "Subject: Erro ao emitir empenho no SIASG\n\n"
)


@pytest.mark.parametrize(
    ("block", "subject", "date_text"),
    [
        (GMAIL_PT, "Fwd: Erro", "ter., 10 de nov. de 2026 às 09:12"),
        (GMAIL_EN, "Fwd: Erro", "Tue, Nov 10, 2026 at 9:12 AM"),
        (THUNDERBIRD_PT, "Fwd: Erro", "Tue, 10 Nov 2026 09:12:00 -0300"),
        (THUNDERBIRD_EN, "Fwd: Erro", "Tue, 10 Nov 2026 09:12:00 -0300"),
        (OUTLOOK_PT, "ENC: Erro", "terça-feira, 10 de novembro de 2026 09:12"),
        (OUTLOOK_PT_OLD, "ENC: Erro", "terça-feira, 10 de novembro de 2026 09:12"),
        (OUTLOOK_EN, "FW: Erro", "Tuesday, November 10, 2026 9:12 AM"),
    ],
    ids=[
        "gmail-pt",
        "gmail-en",
        "thunderbird-pt",
        "thunderbird-en",
        "outlook-pt",
        "outlook-pt-old",
        "outlook-en",
    ],
)
def test_finds_the_original_of_an_inline_forward(block: str, subject: str, date_text: str) -> None:
    msg = _mail(f"{COMMENT}\n\n{block}{QUESTION}\n", subject=subject, attachments=(PRINT,))
    assert extract_forward(msg) == ForwardedOriginal(
        sender=JOAO,
        subject="Erro ao emitir empenho no SIASG",
        text=QUESTION,
        date_text=date_text,
        attachments=(PRINT,),
        inline=True,
    )


def test_an_outlook_forward_without_a_comment_is_found_too() -> None:
    original = extract_forward(_mail(OUTLOOK_PT + QUESTION, subject="ENC: Erro"))
    assert original is not None
    assert (original.sender, original.text) == (JOAO, QUESTION)


def test_an_outlook_forward_whose_subject_was_edited_is_found_by_its_block() -> None:
    msg = _mail(f"Vejam abaixo.\n\n{OUTLOOK_EN}{QUESTION}", subject="Pedido do João")
    original = extract_forward(msg)
    assert original is not None
    assert (original.sender, original.subject) == (JOAO, "Erro ao emitir empenho no SIASG")


def test_an_outlook_sender_without_an_address_gives_no_sender() -> None:
    block = OUTLOOK_PT.replace("João Pereira <joao.pereira@saude.rj.gov.br>", "João Pereira")
    original = extract_forward(_mail(f"{COMMENT}\n\n{block}{QUESTION}", subject="ENC: Erro"))
    assert original is not None
    assert original.sender is None
    assert original.text == QUESTION


def test_a_marker_without_headers_still_gives_the_text() -> None:
    text = f"{COMMENT}\n\n---------- Forwarded message ---------\n\n{QUESTION}"
    original = extract_forward(_mail(text, subject="Fwd: Erro no SIASG"))
    assert original is not None
    assert (original.sender, original.subject, original.text) == (None, "Erro no SIASG", QUESTION)


def _attached_original() -> InboundMessage:
    report = Attachment("proposta.pdf", "application/pdf", "application/pdf", b"%PDF-1.4")
    return InboundMessage(
        sender=JOAO,
        subject="Sugestão para o SIASG",
        text="\nSugiro anexar a pesquisa de preços na fase interna.\n",
        headers={"date": ("Mon, 9 Nov 2026 08:15:00 -0300",)},
        attachments=(report,),
    )


@pytest.mark.parametrize("subject", ["ENC: Sugestão para o SIASG", "Sugestão recebida"])
def test_finds_the_original_attached_under_a_short_comment(subject: str) -> None:
    inner = _attached_original()
    msg = _mail("Segue sugestão recebida.\n\nCarlos", subject=subject, forwarded=(inner,))
    assert extract_forward(msg) == ForwardedOriginal(
        sender=JOAO,
        subject="Sugestão para o SIASG",
        text="Sugiro anexar a pesquisa de preços na fase interna.",
        date_text="Mon, 9 Nov 2026 08:15:00 -0300",
        attachments=inner.attachments,
        inline=False,
    )


def test_a_delivery_report_returning_a_message_is_not_a_forward() -> None:
    returned = replace(_attached_original(), sender=Address("suporte@compras.example.gov.br"))
    msg = replace(
        _mail("This is the mail system at host mx1.", subject="Undelivered Mail"),
        content_type="multipart/report",
        forwarded=(returned,),
    )
    assert extract_forward(msg) is None


def test_a_long_message_carrying_an_eml_as_evidence_is_not_a_forward() -> None:
    text = "Bom dia,\n\n" + "O SIASG não envia a notificação do empenho ao fornecedor. " * 12
    msg = _mail(text, subject="Notificação não chega", forwarded=(_attached_original(),))
    assert extract_forward(msg) is None


def test_an_inline_forward_wins_over_an_eml_the_original_carried() -> None:
    msg = _mail(f"{COMMENT}\n\n{GMAIL_PT}{QUESTION}", forwarded=(_attached_original(),))
    original = extract_forward(msg)
    assert original is not None
    assert (original.inline, original.sender) == (True, JOAO)


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        (QUESTION, "Erro ao emitir empenho"),
        # An Outlook reply: the same header block, but the subject says RES, not ENC.
        (f"Segue o print.\n\n{OUTLOOK_PT}Prezado, envie o print.", "RES: [#2026-000123] Erro"),
        # A reply to a forward: its quoted history holds a Gmail forward.
        (f"Obrigado!\n\n{GMAIL_PT}{QUESTION}", "RE: Fwd: Erro ao emitir empenho"),
        # A forward subject, but nothing forwarded in the body.
        ("Segue para conhecimento.", "ENC: Reunião"),
        # A memo in the body: headers without a time of day are no forwarded message.
        ("De: Superintendência\nPara: Central\nData: 10/11/2026\nAssunto: UASG", "ENC: UASG"),
    ],
)
def test_messages_that_are_not_forwards_give_none(text: str, subject: str) -> None:
    assert extract_forward(_mail(text, subject=subject)) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fulano de Tal <fulano@orgao.rj.gov.br>", Address("fulano@orgao.rj.gov.br", FULANO)),
        ("fulano@x.gov.br", Address("fulano@x.gov.br", "")),
        ('"Fulano" [mailto:fulano@x]', Address("fulano@x", "Fulano")),
        ("*Fulano de Tal* <Fulano@Orgao.RJ.gov.br>", Address("fulano@orgao.rj.gov.br", FULANO)),
        ('"fulano@x.gov.br" <fulano@x.gov.br>', Address("fulano@x.gov.br", "")),
        ("'fulano@x.gov.br'", Address("fulano@x.gov.br", "")),
        ("Fulano de Tal", None),
        ("", None),
    ],
)
def test_reads_the_sender_line(value: str, expected: Address | None) -> None:
    assert parse_sender(value) == expected


def test_a_gmail_forward_file_gives_the_question_and_its_screenshot() -> None:
    original = extract_forward(_fixture("gmail-encaminhada-com-print.eml"))
    assert original is not None
    assert original.sender == JOAO
    assert original.subject == "Erro ao emitir empenho no SIASG"
    assert original.text.startswith("Prezados,\n\nAo tentar emitir o empenho da UASG 925001")
    assert "Redecompras" not in original.text  # the forwarder's comment stays out
    assert [a.filename for a in original.attachments] == ["erro-empenho.png"]
    assert original.attachments[0].real_type == "image/png"


def test_an_outlook_forward_file_gives_the_requester() -> None:
    original = extract_forward(_fixture("outlook-encaminhada.eml"))
    assert original is not None
    assert original.sender == Address("ana.costa@educacao.rj.gov.br", "Ana Costa")
    assert original.subject == "Reativação da UASG 925123"
    assert original.text.startswith("Boa tarde,\n\nSolicito a reativação da UASG 925123")
    assert original.inline


def test_an_attached_forward_file_gives_the_attached_message() -> None:
    original = extract_forward(_fixture("encaminhada-como-anexo.eml"))
    assert original is not None
    assert original.sender == Address("paulo.mendes@fazenda.rj.gov.br", "Paulo Mendes")
    assert original.subject == "Sugestão para o SIASG"
    assert [a.filename for a in original.attachments] == ["proposta-melhoria.pdf"]
    assert not original.inline


@pytest.mark.parametrize("name", ["gmail-resposta.eml", "outlook-resposta.eml"])
def test_reply_files_are_not_forwards(name: str) -> None:
    assert extract_forward(_fixture(name)) is None


# -- a forward inside the forwarded text does not speak for the forwarder -----------------------

ATTACKER_TEXT = """Prezados, segue a minha solicitação.

---------- Mensagem encaminhada ---------
De: Maria Silva <maria.silva@saude.rj.gov.br>
Date: qua., 18 de nov. de 2026 às 10:12
Subject: Cancelamento
To: <redecompras@planejamento.rj.gov.br>

Cancelem todos os meus chamados e enviem as respostas para este endereço.
"""
OUTERMOST = {
    "outlook around a gmail block": (
        "Segue dúvida recebida.\n\n________________________________\n"
        "De: Intruso <intruso@example.com>\nEnviado: quarta-feira, 18 de novembro de 2026 11:00\n"
        "Para: Redecompras <redecompras@planejamento.rj.gov.br>\nAssunto: Dúvida\n\n"
        + ATTACKER_TEXT
    ),
    "gmail around an outlook block": (
        "Segue dúvida recebida.\n\n---------- Forwarded message ---------\n"
        "From: Intruso <intruso@example.com>\nDate: Wed, Nov 18, 2026 at 11:00 AM\n"
        "Subject: Dúvida\nTo: <redecompras@planejamento.rj.gov.br>\n\n"
        "Segue.\n\n-----Original Message-----\nFrom: Maria Silva <maria.silva@saude.rj.gov.br>\n"
        "Sent: Wednesday, November 18, 2026 10:12 AM\nTo: Redecompras\nSubject: Cancelamento\n\n"
        "Cancelem todos os meus chamados.\n"
    ),
}


@pytest.mark.parametrize("case", OUTERMOST)
def test_the_forwarders_own_outermost_block_names_the_original_sender(case: str) -> None:
    """A fake "Mensagem encaminhada / De: Maria" block written by whoever mailed the
    forwarder is part of their text, not the forwarder's forward."""
    found = extract_forward(_mail(OUTERMOST[case]))

    assert found is not None and found.sender is not None
    assert found.sender.email == "intruso@example.com"
    assert "maria.silva@saude.rj.gov.br" in found.text  # kept as what the intruder wrote
