"""Answers written in prose, relative dates and the reasons the desk gives (issue 17, item 2).

A servidor who wrote UASG, date, error message and steps in a paragraph was told five times
"não informado"; a correct value followed by a blank line and a signature was called invalid.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailproc.errors import RulesError
from mailproc.resources import shipped_dir
from mailproc.rules.prose import find_in_prose, find_named_text, find_steps
from mailproc.rules.requirements import CheckResult, check_message
from mailproc.rules.rulebook import Rulebook, Theme, load_rulebook
from mailproc.rules.validators import settle_date
from tests.e2e import Desk, bare_id, message_id
from tests.timing import growth

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
RIO = ZoneInfo("America/Sao_Paulo")
# Monday 7 December 2026, 10:47 in Rio (13:47 UTC).
SENT = datetime(2026, 12, 7, 13, 47, tzinfo=UTC)


@pytest.fixture(scope="module")
def shipped() -> Rulebook:
    return load_rulebook(shipped_dir("rules"))


def theme_of(book: Rulebook, theme_id: str) -> Theme:
    theme = book.get(theme_id)
    assert theme is not None
    return theme


def answer_reasons(result: CheckResult) -> dict[str, str]:
    return {item.key: item.reason for item in result.missing if item.kind == "answer"}


# --- Readers, one validator at a time --------------------------------------------------------


@pytest.mark.parametrize(
    ("validator", "text", "found"),
    [
        ("uasg", "Não consigo publicar o aviso da UASG 160123 desde ontem.", "160123"),
        ("uasg", "a UASG nº 160123 está inativa", "160123"),
        ("uasg", "Sou da uasg de código 160123.", "160123"),
        ("uasg", "a UASG 16012 está inativa", "16012"),  # found, and wrong: to be quoted
        ("uasg", "a UASG e o CNPJ 11.222.333/0001-81", None),
        ("uasg", "o pregão 160123 da unidade", None),  # six digits, but not named a UASG
        ("cnpj", "o CNPJ do órgão é 11.222.333/0001-81.", "11.222.333/0001-81"),
        ("cnpj", "inscrito sob o nº 11222333000181, com sede", "11222333000181"),
        ("cnpj", "CNPJ alfanumérico 12.ABC.345/01DE-35", "12.ABC.345/01DE-35"),
        ("cnpj", "o CNPJ é 11.222.333/0001-82", "11.222.333/0001-82"),  # named: quoted
        ("cnpj", "processo 11.222.333/0001-82", None),  # unnamed and invalid: not a CNPJ
        ("cpf", "meu CPF é 529.982.247-25, matrícula 123", "529.982.247-25"),
        ("cpf", "o servidor 52998224725 precisa de perfil", "52998224725"),
        ("cpf", "processo 12345678900 de 2026", None),
        ("phone", "Telefone para contato (21) 2334-5678 ramal 215.", "(21) 2334-5678 ramal 215"),
        ("phone", "ligue para 21 98765-4321 à tarde", "21 98765-4321"),
        ("phone", "meu tel é (23) 2334-5678", "(23) 2334-5678"),  # named: quoted (no DDD 23)
        ("phone", "o empenho 2026NE000123 foi emitido", None),
        ("date", "O erro ocorreu em 19/11/2026 às 15h40 na tela", "19/11/2026 às 15h40"),
        ("date", "Hoje às 9h apareceu a mensagem", "Hoje às 9h"),
        ("date", "desde ontem à tarde não consigo", "ontem à tarde"),
        ("date", "aconteceu por volta das 16h", "por volta das 16h"),
        ("date", "na versão 3.5 do sistema", None),
        ("date", "a reunião é às 14h", None),  # a bare time is any time mentioned
        ("date", "consta 31/02/2026 no campo", None),
        ("date", "não há data nenhuma aqui", None),
    ],
)
def test_find_in_prose(validator: str, text: str, found: str | None) -> None:
    assert find_in_prose(validator, text) == found


MODULE_LABELS = ["Módulo", "Sistema", "Funcionalidade"]
MESSAGE_LABELS = ["Mensagem de erro", "Mensagem", "Erro"]


@pytest.mark.parametrize(
    ("labels", "text", "found"),
    [
        (
            MODULE_LABELS,
            "ao publicar no módulo\nDivulgação de Compras, travou",
            "Divulgação de Compras",
        ),
        (MODULE_LABELS, "o módulo de Contratos não abre", "Contratos"),
        (MODULE_LABELS, "o módulo trava sempre", None),
        (MODULE_LABELS, "o sistema travou", None),
        (
            MESSAGE_LABELS,
            'apareceu a mensagem "Erro interno no servidor (código 500)".',
            "Erro interno no servidor (código 500)",
        ),
        (MESSAGE_LABELS, "a mensagem de erro “Sessão expirada” aparece", "Sessão expirada"),
        (MESSAGE_LABELS, "deu erro de novo", None),
        (["Código"], "Código “abc”", None),  # a label of stop words names nothing
    ],
)
def test_find_named_text(labels: list[str], text: str, found: str | None) -> None:
    assert find_named_text(labels, text) == found


def test_prose_readers_exist_only_for_values_a_validator_knows() -> None:
    assert find_in_prose("nonempty", "UASG 160123") is None
    assert find_in_prose("min_length", "UASG 160123") is None


# --- The paragraph of the issue --------------------------------------------------------------

PARAGRAPH = (
    "Bom dia,\n"
    "\n"
    "Hoje às 9h, ao tentar publicar o aviso da UASG 160123 no módulo Divulgação de Compras,\n"
    "apareceu a mensagem de erro. Acessei o SIASG, abri Divulgação de Compras e cliquei em\n"
    "Incluir, e então o sistema travou.\n"
    "\n"
    "Atenciosamente,\n"
    "Maria Silva\n"
    "Tel. (21) 2334-5678\n"
)


def test_a_paragraph_gives_the_values_a_validator_knows(shipped: Rulebook) -> None:
    result = check_message(theme_of(shipped, "erro-siasg"), PARAGRAPH, [], sent=SENT, zone=RIO)

    assert result.answers["uasg"] == "160123"
    assert result.answers["data_hora"] == "07/12/2026 09:00"
    assert result.answers["modulo"] == "Divulgação de Compras"
    assert result.how["uasg"] == result.how["data_hora"] == result.how["modulo"] == "texto"
    # The steps are told ("Acessei o SIASG, abri ... e cliquei em Incluir"); the message's
    # text was not written: only it is asked for, not the rest.
    assert result.answers["passo_a_passo"] == (
        "Acessei o SIASG, abri Divulgação de Compras e cliquei em\n"
        "Incluir, e então o sistema travou."
    )
    assert answer_reasons(result) == {"mensagem_erro": "não informada"}


def test_a_relative_date_is_read_in_the_desks_time_zone(shipped: Rulebook) -> None:
    theme = theme_of(shipped, "erro-siasg")
    late_evening = datetime(2026, 12, 7, 1, 30, tzinfo=UTC)  # 22:30 on the 6th, in Rio
    body = "Data e hora do erro: hoje por volta das 22h\n"

    in_rio = check_message(theme, body, [], sent=late_evening, zone=RIO)
    in_utc = check_message(theme, body, [], sent=late_evening, zone=UTC)

    assert in_rio.answers["data_hora"] == "06/12/2026 por volta das 22:00"
    assert in_utc.answers["data_hora"] == "07/12/2026 por volta das 22:00"


def test_without_a_date_header_the_relative_date_is_kept_as_written(shipped: Rulebook) -> None:
    theme = theme_of(shipped, "erro-siasg")
    result = check_message(theme, "Data e hora do erro: ontem à tarde\n", [])
    assert result.answers["data_hora"] == "ontem à tarde"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("hoje às 9h", "07/12/2026 09:00"),
        ("Hoje, 9:05", "07/12/2026 09:05"),
        ("ontem à tarde", "06/12/2026 (tarde)"),
        ("ontem à tarde, por volta das 16h", "06/12/2026 por volta das 16:00 (tarde)"),
        ("anteontem", "05/12/2026"),
        ("hoje pela manhã", "07/12/2026 (manhã)"),
        ("agora há pouco", "07/12/2026 por volta das 10:47"),
        ("por volta das 16h", "07/12/2026 por volta das 16:00"),
        ("aproximadamente às 14h30", "07/12/2026 por volta das 14:30"),
        ("10/11/2026 às 14h30", "10/11/2026 às 14h30"),  # written in full: kept as written
    ],
)
def test_stored_form_of_dates(written: str, stored: str) -> None:
    assert settle_date(written, SENT.astimezone(RIO)) == stored


# --- Labels win; wrong values are quoted -----------------------------------------------------


def test_a_labelled_value_wins_over_prose(shipped: Rulebook) -> None:
    body = "A UASG 999999 é a antiga.\nUASG: 160123\n"
    result = check_message(theme_of(shipped, "erro-siasg"), body, [])
    assert (result.answers["uasg"], result.how["uasg"]) == ("160123", "rótulo")


def test_prose_wins_over_a_wrong_label(shipped: Rulebook) -> None:
    body = "Unidade gestora: Hospital Estadual Carlos Chagas\nNossa UASG é 160123.\n"
    result = check_message(theme_of(shipped, "cadastro"), body, [])
    assert (result.answers["uasg"], result.how["uasg"]) == ("160123", "texto")


def test_five_digits_after_uasg_are_found_and_quoted(shipped: Rulebook) -> None:
    body = "Preciso reativar a UASG 16012, inativa há dois anos por falta de uso do SIASG.\n"
    result = check_message(theme_of(shipped, "reativacao-uasg"), body, [])
    assert answer_reasons(result)["uasg"] == "“16012” deve ter exatamente 6 dígitos"


def test_a_wrong_labelled_value_is_quoted(shipped: Rulebook) -> None:
    result = check_message(theme_of(shipped, "reativacao-uasg"), "CNPJ: 11.222.333/0001-82", [])
    assert answer_reasons(result)["cnpj"] == (
        "“11.222.333/0001-82”: dígitos verificadores inválidos"
    )


def test_a_long_wrong_value_is_quoted_short(shipped: Rulebook) -> None:
    result = check_message(theme_of(shipped, "reativacao-uasg"), "UASG: " + "x" * 500, [])
    reason = answer_reasons(result)["uasg"]
    assert reason.startswith("“xxx") and "…”" in reason and len(reason) < 100


@pytest.mark.parametrize("label", ["Telefone", "UASG", "CNPJ"])
def test_a_value_followed_by_a_blank_line_and_a_signature_is_valid(
    shipped: Rulebook, label: str
) -> None:
    value = {"Telefone": "(21) 2334-5678", "UASG": "160123", "CNPJ": "11.222.333/0001-81"}[label]
    body = f"{label}: {value}\n\nMaria Silva\nAnalista de Compras – SEPLAG\n"
    result = check_message(theme_of(shipped, "reativacao-uasg"), body, [])
    key = {"Telefone": "telefone", "UASG": "uasg", "CNPJ": "cnpj"}[label]
    assert result.answers[key] == value
    assert key not in answer_reasons(result)


def test_a_phone_with_its_extension_is_valid(shipped: Rulebook) -> None:
    body = "Fone/Ramal: (21) 2334-5678 ramal 215\n"
    result = check_message(theme_of(shipped, "reativacao-uasg"), body, [])
    assert result.answers["telefone"] == "(21) 2334-5678 ramal 215"
    assert "telefone" not in answer_reasons(result)


def test_nothing_written_in_another_form_is_called_not_given(shipped: Rulebook) -> None:
    """The complaint of the issue: every fact of a paragraph was "não informado"."""
    body = (
        "Prezados, solicito a reativação da UASG 160123, da Secretaria de Estado de Saúde,\n"
        "CNPJ 11.222.333/0001-81, telefone (21) 2334-5678 ramal 215.\n"
        "Grata,\nMaria\n"
    )
    result = check_message(theme_of(shipped, "reativacao-uasg"), body, [], sent=SENT, zone=RIO)
    for key in ("uasg", "cnpj", "telefone"):
        assert key not in answer_reasons(result), key
    assert result.answers["telefone"] == "(21) 2334-5678 ramal 215"


# --- Gender agreement ------------------------------------------------------------------------


def test_reasons_agree_with_the_gender_of_the_label(shipped: Rulebook) -> None:
    result = check_message(theme_of(shipped, "erro-siasg"), "O sistema está fora do ar!", [])
    assert answer_reasons(result) == {
        "uasg": "não informada",
        "modulo": "não informado",
        "data_hora": "não informada",
        "mensagem_erro": "não informada",
        "passo_a_passo": "não informado",
    }
    cadastro = check_message(theme_of(shipped, "cadastro"), "Olá", [])
    assert answer_reasons(cadastro)["cpf"] == "não informado"


def theme_file(tmp_path: Path, answer_lines: str) -> Path:
    text = (FIXTURES / "valid" / "exemplo.toml").read_text(encoding="utf-8")
    text = text.replace('key = "cnpj"\n', f'key = "cnpj"\n{answer_lines}', 1)
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "exemplo.toml").write_text(text, encoding="utf-8")
    return folder


def test_the_rules_file_says_the_gender(tmp_path: Path) -> None:
    book = load_rulebook(theme_file(tmp_path, 'gender = "feminine"\n'))
    theme = theme_of(book, "exemplo")
    assert [(a.key, a.not_given) for a in theme.answers] == [
        ("cnpj", "não informada"),
        ("passo_a_passo", "não informado"),
    ]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('gender = "neutro"\n', "must be one of: masculine, feminine"),
        ('aliases = ["Código", "Nº"]\n', "needs a word besides"),
    ],
)
def test_bad_answer_keys_fail_loudly(tmp_path: Path, lines: str, message: str) -> None:
    with pytest.raises(RulesError, match=message):
        load_rulebook(theme_file(tmp_path, lines))


def test_spellings_that_read_alike_may_stay_in_one_answer(tmp_path: Path) -> None:
    book = load_rulebook(theme_file(tmp_path, 'aliases = ["Nº do CNPJ"]\n'))
    assert theme_of(book, "exemplo").answers[0].aliases == ("Nº do CNPJ",)


# --- Bounded time -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "piece",
    [
        "UASG nº de código ",  # named, never a value
        "UASG 16012 ",  # a wrong value after each name
        "11.222.333/0001-82 ",  # CNPJ-shaped, invalid
        "(21) 2334-5678 ",  # phones (the validator runs on each, up to a bound)
        "hoje às 9h ontem à tarde ",
        "12/13/2026 ",  # dates that do not exist
        "ção é à ",  # accents: the date reader's folding
        "1 de ",
    ],
)
@pytest.mark.parametrize("validator", ["uasg", "cnpj", "cpf", "phone", "date"])
def test_prose_readers_are_linear(piece: str, validator: str) -> None:
    ratio = growth(lambda n: find_in_prose(validator, piece * n), 2500)
    assert ratio < 8.0, ratio


def test_a_100_kb_paragraph_and_a_1_mb_line_stay_fast(shipped: Rulebook) -> None:
    theme = theme_of(shipped, "erro-siasg")
    paragraph = "Acessei o sistema e cliquei em Incluir, e nada aconteceu. " * 1800
    line = "9" * 1_000_000
    for body in (paragraph, line, "UASG " * 200_000, "–" * 20_000, "\t" * 20_000):
        start = time.process_time()
        check_message(theme, body, [], sent=SENT, zone=RIO)
        assert time.process_time() - start < 2.0


# --- End to end: Dovecot in, the SMTP listener out -------------------------------------------

THUNDERBIRD_PARAGRAPH = (
    "Bom dia,\n"
    "\n"
    "Hoje às 9h, ao publicar o aviso do pregão 90012/2026 da UASG 925001 no módulo \n"
    'Divulgação de Compras, apareceu a mensagem "Erro interno no servidor (código 500)". \n'
    "Passo a passo: entrei no Compras.gov.br, abri Divulgação de Compras, selecionei o \n"
    "pregão e cliquei em Publicar; a tela ficou em branco.\n"
    "\n"
    "Att.,\n"
    "Maria Silva\n"
    "Tel. (21) 2334-5678\n"
)


def thunderbird_paragraph_mail(screenshot: bytes) -> bytes:
    """Thunderbird: format=flowed, 8bit, the facts in a paragraph, the print attached."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "Maria Silva <maria.silva@saude.rj.gov.br>"
    msg["To"] = "suporte@compras.example.gov.br"
    msg["Subject"] = "Erro ao publicar aviso no SIASG"
    msg["Date"] = "Mon, 7 Dec 2026 10:12:00 -0300"
    msg["Message-ID"] = "<4f3c2a1b-paragrafo@saude.rj.gov.br>"
    msg["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Thunderbird/128.5.0"
    msg.set_content(THUNDERBIRD_PARAGRAPH, cte="8bit")
    msg.replace_header("Content-Type", "text/plain; charset=UTF-8; format=flowed")
    msg.add_attachment(screenshot, maintype="image", subtype="png", filename="print-erro.png")
    return msg.as_bytes()


OUTLOOK_TABLE_HTML = """<html xmlns:o="urn:schemas-microsoft-com:office:office">
<head><meta http-equiv=Content-Type content="text/html; charset=windows-1252">
<style><!-- p.MsoNormal {margin:0cm;font-family:"Calibri",sans-serif;} --></style></head>
<body lang=PT-BR><div class=WordSection1>
<p class=MsoNormal>Prezados,<o:p></o:p></p>
<p class=MsoNormal>Solicito a reativação da unidade abaixo:<o:p></o:p></p>
<table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0>
<tr><td width=200 valign=top><p class=MsoNormal><b>Nº da UASG<o:p></o:p></b></p></td>
<td width=400 valign=top><p class=MsoNormal>927003<o:p></o:p></p></td></tr>
<tr><td><p class=MsoNormal><b>Órgão/Entidade<o:p></o:p></b></p></td>
<td><p class=MsoNormal>Fundação Estadual de Educação<o:p></o:p></p></td></tr>
<tr><td><p class=MsoNormal><b>CNPJ do órgão<o:p></o:p></b></p></td>
<td><p class=MsoNormal>11.222.333/0001-81<o:p></o:p></p></td></tr>
<tr><td><p class=MsoNormal><b>Endereço<o:p></o:p></b></p></td>
<td><p class=MsoNormal>Rua da Assembleia, 10, Centro, Rio de Janeiro – RJ<o:p></o:p></p></td></tr>
<tr><td><p class=MsoNormal><b>Fone/Ramal<o:p></o:p></b></p></td>
<td><p class=MsoNormal>(21) 2333-4455 ramal 215<o:p></o:p></p></td></tr>
<tr><td><p class=MsoNormal><b>Motivo<o:p></o:p></b></p></td>
<td><p class=MsoNormal>A unidade voltará a realizar compras em 2027 e precisa do acesso.
<o:p></o:p></p></td></tr>
</table>
<p class=MsoNormal><o:p>&nbsp;</o:p></p>
<p class=MsoNormal>Atenciosamente,<o:p></o:p></p>
<p class=MsoNormal><b>João Pereira</b><o:p></o:p></p>
<p class=MsoNormal>Assessoria de Compras – FEE<o:p></o:p></p>
</div></body></html>
"""


def outlook_table_mail() -> bytes:
    """Zimbra/Outlook HTML only, windows-1252 quoted-printable: the answers in a Word table."""
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "=?iso-8859-1?Q?Jo=E3o_Pereira?= <joao.pereira@fee.rj.gov.br>"
    msg["To"] = "suporte@compras.example.gov.br"
    msg["Subject"] = "=?iso-8859-1?Q?Reativa=E7=E3o_de_UASG?="
    msg["Date"] = "Mon, 7 Dec 2026 11:05:00 -0300"
    msg["Message-ID"] = "<DM6PR09MB1234ABCD@DM6PR09MB1234.namprd09.prod.outlook.com>"
    msg["Thread-Topic"] = "Reativação de UASG"
    msg["Thread-Index"] = "AdtIbXyZq1234567890abcdefABCD=="
    msg.set_content(
        OUTLOOK_TABLE_HTML, subtype="html", charset="windows-1252", cte="quoted-printable"
    )
    return msg.as_bytes()


def test_outlook_table_is_read_as_labelled_answers() -> None:
    from mailproc.mail.parse import parse_message

    message = parse_message(outlook_table_mail())
    book = load_rulebook(shipped_dir("rules"))
    result = check_message(theme_of(book, "reativacao-uasg"), message.text, [])

    assert result.missing == ()
    assert result.answers["uasg"] == "927003"
    assert result.answers["telefone"] == "(21) 2333-4455 ramal 215"
    assert result.answers["cnpj"] == "11.222.333/0001-81"


@pytest.mark.servers
def test_a_paragraph_and_an_outlook_table_are_registered_end_to_end(desk: Desk) -> None:
    from sqlalchemy import select

    from mailproc.storage import models as m
    from tests.mails import screenshot_png

    paragraph, table = thunderbird_paragraph_mail(screenshot_png()), outlook_table_mail()
    desk.imap.append_many("INBOX", [paragraph, table])

    poll = desk.poll()

    assert poll.returncode == 0, poll.stderr
    assert desk.outcomes() == {
        message_id(paragraph): "created",
        message_id(table): "created",
    }
    with desk.session() as session:
        answers = {
            ticket.theme_id: dict(ticket.answers) for ticket in session.scalars(select(m.Ticket))
        }
    assert answers["erro-siasg"]["uasg"] == "925001"
    assert answers["erro-siasg"]["data_hora"] == "07/12/2026 09:00"  # "hoje às 9h", in Rio
    assert answers["reativacao-uasg"]["uasg"] == "927003"
    assert answers["reativacao-uasg"]["telefone"] == "(21) 2333-4455 ramal 215"
    replies = {bare_id(reply["In-Reply-To"]): reply for reply in desk.replies()}
    for raw in (paragraph, table):
        text = replies[message_id(raw)].get_body(("plain",))
        assert text is not None
        assert "não informad" not in text.get_content()


def test_prose_in_a_reply_does_not_replace_a_valid_earlier_answer(shipped: Rulebook) -> None:
    theme = theme_of(shipped, "erro-siasg")
    earlier = {"uasg": "160123", "data_hora": "19/11/2026 às 15h40"}
    reply = "Hoje às 9h o erro continua, agora também na UASG 925001.\n"

    result = check_message(theme, reply, [], earlier_answers=earlier, sent=SENT, zone=RIO)

    assert result.answers["uasg"] == "160123"
    assert result.answers["data_hora"] == "19/11/2026 às 15h40"


def test_prose_completes_an_earlier_wrong_answer(shipped: Rulebook) -> None:
    theme = theme_of(shipped, "erro-siasg")
    result = check_message(
        theme, "Corrigindo: a UASG é 160123.", [], earlier_answers={"uasg": "16012"}
    )
    assert (result.answers["uasg"], result.how["uasg"]) == ("160123", "texto")


OUTLOOK_TABLE_AS_TEXT = {
    # Outlook writes each cell's paragraph on a line of its own, a blank line after each.
    "cells on lines": (
        "Prezados,\r\n\r\nSolicito a reativação da unidade abaixo:\r\n\r\n"
        "Nº da UASG\r\n\r\n927003\r\n\r\nÓrgão/Entidade\r\n\r\nFundação Estadual de Educação"
        "\r\n\r\nCNPJ do órgão\r\n\r\n11.222.333/0001-81\r\n\r\nEndereço\r\n\r\n"
        "Rua da Assembleia, 10, Centro, Rio de Janeiro – RJ\r\n\r\nFone/Ramal\r\n\r\n"
        "(21) 2333-4455 ramal 215\r\n\r\nMotivo\r\n\r\n"
        "A unidade voltará a realizar compras em 2027 e precisa do acesso.\r\n\r\n"
        "Atenciosamente,\r\n\r\nJoão Pereira\r\n"
    ),
    # Some clients keep a row on one line, its cells apart by a tab.
    "cells apart by tabs": (
        "Prezados,\r\n\r\nNº da UASG\t927003\r\nÓrgão/Entidade\tFundação Estadual de Educação"
        "\r\nCNPJ do órgão\t11.222.333/0001-81\r\nEndereço\tRua da Assembleia, 10, Centro\r\n"
        "Fone/Ramal\t(21) 2333-4455 ramal 215\r\n"
        "Motivo\tA unidade voltará a realizar compras em 2027 e precisa do acesso.\r\n"
        "\r\nAtt.,\r\nJoão Pereira\r\n"
    ),
}


@pytest.mark.parametrize("text", OUTLOOK_TABLE_AS_TEXT.values(), ids=OUTLOOK_TABLE_AS_TEXT.keys())
def test_the_text_part_of_an_outlook_table_is_read_without_the_html(text: str) -> None:
    """multipart/alternative: the text part is what is read, and it is enough."""
    from email.message import EmailMessage

    from mailproc.mail.parse import parse_message

    msg = EmailMessage()
    msg["From"] = "=?iso-8859-1?Q?Jo=E3o_Pereira?= <joao.pereira@fee.rj.gov.br>"
    msg["To"] = "suporte@compras.example.gov.br"
    msg["Subject"] = "RES: Reativação de UASG"
    msg["Date"] = "Mon, 7 Dec 2026 11:05:00 -0300"
    msg["Thread-Index"] = "AdtIbXyZq1234567890abcdefABCD=="
    msg.set_content(text, charset="windows-1252", cte="quoted-printable")
    msg.add_alternative(OUTLOOK_TABLE_HTML, subtype="html", charset="windows-1252")
    message = parse_message(msg.as_bytes())
    book = load_rulebook(shipped_dir("rules"))

    result = check_message(theme_of(book, "reativacao-uasg"), message.text, [])

    assert result.missing == ()
    assert result.answers["uasg"] == "927003"
    assert result.answers["telefone"] == "(21) 2333-4455 ramal 215"
    assert result.how["uasg"] == "rótulo"


# -- The steps told in a paragraph (``narrative = true``) --------------------------------------


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (
            "Ontem, ao publicar o aviso, deu erro. Eu entrei no Compras.gov.br, abri Divulgação "
            "de Compras, selecionei o pregão e cliquei em Publicar. Segue o print.",
            "Eu entrei no Compras.gov.br, abri Divulgação de Compras, selecionei o pregão e "
            "cliquei em Publicar.",
        ),
        # two sentences, each with an action: from the first to the last
        (
            "Acessei o SIASG com meu CPF. Depois tentei incluir o item e o sistema travou.",
            "Acessei o SIASG com meu CPF. Depois tentei incluir o item e o sistema travou.",
        ),
        # one action is not an account of steps; a question tells none
        ("Tentei de novo e não deu.", None),
        ("Já tentei em outro navegador. Já tentei de novo e o problema persiste.", None),
        ("Gostaria de saber como faço a inclusão da IRP. Obrigado.", None),
    ],
)
def test_find_steps(text: str, found: str | None) -> None:
    assert find_steps(text) == found


