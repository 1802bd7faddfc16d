"""check_message: every missing attachment and answer at once, and completion by replies."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mailproc.mail.message import Attachment
from mailproc.resources import shipped_dir
from mailproc.rules.requirements import (
    CHECKS,
    Evidence,
    MissingItem,
    check_answers,
    check_attachments,
    check_message,
)
from mailproc.rules.rulebook import AttachmentKind, AttachmentRequirement, Rulebook, load_rulebook
from tests.mails import screenshot_png

FIXTURES = Path(__file__).parent / "fixtures" / "rules"


def attachments_only(attachments: list[Attachment]) -> Evidence:
    return Evidence(body="", found={}, earlier={}, attachments=attachments)


PNG = Attachment("tela.png", "image/png", "image/png", screenshot_png())
FAKE_PNG = Attachment("print.png", "image/png", "application/pdf", b"%PDF-1.7")
PDF = Attachment("oficio.pdf", "application/pdf", "application/pdf", b"%PDF-1.7")
PASTED_JPEG = Attachment(
    "image001", "application/octet-stream", "image/jpeg", screenshot_png(kind="JPEG")
)
UNSNIFFED_JPEG = Attachment("foto.jpg", "image/jpeg", None, screenshot_png(kind="JPEG"))

ERRO_BODY = """Bom dia,

UASG: 160123
Módulo: Divulgação de Compras
Data e hora do erro: 10/11/2026 às 14h30
Mensagem de erro: Sessão expirada
Passo a passo:
1. Acessei o SIASG;
2. Abri Divulgação de Compras e cliquei em Incluir.

