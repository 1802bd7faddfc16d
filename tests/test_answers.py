"""Questionnaire extraction from realistic pt-BR bodies."""

from __future__ import annotations

import pytest

from mailproc.rules.answers import extract_answers, own_text

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