def test_steps_in_a_paragraph_answer_the_narrative_question(shipped: Rulebook) -> None:
    text = (
        "Bom dia,\n\nOntem à tarde, ao tentar publicar o aviso da UASG 926001, no módulo "
        'Divulgação de Compras, o sistema apresentou a mensagem "Erro interno no servidor". '
        "Eu entrei no Compras.gov.br, abri Divulgação de Compras, selecionei o pregão e "
        "cliquei em Publicar.\n\nAtenciosamente,\nMarcelo Vieira\n"
    )
    result = check_message(theme_of(shipped, "erro-siasg"), text, [], sent=SENT, zone=RIO)

    assert result.answers["passo_a_passo"].startswith("Eu entrei no Compras.gov.br")
    assert result.how["passo_a_passo"] == "texto"
    assert "passo_a_passo" not in answer_reasons(result)


def test_only_a_narrative_answer_reads_steps(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    source = (shipped_dir("rules") / "erro-siasg.toml").read_text(encoding="utf-8")
    (rules / "erro-siasg.toml").write_text(source.replace("narrative = true\n", ""), "utf-8")
    theme = theme_of(load_rulebook(rules), "erro-siasg")

    text = "Entrei no sistema, abri a tela de publicação e cliquei em Publicar."
    result = check_message(theme, text, [], sent=SENT, zone=RIO)

    assert answer_reasons(result)["passo_a_passo"] == "não informado"


def test_the_steps_reader_is_linear() -> None:
    ratio = growth(lambda n: find_steps("entrei, cliquei e abri. " * n), 2500)
    assert ratio < 8.0, ratio