Atenciosamente,
Fulano
"""


@pytest.fixture(scope="module")
def shipped() -> Rulebook:
    return load_rulebook(shipped_dir("rules"))


@pytest.fixture(scope="module")
def exemplo() -> Rulebook:
    return load_rulebook(FIXTURES / "valid")


def test_complete_error_report_misses_nothing(shipped: Rulebook) -> None:
    theme = shipped.get("erro-siasg")
    assert theme is not None
    result = check_message(theme, ERRO_BODY, [PNG])
    assert result.missing == ()
    assert result.complete
    assert result.answers["passo_a_passo"] == (
        "1. Acessei o SIASG;\n2. Abri Divulgação de Compras e cliquei em Incluir."
    )


def test_every_missing_item_is_collected_at_once(exemplo: Rulebook) -> None:
    theme = exemplo.get("exemplo")
    assert theme is not None
    body = "CNPJ: 11.222.333/0001-82\nPasso a passo: abri e deu erro\n"
    result = check_message(theme, body, [])
    assert result.missing == (
        MissingItem(
            "attachment",
            "attachments[0]",
            "print da tela",
            "não enviado",
            "Responda a este e-mail anexando a imagem (PNG ou JPG).",
        ),
        MissingItem(
            "answer",
            "cnpj",
            "CNPJ",
            "“11.222.333/0001-82”: dígitos verificadores inválidos",
            "CNPJ do órgão (ex.: 11.222.333/0001-81)",
        ),
        MissingItem(
            "answer",
            "passo_a_passo",
            "Passo a passo",
            "“abri e deu erro” deve ter pelo menos 30 caracteres",
            "o que foi feito até o erro",
        ),
    )
    assert not result.complete
    # What was written is kept even when invalid, so the ticket shows it.
    assert result.answers == {"cnpj": "11.222.333/0001-82", "passo_a_passo": "abri e deu erro"}


def test_empty_error_report_lists_screenshot_and_whole_questionnaire(shipped: Rulebook) -> None:
    theme = shipped.get("erro-siasg")
    assert theme is not None
    result = check_message(theme, "O sistema está fora do ar!", [])
    assert [(item.kind, item.key, item.reason) for item in result.missing] == [
        ("attachment", "attachments[0]", "não enviado"),
        ("answer", "uasg", "não informada"),
        ("answer", "modulo", "não informado"),
        ("answer", "data_hora", "não informada"),
        ("answer", "mensagem_erro", "não informada"),
        ("answer", "passo_a_passo", "não informado"),
    ]
    assert result.answers == {}


def test_pdf_named_like_a_png_is_not_a_screenshot(shipped: Rulebook) -> None:
    theme = shipped.get("erro-siasg")
    assert theme is not None
    result = check_message(theme, ERRO_BODY, [FAKE_PNG, PDF])
    assert [(item.key, item.reason) for item in result.missing] == [
        (
            "attachments[0]",
            "nenhum dos anexos recebidos serve como captura de tela: o arquivo print.png está "
            "corrompido e não pôde ser lido; o arquivo oficio.pdf está corrompido e não pôde "
            "ser lido",
        )
    ]


@pytest.mark.parametrize("image", [PNG, PASTED_JPEG, UNSNIFFED_JPEG])
def test_an_image_by_its_bytes_or_declared_type_is_a_screenshot(
    shipped: Rulebook, image: Attachment
) -> None:
    theme = shipped.get("erro-siasg")
    assert theme is not None
    assert check_message(theme, ERRO_BODY, [image]).complete


def test_count_is_reported_when_too_few_arrived(exemplo: Rulebook) -> None:
    theme = exemplo.get("exemplo")
    assert theme is not None
    two_pdfs = AttachmentRequirement(AttachmentKind.PDF, 2, "ofícios assinados")
    theme = dataclasses.replace(theme, attachments=(two_pdfs,))
    assert [item.reason for item in check_attachments(theme, attachments_only([PDF])).missing] == [
        "recebido(s) 1 de 2"
    ]
    assert [item.reason for item in check_attachments(theme, attachments_only([])).missing] == [
        "não enviados (2 no mínimo)"
    ]
    assert check_attachments(theme, attachments_only([PDF, PDF])).missing == ()


def test_a_reply_completes_the_ticket_with_earlier_answers_and_attachments(
    exemplo: Rulebook,
) -> None:
    theme = exemplo.get("exemplo")
    assert theme is not None
    first = check_message(theme, "Passo a passo: abri o sistema e cliquei em Incluir", [])
    assert [item.key for item in first.missing] == ["attachments[0]", "cnpj"]

    reply = "CNPJ: 11.222.333/0001-81\n\nEm 10/11/2026 15:00, Suporte escreveu:\n> CNPJ:\n"
    second = check_message(theme, reply, [PNG], earlier_answers=first.answers)
    assert second.missing == ()
    assert second.answers == {
        "passo_a_passo": "abri o sistema e cliquei em Incluir",
        "cnpj": "11.222.333/0001-81",
    }


def test_later_valid_value_wins_but_an_invalid_one_does_not_replace_a_valid_one(
    exemplo: Rulebook,
) -> None:
    theme = exemplo.get("exemplo")
    assert theme is not None
    earlier = {"cnpj": "11.222.333/0001-81", "passo_a_passo": "curto"}
    body = "CNPJ: 11.222.333/0001-82\nPasso a passo: abri o sistema e cliquei em Incluir"
    result = check_message(theme, body, [PNG], earlier_answers=earlier)
    assert result.missing == ()
    assert result.answers == {
        "cnpj": "11.222.333/0001-81",
        "passo_a_passo": "abri o sistema e cliquei em Incluir",
    }

    newer = check_message(theme, "CNPJ: 33.000.167/0001-01", [PNG], earlier_answers=earlier)
    assert newer.answers["cnpj"] == "33.000.167/0001-01"


def test_still_invalid_reply_reports_the_latest_value(exemplo: Rulebook) -> None:
    theme = exemplo.get("exemplo")
    assert theme is not None
    earlier = {"cnpj": "123", "passo_a_passo": "abri o sistema e cliquei em Incluir"}
    result = check_message(theme, "CNPJ: 11.222.333/0001-82", [PNG], earlier_answers=earlier)
    assert [(item.key, item.reason) for item in result.missing] == [
        ("cnpj", "“11.222.333/0001-82”: dígitos verificadores inválidos")
    ]
    assert result.answers["cnpj"] == "11.222.333/0001-82"


def test_earlier_answers_are_kept_and_not_mutated(exemplo: Rulebook) -> None:
    theme = exemplo.get("exemplo")
    assert theme is not None
    earlier = {"outro_tema": "valor de um tema anterior"}
    result = check_message(theme, "CNPJ: 11.222.333/0001-81", [], earlier_answers=earlier)
    assert result.answers["outro_tema"] == "valor de um tema anterior"
    assert earlier == {"outro_tema": "valor de um tema anterior"}


def test_question_is_the_whole_body_when_not_labelled(shipped: Rulebook) -> None:
    theme = shipped.get("duvidas-compras")
    assert theme is not None
    body = (
        "Como faço para cadastrar um fornecedor estrangeiro?\n\n"
        "Atenciosamente,\nFulana\n\n-----Mensagem original-----\nDe: alguém\n"
    )
    result = check_message(theme, body, [])
    assert result.complete
    assert result.answers == {"pergunta": "Como faço para cadastrar um fornecedor estrangeiro?"}


def test_labelled_question_wins_over_the_body(shipped: Rulebook) -> None:
    theme = shipped.get("duvidas-compras")
    assert theme is not None
    body = "Olá, equipe.\nPergunta: Onde consulto o catálogo de materiais?\n"
    result = check_message(theme, body, [])
    assert result.answers == {"pergunta": "Onde consulto o catálogo de materiais?"}


def test_a_thank_you_reply_does_not_replace_the_question(shipped: Rulebook) -> None:
    theme = shipped.get("duvidas-compras")
    assert theme is not None
    earlier = {"pergunta": "Onde consulto o catálogo de materiais?"}
    result = check_message(theme, "Muito obrigada pelo retorno.", [], earlier_answers=earlier)
    assert result.answers == earlier


def test_empty_question_is_missing(shipped: Rulebook) -> None:
    theme = shipped.get("duvidas-compras")
    assert theme is not None
    result = check_message(theme, "\n\n> texto citado\n", [])
    assert [(item.key, item.reason) for item in result.missing] == [("pergunta", "não informada")]


def test_checks_run_in_one_declared_order() -> None:
    assert (check_attachments, check_answers) == CHECKS
