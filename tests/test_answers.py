"""Questionnaire extraction from realistic pt-BR bodies."""

from __future__ import annotations

import pytest

from mailproc.rules.answers import extract_answers, first_line, label_form, own_text
from tests.timing import growth

LABELS = {
    "uasg": ["UASG", "Código da UASG"],
    "modulo": ["Módulo"],
    "data_hora": ["Data e hora do erro", "Data/hora do erro"],
    "mensagem_erro": ["Mensagem de erro"],
    "passo_a_passo": ["Passo a passo", "Passos"],
    "email": ["E-mail"],
}


def test_reads_a_plain_questionnaire() -> None:
    body = (
        "Bom dia,\n"
        "\n"
        "UASG: 160123\n"
        "Módulo: Divulgação de Compras\n"
        "Data e hora do erro: 10/11/2026 às 14h30\n"
        "Mensagem de erro: Erro: campo obrigatório - código 42\n"
    )
    assert extract_answers(body, LABELS) == {
        "uasg": "160123",
        "modulo": "Divulgação de Compras",
        "data_hora": "10/11/2026 às 14h30",
        "mensagem_erro": "Erro: campo obrigatório - código 42",
    }


def test_multi_line_value_runs_to_the_next_label_and_loses_trailing_blank_lines() -> None:
    body = (
        "Passo a passo:\n"
        "1. Acessei o SIASG com meu CPF;\n"
        "\n"
        "2. Entrei em Divulgação de Compras;\n"
        "3. Cliquei em Incluir.\n"
        "\n"
        "\n"
        "UASG: 160123\n"
    )
    assert extract_answers(body, LABELS) == {
        "passo_a_passo": "1. Acessei o SIASG com meu CPF;\n\n"
        "2. Entrei em Divulgação de Compras;\n3. Cliquei em Incluir.",
        "uasg": "160123",
    }


@pytest.mark.parametrize(
    "line",
    [
        "modulo: Divulgação",
        "MÓDULO: Divulgação",
        "  Modulo :  Divulgação",
        "Módulo - Divulgação",
        "Módulo = Divulgação",
        "Módulo:\tDivulgação",
        "* Módulo: Divulgação",
        "- Módulo: Divulgação",
        "• Módulo: Divulgação",
        "**Módulo:** Divulgação",
        "*Módulo*: Divulgação",
        "Módulo\u00a0: Divulgação",  # non-breaking space before the colon
        "Módulo (nome no menu): Divulgação",
    ],
)
def test_label_tolerates_accents_case_spaces_bullets_markup_and_separators(line: str) -> None:
    assert extract_answers(f"Olá,\n{line}\n", LABELS) == {"modulo": "Divulgação"}


def test_aliases_and_labels_with_inner_punctuation() -> None:
    body = "Data/hora do erro: ontem, 15:40\nE-mail: fulano@example.gov.br\nPassos: abri a tela"
    assert extract_answers(body, LABELS) == {
        "data_hora": "ontem, 15:40",
        "email": "fulano@example.gov.br",
        "passo_a_passo": "abri a tela",
    }


def test_outlook_style_value_after_several_spaces() -> None:
    body = "UASG:      160123\r\nMódulo:   Contratos\r\n"
    assert extract_answers(body, LABELS) == {"uasg": "160123", "modulo": "Contratos"}


def test_label_must_start_the_line() -> None:
    body = "Informo a UASG: 160123 e o Módulo: Contratos\n"
    assert extract_answers(body, LABELS) == {}


def test_unknown_label_lines_belong_to_the_value_above() -> None:
    body = "Mensagem de erro: Falha ao gravar\nDetalhe: ORA-00001\nUASG: 160123"
    assert extract_answers(body, LABELS) == {
        "mensagem_erro": "Falha ao gravar\nDetalhe: ORA-00001",
        "uasg": "160123",
    }


def test_blank_and_placeholder_values_count_as_not_given() -> None:
    body = "UASG:\nMódulo: ______\nMensagem de erro: ...\nPasso a passo: (preencher)"
    assert extract_answers(body, LABELS) == {"passo_a_passo": "(preencher)"}


def test_first_filled_occurrence_wins() -> None:
    body = "UASG:\nUASG: 160123\nUASG: 999999\n"
    assert extract_answers(body, LABELS) == {"uasg": "160123"}


def test_gmail_reply_ignores_quoted_history_wrapped_over_two_lines() -> None:
    body = (
        "UASG: 160123\n"
        "Passo a passo: abri o sistema e cliquei em Incluir\n"
        "Em anexo segue o print.\n"
        "Em ter., 10 de nov. de 2026 às 15:00, Suporte SIASG <suporte@example.gov.br>\n"
        "escreveu:\n"
        "> Módulo: (informe o módulo)\n"
        "> UASG: 999999\n"
    )
    assert extract_answers(body, LABELS) == {
        "uasg": "160123",
        "passo_a_passo": "abri o sistema e cliquei em Incluir\nEm anexo segue o print.",
    }


