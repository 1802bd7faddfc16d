"""Theme scoring on stems and phrases, over the subject and the sender's own text."""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path

import pytest

from mailproc.errors import RulesError
from mailproc.mail.quotes import new_text
from mailproc.mail.textfold import fold
from mailproc.resources import shipped_dir
from mailproc.rules.classify import (
    BODY_CAP,
    Place,
    Verdict,
    is_vague,
    keyword_keys,
    read_text,
    word_key,
)
from mailproc.rules.rulebook import Rulebook, load_rulebook
from mailproc.service.cli import main
from tests.mails import mail
from tests.timing import LINEAR_BOUND, growth

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
VALID_THEME = (FIXTURES / "valid" / "exemplo.toml").read_text(encoding="utf-8")

OUTLOOK_SIGNATURE = """

Atenciosamente,

Maria Silva
Divisão de Compras – Secretaria de Estado de Saúde
Tel.: (21) 2334-5678 ramal 215
Acesse nosso portal: www.saude.rj.gov.br
[cid:image001.png@01DB4A2C.5F3E1B40]
"""
QUOTED_HISTORY = """

________________________________
De: Central de Atendimento <suporte@compras.example.gov.br>
Enviado em: quinta-feira, 19 de novembro de 2026 10:12
Para: Maria Silva <maria.silva@saude.rj.gov.br>
Assunto: Não identificamos o tema da sua solicitação

Senha bloqueada, perfil de acesso, login, desbloqueio, erro, falha, travado.
"""


@pytest.fixture(scope="module")
def shipped() -> Rulebook:
    return load_rulebook(shipped_dir("rules"))


# -- stems and phrases ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("reativação", "REATIVACAO"),  # accents or not, ALL CAPS
        ("reativação", "reativar"),
        ("acesso", "acessar"),
        ("bloqueado", "bloqueada"),
        ("erro", "erros"),
        ("dúvida", "duvidas"),
        ("falha", "falhou"),
        ("travado", "travou"),
        ("orientação", "orientações"),
    ],
)
def test_words_of_one_stem_compare_equal(one: str, other: str) -> None:
    assert word_key(read_text(one).words[0]) == word_key(read_text(other).words[0])


@pytest.mark.parametrize(("one", "other"), [("erro", "terror"), ("não", "na"), ("senha", "sena")])
def test_different_words_stay_apart(one: str, other: str) -> None:
    assert word_key(fold(one)) != word_key(fold(other))


def test_a_keyword_is_its_stems_without_small_words() -> None:
    assert keyword_keys("cadastro de usuário*") == (word_key("cadastro"), "usuario*")
    assert keyword_keys("Cadastro do usuario*") == keyword_keys("cadastro de usuário*")
    assert isinstance(keyword_keys("de o"), str)  # nothing left to look for
    assert isinstance(keyword_keys("ex*mplo"), str)


def test_a_keyword_with_only_small_words_is_a_rules_error(tmp_path: Path) -> None:
    (tmp_path / "exemplo.toml").write_text(
        VALID_THEME.replace('keywords = ["exemplo"]', 'keywords = ["exemplo", "de o"]'),
        encoding="utf-8",
    )
    with pytest.raises(RulesError) as caught:
        load_rulebook(tmp_path)
    assert (caught.value.key, caught.value.line) == ("match.keywords[1]", 12)
    assert "small words" in caught.value.reason


# -- the symptoms servidores write, in the subject --------------------------------------------


@pytest.mark.parametrize(
    ("subject", "theme_id"),
    [
        ("Não consigo publicar o aviso", "erro-siasg"),
        ("Sistema não deixa emitir empenho", "erro-siasg"),
        ("NAO PERMITE INCLUIR ITEM NO PREGAO", "erro-siasg"),
        ("Pregão travado", "erro-siasg"),
        ("Não consigo mais publicar", "erro-siasg"),  # a word in between
        ("Senha bloqueada", "cadastro"),
        ("Login bloqueado no SIASG", "cadastro"),
        ("Perfil de gestor para a servidora Ana", "cadastro"),
        ("Como incluir a IRP…?", "duvidas-compras"),
        ("Qual o prazo para publicar a ata?", "duvidas-compras"),
        ("Ativação da UASG 160123", "reativacao-uasg"),
        ("Pedido de ativação da nossa UASG", "reativacao-uasg"),
        ("REATIVACAO DA UASG 160123", "reativacao-uasg"),
        ("Sugestões para a tela de contratos", "melhorias-siasg"),
    ],
)
def test_symptoms_in_the_subject_name_their_theme(
    shipped: Rulebook, subject: str, theme_id: str
) -> None:
    found = shipped.classify(subject, "")

    assert found.verdict is Verdict.SURE
    assert found.theme is not None and found.theme.id == theme_id


