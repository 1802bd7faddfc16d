"""Quote stripping: the new text of replies from each mail client, and what must survive."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailproc.mail.message import InboundMessage
from mailproc.mail.quotes import header_block_at, new_text

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
NEW = "Bom dia,\n\nSegue o print do erro. O problema continua.\n\nJoão"
OUR_MAIL = "Prezado(a) João,\n\nRecebemos sua solicitação.\n\nCentral de Atendimento"


def _fixture(name: str) -> InboundMessage:
    parse = pytest.importorskip(
        "mailproc.mail.parse", reason="mailproc.mail.parse is not written yet"
    )
    message: InboundMessage = parse.parse_message((FIXTURES / name).read_bytes())
    return message


@pytest.mark.parametrize(
    "history",
    [
        # Gmail pt-BR, on one line and wrapped over two.
        "Em qua., 10 de nov. de 2026 às 14:30, Central <suporte@compras.example.gov.br> escreveu:",
        "Em qua., 10 de nov. de 2026 às 14:30, Central de Atendimento – Compras.gov.br RJ <\n"
        "suporte@compras.example.gov.br> escreveu:",
        # Thunderbird and Apple Mail pt-BR, Gmail English.
        "Em 10/11/2026 14:30, Central de Atendimento escreveu:",
        "Em 10 de nov. de 2026, à(s) 14:30, Central <suporte@compras.example.gov.br> escreveu:",
        "On Tue, Nov 10, 2026 at 2:30 PM Central <suporte@compras.example.gov.br> wrote:",
    ],
)
def test_cuts_at_an_attribution_line(history: str) -> None:
    body = f"{NEW}\n\n{history}\n\n> {OUR_MAIL.replace(chr(10), chr(10) + '> ')}\n"
    assert new_text(body) == NEW


@pytest.mark.parametrize(
    "block",
    [
        "De: Central <suporte@compras.example.gov.br>\nEnviado: terça-feira, 10 de novembro de "
        "2026 14:30\nPara: João Pereira <joao@saude.rj.gov.br>\nAssunto: [#2026-000123] Erro",
        "De: Central [mailto:suporte@compras.example.gov.br]\nEnviada em: terça-feira, 10 de "
        "novembro de 2026 14:30\nPara: João Pereira\nAssunto: RE: Erro",
        "De: Central <suporte@compras.example.gov.br>\nEnviado em: terça-feira, 10 de novembro "
        "de 2026 14:30\nPara: João Pereira <joao@saude.rj.gov.br>;\n"
        " Maria <maria@saude.rj.gov.br>\nCc: Setor <setor@saude.rj.gov.br>\nAssunto: Erro",
        "*De:* Central <suporte@compras.example.gov.br>\n*Enviado:* terça-feira, 10 de novembro"
        " de 2026 14:30\n*Para:* João\n*Assunto:* Erro",
        "From: Central <suporte@compras.example.gov.br>\nSent: Tuesday, November 10, 2026 2:30"
        " PM\nTo: João Pereira <joao@saude.rj.gov.br>\nSubject: RE: Erro",
        "-----Mensagem original-----\nDe: Central [mailto:suporte@compras.example.gov.br]\n"
        "Enviada em: terça-feira, 10 de novembro de 2026 14:30\nPara: João\nAssunto: Erro",
        "-----Original Message-----\nFrom: Central\nSent: Tuesday, November 10, 2026 2:30 PM\n"
        "To: João\nSubject: Erro",
        "________________________________\nDe: Central <suporte@compras.example.gov.br>\n"
        "Enviado: terça-feira, 10 de novembro de 2026 14:30\nPara: João\nAssunto: Erro",
        "________________________________\n\nFrom: Central <suporte@compras.example.gov.br>\n\n"
        "Sent: Tuesday, November 10, 2026 2:30 PM\n\nTo: João\n\nSubject: Erro",
    ],
)
def test_cuts_at_an_outlook_header_block(block: str) -> None:
    assert new_text(f"{NEW}\n\n{block}\n\n{OUR_MAIL}\n") == NEW


@pytest.mark.parametrize(
    "device_line",
    [
        "Enviado do meu iPhone",
        "Enviado do meu smartphone Samsung Galaxy.",
        "Obter o Outlook para Android",
        "Sent from my iPhone",
        "Get Outlook for iOS",
    ],
)
def test_cuts_at_a_device_signature(device_line: str) -> None:
    assert new_text(f"{NEW}\n\n{device_line}\n\n{OUR_MAIL}") == NEW


@pytest.mark.parametrize("delimiter", ["-- ", "--"])
def test_cuts_at_a_signature_delimiter(delimiter: str) -> None:
    body = f"{NEW}\n{delimiter}\nJoão Pereira\nSecretaria de Estado de Saúde\n(21) 2333-0000"
    assert new_text(body) == NEW


def test_removes_quoted_lines_between_answers() -> None:
    body = "> Qual a UASG?\n925001\n\n> Qual o erro?\nErro inesperado ao emitir o empenho."
    assert new_text(body) == "925001\nErro inesperado ao emitir o empenho."


def test_cuts_at_a_forward_marker() -> None:
    body = f"{NEW}\n\n---------- Mensagem encaminhada ---------\nDe: Fulano <f@x.gov.br>\n"
    assert new_text(body) == NEW


def test_reads_crlf_bodies() -> None:
    body = f"{NEW}\n\nEnviado do meu iPhone\n\n> {OUR_MAIL}".replace("\n", "\r\n")
    assert new_text(body) == NEW


@pytest.mark.parametrize(
    "body",
    [
        "O campo De: do formulário aparece vazio.\nEnviado em: nenhum momento o sistema avisou.",
        "De: segunda a sexta o SIASG fica fora do ar à noite.\nPor favor verifiquem.",
        "Em resposta ao que o colega escreveu:\nprecisamos reativar a UASG.",
        "Em 10/11 o sistema voltou ao ar, mas o erro continua.",
        "Passos:\n\n-abri o SIASG\n-cliquei em Emitir\n\n-apareceu o erro",
        "Passos:\n\n- abri o SIASG\n- cliquei em Emitir",
        "Segue a lista:\n\n__importante__: o erro aparece sempre",
        "O arquivo foi enviado do meu computador pessoal porque no órgão o SIASG não abre.",
        "Assunto: reativação da UASG 925123\nDe: Secretaria de Saúde\nPrecisamos reativar.",
        # A memo pasted into the message: its date has no time of day, no client's has none.
        "MEMORANDO Nº 12/2026\nDe: Superintendência de Compras\nPara: Central de Atendimento\n"
        "Assunto: Reativação da UASG 925123\nData: 10/11/2026\n\nSolicitamos a reativação.",
    ],
)
def test_keeps_text_that_only_looks_like_history(body: str) -> None:
    assert new_text(body) == body


def test_long_text_with_many_on_words_is_read_in_linear_time() -> None:
    # A search for "On ... wrote:" spread over lines (email-reply-parser's) took 35 s here.
    body = "On the day the SIASG failed, On Monday.\n" * 5000
    assert new_text(body) == body.strip()


OUTLOOK_SIGNATURE = (
    "Att.,\nAna Costa\n______________________________\nSetor de Compras – SEEDUC\n"
    "Tel.: (21) 2299-0000\n----------------------------------------\n"
    "Esta mensagem pode conter informação restrita."
)
DESK_QUOTED = "> Prezado(a) João,\n>\n> Recebemos sua solicitação.\n>\n> Central de Atendimento"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Outlook desktop pt-BR: the signature's rules stay as written, the block goes.
        (
            f"Bom dia,\n\nSegue o CNPJ: 11.222.333/0001-81.\n\n{OUTLOOK_SIGNATURE}\n\n"
            "________________________________\nDe: Central <suporte@compras.example.gov.br>\n"
            "Enviado: terça-feira, 10 de novembro de 2026 14:30\nPara: Ana Costa\n"
            f"Assunto: RE: [#2026-000124] Erro\n\n{OUR_MAIL}\n",
            f"Bom dia,\n\nSegue o CNPJ: 11.222.333/0001-81.\n\n{OUTLOOK_SIGNATURE}",
        ),
        # Outlook "-----Mensagem original-----" under a reply typed right above it.
        (
            f"{NEW}\n-----Mensagem original-----\nDe: Central [mailto:suporte@compras.example"
            ".gov.br]\nEnviada em: terça-feira, 10 de novembro de 2026 14:30\nPara: João\n"
            f"Assunto: Erro\n\n{OUR_MAIL}",
            NEW,
        ),
        # Gmail pt-BR: the desk's mail quoted, with an older quote nested in it.
        (
            f"{NEW}\n\nEm qua., 10 de nov. de 2026 às 14:30, Central <suporte@compras.example"
            f".gov.br> escreveu:\n\n{DESK_QUOTED}\n>\n>> Em 9/11/2026, João escreveu:\n"
            ">> O SIASG não abre.\n",
            NEW,
        ),
        # Thunderbird, format=flowed: quoted lines keep their trailing space.
        (
            f"{NEW}\n\nEm 10/11/2026 14:30, Central de Atendimento escreveu:\n"
            "> Prezado(a) João, \n> Recebemos sua solicitação.\n",
            NEW,
        ),
        # iPhone: the device line, then Apple's attribution inside the quote.
        (
            "Segue o print.\n\nEnviado do meu iPhone\n\n> Em 10 de nov. de 2026, à(s) 14:30,"
            f" Central <suporte@compras.example.gov.br> escreveu:\n>\n{DESK_QUOTED}\n",
            "Segue o print.",
        ),
        # Answers typed between the desk's questions, quoted two levels deep.
        (
            "Bom dia,\n\n>> Qual a UASG?\n\n925001\n\n> > Qual o erro?\n\nErro ao emitir o"
            " empenho.\n\n>> Central de Atendimento\n",
            "Bom dia,\n925001\nErro ao emitir o empenho.",
        ),
        # Bottom-posting: the quote first, the answer under it, a "--" signature last.
        (
            f"{DESK_QUOTED}\n\nO erro continua.\n\n-- \nJoão Pereira\nSES-RJ",
            "O erro continua.",
        ),
    ],
)
def test_full_replies_keep_the_new_text_as_written(body: str, expected: str) -> None:
    assert new_text(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        # A user pastes the notice a mail server sent back: English header lines in the text
        # are not a quoted message (no sender with a time of day), and the question after
        # them is new text.
        "Recebi esta mensagem ao enviar o pedido:\n\nYour message was not delivered.\n"
        "Subject: Pedido de reativação\nTo: suporte@compras.example.gov.br\n\n"
        "O que devo fazer?",
        "To: Central de Atendimento\nFrom: Setor de Compras\nSubject: UASG 925123\n\n"
        "Please reactivate the UASG.",
    ],
)
def test_english_header_lines_without_a_date_are_kept(body: str) -> None:
    assert new_text(body) == body


def test_a_reply_that_is_only_history_has_no_new_text() -> None:
    assert new_text("Em 10/11/2026 14:30, Central escreveu:\n> Recebemos.") == ""
    assert new_text("") == ""


def test_header_lines_head_a_message_only_with_a_sender_and_a_time_of_day() -> None:
    lines = ["Assunto: Erro", "Data: qua., 10 nov. 2026 14:30", "De: Fulano <f@x>", "", "Oi"]
    block = header_block_at(lines, 0)
    assert block is not None
    assert (block.end, block.fields["from"], block.heads_a_message) == (3, "Fulano <f@x>", True)
    undated = header_block_at(["De: Fulano <f@x.gov.br>", "Assunto: Erro"], 0)
    assert undated is not None
    assert not undated.heads_a_message
    assert header_block_at(["Oi", "De: Fulano <f@x.gov.br>"], 0) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "gmail-resposta.eml",
            "Boa tarde,\n\nSegue o print solicitado e o questionário preenchido. O erro "
            "continua aparecendo\nquando clico em Emitir.\n\nJoão",
        ),
        (
            "outlook-resposta.eml",
            "Bom dia,\n\nA UASG 925123 pertence à Secretaria de Educação. Segue o CNPJ correto: "
            "11.222.333/0001-81.\n\nAtt.,\nAna Costa\nSetor de Compras – SEEDUC\n"
            "Tel.: (21) 2299-0000",
        ),
    ],
)
def test_reply_files_keep_only_the_new_text(name: str, expected: str) -> None:
    assert new_text(_fixture(name).text) == expected