@pytest.mark.parametrize(
    "marker",
    [
        "-----Mensagem original-----",
        "----- Mensagem original -----",
        "-----Original Message-----",
        "On Tue, Nov 10, 2026 at 3:00 PM Suporte <suporte@example.gov.br> wrote:",
        "Em 10/11/2026 15:00, Suporte escreveu:",
        "> Módulo: Contratos",
        "-- ",
        "--",
        "Atenciosamente,",
        "Att.",
        "Obrigada!",
    ],
)
def test_value_stops_at_history_or_signature(marker: str) -> None:
    body = f"Passo a passo: abri o sistema\n{marker}\nFulano de Tal\nMódulo: Contratos\n"
    assert extract_answers(body, LABELS) == {"passo_a_passo": "abri o sistema"}


def test_outlook_reply_with_answers_above_the_original_message() -> None:
    body = (
        "Segue o que faltou:\r\n"
        "\r\n"
        "Código da UASG:  160123\r\n"
        "Mensagem de erro:  Sessão expirada\r\n"
        "\r\n"
        "-----Mensagem original-----\r\n"
        "De: Suporte SIASG <suporte@example.gov.br>\r\n"
        "Enviada em: terça-feira, 10 de novembro de 2026 15:00\r\n"
        "Assunto: [#2026-000123] Pendências do chamado\r\n"
        "\r\n"
        "UASG: (código de 6 dígitos)\r\n"
    )
    assert extract_answers(body, LABELS) == {
        "uasg": "160123",
        "mensagem_erro": "Sessão expirada",
    }


def test_own_text_drops_history_signature_and_surrounding_blank_lines() -> None:
    body = (
        "\n\nComo faço para incluir um item no catálogo?\n\n"
        "Já tentei pela tela de pesquisa.\n\n"
        "Atenciosamente,\nFulano\n"
        "> mensagem antiga\n"
    )
    assert own_text(body) == (
        "Como faço para incluir um item no catálogo?\n\nJá tentei pela tela de pesquisa."
    )


# --- Labels as people write them (issue 17) ---------------------------------------------------

WIDE_LABELS = {
    "uasg": ["UASG", "Código da unidade"],
    "telefone": ["Telefone", "Telefone/ramal"],
    "cnpj": ["CNPJ do órgão"],
    "data_hora": ["Data do erro"],
    "mensagem_erro": ["Mensagem de erro"],
}


@pytest.mark.parametrize(
    "line",
    [
        "Nº da UASG: 160123",
        "N.º UASG: 160123",
        "N° UASG: 160123",
        "nº uasg: 160123",
        "Número da UASG: 160123",
        "Cód. UASG: 160123",
        "Código UASG: 160123",
        "Código da unidade: 160123",
        "UASG - 160123",
        "UASG = 160123",
        "UASG – 160123",  # en dash
        "UASG — 160123",  # em dash
        "*UASG:* 160123",  # Gmail's text part of a bold label
        "**UASG**: 160123",
        "*Nº da UASG*: 160123",
        "UASG\t160123",  # a table pasted as text
    ],
)
def test_label_variants_read_alike(line: str) -> None:
    assert extract_answers(f"Bom dia,\n\n{line}\n", WIDE_LABELS) == {"uasg": "160123"}


@pytest.mark.parametrize(
    "line",
    [
        "Tel.: (21) 2334-5678",
        "TEL: (21) 2334-5678",
        "Fone: (21) 2334-5678",
        "Fone/Ramal: (21) 2334-5678",
        "Telefone/ramal: (21) 2334-5678",
        "Tel./Ramal - (21) 2334-5678",
    ],
)
def test_phone_labels_and_abbreviations(line: str) -> None:
    assert extract_answers(line, WIDE_LABELS) == {"telefone": "(21) 2334-5678"}


def test_abbreviated_and_qualified_labels() -> None:
    body = "Dt. do erro: 10/11/2026\nCNPJ do órgão: 11.222.333/0001-81\n"
    assert extract_answers(body, WIDE_LABELS) == {
        "data_hora": "10/11/2026",
        "cnpj": "11.222.333/0001-81",
    }


@pytest.mark.parametrize(
    "body",
    [
        "UASG\n160123\n",
        "UASG:\n160123\n",
        "**UASG**\n\n160123\n",
        # Outlook's text part of a table: each cell on a line of its own.
        "UASG\n\n160123\n\nMensagem de erro\n\nSessão expirada\n",
    ],
)
def test_value_on_the_line_after_its_label(body: str) -> None:
    answers = extract_answers(body, WIDE_LABELS)
    assert answers["uasg"].strip() == "160123"
    if "Mensagem" in body:
        assert answers["mensagem_erro"] == "Sessão expirada"