def test_melhor_is_not_melhoria(shipped: Rulebook) -> None:
    found = shipped.classify("Qual a melhor forma de publicar?", "Seria melhor assim.")

    assert "melhorias-siasg" not in {s.theme.id for s in found.ranked}


# -- vague subjects: the body decides --------------------------------------------------------


@pytest.mark.parametrize(
    "subject", ["Ajuda", "Urgente!!!", "URGENTE", "Problema", "Dúvida", "Solicitação", "RES:", ""]
)
def test_vague_subjects_are_recognised(subject: str) -> None:
    assert is_vague(subject)


@pytest.mark.parametrize("subject", ["Problema no empenho", "Dúvida sobre pregão", "Erro"])
def test_subjects_with_a_subject_are_not_vague(subject: str) -> None:
    assert not is_vague(subject)


@pytest.mark.parametrize(
    ("subject", "body", "theme_id"),
    [
        (
            "Ajuda",
            "Bom dia,\n\nMinha senha do SIASG está bloqueada e não consigo acessar o sistema."
            + OUTLOOK_SIGNATURE,
            "cadastro",
        ),
        (
            "Urgente!!!",
            "O sistema não deixa emitir o empenho, aparece uma mensagem de erro e a tela trava.",
            "erro-siasg",
        ),
        ("", "Como faço para incluir a IRP no Compras.gov.br? Não encontrei a opção.", None),
        (
            "Solicitação",
            "Solicito a reativação da UASG 925001, inativada por falta de uso.",
            "reativacao-uasg",
        ),
        ("Dúvida", "Como faço para incluir a IRP no Compras.gov.br?", "duvidas-compras"),
    ],
)
def test_a_vague_subject_lets_the_body_decide(
    shipped: Rulebook, subject: str, body: str, theme_id: str | None
) -> None:
    found = shipped.classify(subject, body)

    if theme_id is None:  # no subject at all, and a question: asked, duvidas first
        assert found.theme is None or found.theme.id == "duvidas-compras"
        assert found.likely[0].id == "duvidas-compras"
        return
    assert found.theme is not None and found.theme.id == theme_id
    assert all(hit.place is Place.BODY for s in found.ranked for hit in s.hits)


def test_the_subject_outweighs_a_body_that_brushes_another_theme(shipped: Rulebook) -> None:
    body = "Ao emitir o empenho aparece erro. Já troquei a senha e fiz login de novo."

    found = shipped.classify("Erro ao emitir empenho", body)

    assert found.theme is not None and found.theme.id == "erro-siasg"


# -- asking instead of guessing ---------------------------------------------------------------


def test_two_close_themes_are_offered_not_guessed(shipped: Rulebook) -> None:
    found = shipped.classify("RES:", "Não consigo acessar o sistema, aparece erro de login.")

    assert (found.verdict, found.theme) == (Verdict.CLOSE, None)
    assert {t.id for t in found.likely} == {"erro-siasg", "cadastro"}


def test_thin_evidence_is_offered_not_taken(shipped: Rulebook) -> None:
    found = shipped.classify("Ajuda", "Preciso de um novo login.")

    assert found.verdict in (Verdict.UNSURE, Verdict.NONE)
    assert found.theme is None


def test_resending_with_a_suggested_example_subject_settles_it(shipped: Rulebook) -> None:
    """What the no-theme notice tells people to do must work, whatever their body says."""
    bodies = [
        "Não consigo acessar o sistema, aparece erro de login.",
        "Minha senha expirou e o sistema trava com erro na tela de login; falha geral,"
        " fora do ar, perfil bloqueado, não consigo nada, sem acesso.",
        "Como faço para corrigir o erro? Não consigo publicar. Dúvida sobre a orientação.",
    ]
    for body in bodies:
        asked = shipped.classify("Ajuda", body)
        for theme in asked.likely:
            again = shipped.classify(theme.example_subject, body)
            assert again.theme is theme, (body, theme.id, again.explain())


def test_two_themes_the_subject_names_alike_follow_precedence(shipped: Rulebook) -> None:
    found = shipped.classify("Erro ao acessar o SIASG", "")

    assert found.theme is not None and found.theme.id == "erro-siasg"
    assert {s.theme.id for s in found.ranked} == {"erro-siasg", "cadastro"}