@pytest.mark.parametrize(
    ("label", "form"),
    [
        ("Nº da UASG", "uasg"),
        ("N.º UASG", "uasg"),
        ("Cód. UASG", "uasg"),
        ("Código da unidade", "unidade"),
        ("Tel.", "telefone"),
        ("Fone/Ramal", "telefone ramal"),
        ("Telefone/ramal", "telefone ramal"),
        ("Dt. do erro", "data erro"),
        ("Data e hora do erro", "data hora erro"),
        ("Data/hora do erro", "data hora erro"),
        ("Passo-a-passo", "passo passo"),
        ("**Módulo** (nome no menu)", "modulo"),
        ("Código", ""),
    ],
)
def test_label_form_in_one_place(label: str, form: str) -> None:
    assert label_form(label) == form


def test_a_label_of_stop_words_only_matches_nothing() -> None:
    assert extract_answers("Código: 160123\nNº: 2\n", {"uasg": ["UASG", "Código"]}) == {}


def test_a_prose_line_is_not_a_label_alone() -> None:
    body = "Mensagem de erro: Falha\nUASG não abre desde ontem\n"
    assert extract_answers(body, WIDE_LABELS) == {
        "mensagem_erro": "Falha\nUASG não abre desde ontem"
    }


@pytest.mark.parametrize(
    "closing",
    [
        "Att.",
        "Att.,",
        "Att., Fulano de Tal",
        "Atenciosamente, Maria",
        "At.te",
        "Atte.",
        "Abs",
        "Abs, João",
        "Grato",
        "Grata,",
        "Grata pela atenção.",
        "Cordialmente,",
        "Respeitosamente,",
        "Fico no aguardo.",
        "Fico no aguardo do retorno.",
        "Desde já agradeço.",
        "Desde já agradeço a atenção,",
    ],
)
def test_a_value_ends_at_a_closing_even_with_text_after_it(closing: str) -> None:
    body = f"Mensagem de erro: Sessão expirada\n{closing}\nFulano\nUASG: 999999\n"
    assert extract_answers(body, WIDE_LABELS) == {"mensagem_erro": "Sessão expirada"}


@pytest.mark.parametrize(
    "opening",
    ["Obrigado pelo retorno, seguem os dados.", "Absolutamente nada mudou.", "Atenção:"],
)
def test_words_like_closings_do_not_end_the_text(opening: str) -> None:
    assert extract_answers(f"{opening}\nUASG: 160123\n", WIDE_LABELS) == {"uasg": "160123"}


def test_first_line_of_a_one_item_answer_stops_before_the_signature() -> None:
    assert first_line("\n  (21) 2334-5678 \n\nFulano de Tal\nSEPLAG\n") == "(21) 2334-5678"
    assert first_line(" ___ \n160123") == "160123"
    assert first_line("\n\n") == ""


# --- Linear time for the new readers ----------------------------------------------------------


@pytest.mark.parametrize(
    "piece",
    ["–", "\t", "Nº ", "UASG\n", "UASG:\n\n", "x" * 50 + "\n", "Cód. da UASG – "],
)
def test_new_label_readers_are_linear(piece: str) -> None:
    ratio = growth(lambda n: extract_answers(piece * n, WIDE_LABELS), 5000)
    assert ratio < 8.0, ratio


@pytest.mark.parametrize(
    "signature",
    [
        "Maria Silva\nAnalista de Compras – SEPLAG\n(21) 2334-5678",
        "MARIA DA SILVA SANTOS\nSecretaria de Estado de Saúde",
        "*João Pereira*\nAssessoria de Compras – FEE",
    ],
)
def test_a_signature_without_a_closing_ends_the_own_text(signature: str) -> None:
    body = f"Passo a passo: abri\n\n{signature}\n"
    assert extract_answers(body, LABELS) == {"passo_a_passo": "abri"}
    assert own_text(f"Segue o print.\n\n{signature}") == "Segue o print."


@pytest.mark.parametrize(
    "body",
    [
        "Módulo:\n\nDivulgação de Compras\n",  # one line below its label: a value
        "Passo a passo:\n\nAcessei o Sistema\nCliquei em Incluir\n",  # not a name
        "Maria Silva\nAnalista de Compras\n",  # nothing before it
    ],
)
def test_a_last_paragraph_that_is_no_signature_stays(body: str) -> None:
    assert own_text(body) == body.strip()


@pytest.mark.parametrize(
    "after",
    ["Segue em anexo o print da tela.", "Otto\nCBMERJ", "Fico no aguardo."],
)
def test_a_value_ends_at_a_blank_line(after: str) -> None:
    body = f"Passo a passo: Entrei em Divulgação de Compras e cliquei em Publicar.\n\n{after}\n"
    assert extract_answers(body, LABELS) == {
        "passo_a_passo": "Entrei em Divulgação de Compras e cliquei em Publicar."
    }


def test_a_label_alone_takes_the_paragraph_below_it() -> None:
    body = "Passo a passo:\n\nEntrei no sistema\ne cliquei em Publicar.\n\nSegue o print.\n"
    assert extract_answers(body, LABELS) == {
        "passo_a_passo": "Entrei no sistema\ne cliquei em Publicar."
    }