# -- false positives --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        # a signature's "Acesse nosso portal", after the closing
        ("Convite", "Prezados, segue o convite para o seminário." + OUTLOOK_SIGNATURE),
        # no closing line: the signature is part of the own text, one common word alone
        ("", "Segue a planilha pedida.\nMaria Silva\nAcesse nosso portal: www.rj.gov.br"),
        # an out-of-office without Auto-Submitted
        (
            "Resposta automática: Convite",
            "Estou em férias até 15/12 sem acesso ao e-mail. Em caso de urgência, procure João.",
        ),
        # about something else altogether
        ("Convite: seminário de compras públicas", "Convidamos para o seminário de 10/12."),
        # our own words quoted below the reply (as decide passes it: its new text)
        ("RES: Não identificamos o tema", new_text("Segue a planilha pedida." + QUOTED_HISTORY)),
    ],
)
def test_one_common_word_or_quoted_history_pulls_no_mail_into_a_theme(
    shipped: Rulebook, subject: str, body: str
) -> None:
    found = shipped.classify(subject, body)

    assert found.theme is None
    assert found.verdict is not Verdict.CLOSE


def test_repeating_a_word_does_not_add_up(shipped: Rulebook) -> None:
    found = shipped.classify("Ajuda", "acesso " * 500)

    assert found.theme is None
    assert found.ranked[0].points == 1


def test_the_body_counts_at_most_body_cap(shipped: Rulebook) -> None:
    body = "senha login perfil bloqueado desbloqueio acesso liberar acesso sem acesso"

    found = shipped.classify("Ajuda", body)

    assert found.ranked[0].points == BODY_CAP


def test_every_point_is_explained(shipped: Rulebook) -> None:
    found = shipped.classify("Ajuda", "Minha senha está bloqueada, não consigo acessar.")

    [first, *_] = found.explain()
    # "senha bloqueada" is one signal: its words "senha" and "bloqueado" earn nothing more
    assert first == "cadastro 2: senha bloqueada (corpo +1), acesso (corpo +1)"
    assert sum(h.points for h in found.ranked[0].hits) == found.ranked[0].points


# -- cost -------------------------------------------------------------------------------------


def test_scoring_grows_linearly_with_the_body(shipped: Rulebook) -> None:
    """A long body (prose, a line built against ".*" patterns, words no cache has seen) costs
    in proportion to its length: 4x the body, well under 8x the CPU (tests/timing.py)."""
    fresh = count()

    def prose(n: int) -> str:
        return "Não consigo reativar a UASG; a tela trava e o acesso falha quando tento. " * n

    def hostile(n: int) -> str:  # regexes with ".*" on a long line
        return "reativ " * (10 * n) + "\n" + "?" * (70 * n)

    def unseen(n: int) -> str:  # letters only (every word is stemmed), new at every call
        start = next(fresh) * 10 * n
        return " ".join(
            "".join(chr(97 + k // 26**d % 26) for d in range(5)) + "ando"
            for k in range(start, start + 10 * n)
        )

    for body in (prose, hostile, unseen):
        assert growth(lambda n, body=body: shipped.classify("Ajuda", body(n)), 350) < LINEAR_BOUND


# -- mailproc rules test ------------------------------------------------------------------------


def test_rules_test_shows_scores_deciding_words_and_the_reply_text(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eml = config_path.parent / "ajuda.eml"
    eml.write_bytes(
        mail("Ajuda", "Bom dia,\n\nNão consigo acessar o sistema, aparece erro de login.\n\nAtt.")
    )

    assert main(["--config", str(config_path), "rules", "test", str(eml)]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["outcome"] == "no_theme"
    found = report["classification"]
    assert (found["verdict"], found["likely"]) == ("close", ["erro-siasg", "cadastro"])
    assert found["scores"][0]["hits"] == ["erro (corpo +1)", "nao consigo (corpo +1)"]
    [reply] = report["replies"]
    assert reply["template"] == "no_theme"
    text = reply["text"]
    assert text.index("Erro/Indisponibilidade") < text.index("Cadastro de unidades")
    assert "usando o assunto: Alteração de cadastro de usuário\n" in text


def test_a_theme_questionnaire_filled_in_under_a_vague_subject_names_the_theme(
    shipped: Rulebook,
) -> None:
    body = (
        "Olá,\n\nO sistema está dando erro quando tento publicar o aviso.\n\n"
        "UASG: 153999\nMódulo: Divulgação de Compras\n"
        "Mensagem de erro: Erro interno no servidor (código 500)\n"
        "Passo a passo: Acessei o Compras.gov.br e cliquei em Publicar.\n"
    )
    found = shipped.classify("Ajuda", body)

    assert found.theme is not None and found.theme.id == "erro-siasg"
    assert "Módulo: (corpo +1)" in found.explain()[0]  # a label of its questionnaire


def test_an_error_told_as_a_story_names_the_error_theme(shipped: Rulebook) -> None:
    body = (
        "Ontem, ao tentar publicar o aviso, o sistema apresentou a mensagem "
        '"Erro interno no servidor".'
    )
    found = shipped.classify("Problema na publicação do pregão 90012/2026", body)

    assert found.theme is not None and found.theme.id == "erro-siasg"
