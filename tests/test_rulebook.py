"""The rules folder: shipped themes, subject matching, precedence and validation errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mailproc.errors import RulesError
from mailproc.resources import shipped_dir
from mailproc.rules.rulebook import (
    AttachmentKind,
    DeadlineHours,
    Priority,
    Rulebook,
    load_rulebook,
)
from mailproc.rules.validators import VALIDATORS

FIXTURES = Path(__file__).parent / "fixtures" / "rules"
VALID_THEME = (FIXTURES / "valid" / "exemplo.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def shipped() -> Rulebook:
    return load_rulebook(shipped_dir("rules"))


# --- Shipped themes ---------------------------------------------------------------------------


def test_shipped_themes_are_ordered_by_precedence(shipped: Rulebook) -> None:
    assert [theme.id for theme in shipped.themes] == [
        "reativacao-uasg",
        "melhorias-siasg",
        "erro-siasg",
        "duvidas-compras",
        "cadastro",
    ]
    precedences = [theme.precedence for theme in shipped.themes]
    assert precedences == sorted(precedences)


@pytest.mark.parametrize(
    ("subject", "theme_id"),
    [
        # erro-siasg
        ("Erro ao acessar o SIASG", "erro-siasg"),
        ("Indisponibilidade do Compras.gov.br", "erro-siasg"),
        ("SIASG INDISPONIVEL desde cedo", "erro-siasg"),
        ("siasg indisponível", "erro-siasg"),
        ("Sistema fora do ar", "erro-siasg"),
        ("Falha na emissão de empenho", "erro-siasg"),
        ("O sistema travou na divulgação", "erro-siasg"),
        ("RES: [#2026-000123] Erros na tela de contratos", "erro-siasg"),
        # reativacao-uasg
        ("Reativação de UASG", "reativacao-uasg"),
        ("REATIVACAO DA UASG 160123", "reativacao-uasg"),
        ("Pedido para reativar a UASG 160123", "reativacao-uasg"),
        ("UASG 160123 inativada", "reativacao-uasg"),
        # melhorias-siasg
        ("Sugestão de melhoria na tela de pesquisa", "melhorias-siasg"),
        ("SUGESTAO para o módulo de contratos", "melhorias-siasg"),
        ("Melhorias no SIASG", "melhorias-siasg"),
        # cadastro
        ("Alteração de cadastro", "cadastro"),
        ("Cadastro de usuário novo", "cadastro"),
        ("Cadastro de unidades do órgão", "cadastro"),
        ("Perfil de acesso do gestor", "cadastro"),
        # duvidas-compras
        ("Dúvida sobre pregão eletrônico", "duvidas-compras"),
        ("duvidas sobre o Compras.gov.br", "duvidas-compras"),
        ("Como faço para publicar um aviso?", "duvidas-compras"),
        ("Orientação sobre dispensa eletrônica", "duvidas-compras"),
    ],
)
def test_each_shipped_theme_is_matched_by_its_examples(
    shipped: Rulebook, subject: str, theme_id: str
) -> None:
    theme = shipped.classify(subject, "").theme
    assert theme is not None
    assert theme.id == theme_id


@pytest.mark.parametrize(
    ("subject", "theme_id"),
    [
        ("Dúvida sobre o cadastro de fornecedores", "duvidas-compras"),
        ("Reativação de UASG", "reativacao-uasg"),
        ("Erro: reativação da UASG não concluída", "reativacao-uasg"),
        ("Dúvida sobre a reativação de UASG", "reativacao-uasg"),
        ("Erro ao acessar o SIASG", "erro-siasg"),
        ("Erro no cadastro de usuário", "erro-siasg"),
        ("Sugestão de melhoria na tela de pesquisa", "melhorias-siasg"),
        ("Como faço a alteração de cadastro da unidade?", "duvidas-compras"),
    ],
)
def test_precedence_decides_between_themes(shipped: Rulebook, subject: str, theme_id: str) -> None:
    theme = shipped.classify(subject, "").theme
    assert theme is not None
    assert theme.id == theme_id


@pytest.mark.parametrize(
    "subject",
    [
        "Bom dia",
        "",
        "Terror no pregão",  # "erro" is a whole word, not part of "Terror"
        "Ferro fundido",
        "Reativação do meu usuário",  # reactivation of a UASG only
        "Cadastro de fornecedores",  # suppliers, not units or users
    ],
)
def test_subjects_of_no_theme(shipped: Rulebook, subject: str) -> None:
    assert shipped.classify(subject, "").theme is None


def test_shipped_example_subjects_lead_to_their_own_theme(shipped: Rulebook) -> None:
    for theme in shipped.themes:
        assert shipped.classify(theme.example_subject, "").theme is theme


def test_shipped_requirements_follow_the_seed(shipped: Rulebook) -> None:
    def answers(theme_id: str) -> list[tuple[str, str]]:
        theme = shipped.get(theme_id)
        assert theme is not None
        return [(a.key, a.validator) for a in theme.answers]

    assert answers("erro-siasg") == [
        ("uasg", "uasg"),
        ("modulo", "nonempty"),
        ("data_hora", "date"),
        ("mensagem_erro", "nonempty"),
        ("passo_a_passo", "min_length"),
    ]
    assert answers("reativacao-uasg") == [
        ("uasg", "uasg"),
        ("orgao", "nonempty"),
        ("cnpj", "cnpj"),
        ("endereco", "nonempty"),
        ("telefone", "phone"),
        ("motivo", "min_length"),
    ]
    assert answers("melhorias-siasg") == [("descricao", "min_length")]
    assert answers("cadastro") == [("cpf", "cpf"), ("uasg", "uasg"), ("descricao", "nonempty")]
    assert answers("duvidas-compras") == [("pergunta", "nonempty")]

    erro = shipped.get("erro-siasg")
    assert erro is not None
    assert [(a.kind, a.count) for a in erro.attachments] == [(AttachmentKind.IMAGE, 1)]
    assert erro.answers[-1].params == {"min_length": 30}
    assert all(not t.attachments for t in shipped.themes if t is not erro)
    duvidas = shipped.get("duvidas-compras")
    assert duvidas is not None
    assert duvidas.answers[0].from_body


def test_shipped_priorities_deadlines_routing_and_knowledge(shipped: Rulebook) -> None:
    assert {t.id: t.priority for t in shipped.themes} == {
        "erro-siasg": Priority.ALTA,
        "reativacao-uasg": Priority.NORMAL,
        "melhorias-siasg": Priority.NORMAL,
        "cadastro": Priority.NORMAL,
        "duvidas-compras": Priority.NORMAL,
    }
    assert {t.response_hours for t in shipped.themes} == {72}
    # "em até 72 horas" are the desk's working hours (horas úteis), as its staff count them.
    assert {t.deadline_hours for t in shipped.themes} == {DeadlineHours.BUSINESS}
    assert all(t.routing.address.endswith("@example.gov.br") for t in shipped.themes)
    assert all(a.url.startswith("https://www.gov.br/") for t in shipped.themes for a in t.knowledge)


def test_get_finds_a_theme_by_id(shipped: Rulebook) -> None:
    theme = shipped.get("cadastro")
    assert theme is not None
    assert theme.name == "Cadastro de unidades e usuários"
    assert shipped.get("nao-existe") is None


def test_compiled_rules_are_frozen(shipped: Rulebook) -> None:
    theme = shipped.themes[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        theme.precedence = 1  # type: ignore[misc]
    erro = shipped.get("erro-siasg")
    assert erro is not None
    with pytest.raises(TypeError):
        erro.answers[-1].params["min_length"] = 1  # type: ignore[index]


def test_keyword_star_matches_a_prefix_and_phrases_span_collapsed_spaces(
    shipped: Rulebook,
) -> None:
    for subject in ("Indisponibilidade", "indisponíveis", "Sistema   FORA   do AR"):
        theme = shipped.classify(subject, "").theme
        assert theme is not None
        assert theme.id == "erro-siasg"


def test_rules_readme_documents_every_validator() -> None:
    readme = (shipped_dir("rules") / "README.md").read_text(encoding="utf-8")
    for name in VALIDATORS:
        assert f"`{name}`" in readme


# --- Broken rules folders ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "file", "key", "line"),
    [
        ("syntax-error", "quebrado.toml", "(syntax)", 4),
        ("unknown-key", "exemplo.toml", "match.keywrods", 12),
        ("bad-regex", "exemplo.toml", "match.regexes[0]", 13),
        ("unknown-validator", "exemplo.toml", "answers[0].validator", 26),
        ("id-mismatch", "exemplo.toml", "id", 3),
        ("duplicate-precedence", "outro.toml", "precedence", 4),
        ("example-elsewhere", "exemplo.toml", "example_subject", 9),
    ],
)
def test_broken_folder_names_file_key_and_line(folder: str, file: str, key: str, line: int) -> None:
    with pytest.raises(RulesError) as caught:
        load_rulebook(FIXTURES / folder)
    error = caught.value
    assert (error.file, error.key, error.line) == (file, key, line)
    assert str(error).startswith(f"{file}:{line}: {key}: ")


def test_folder_without_themes_is_an_error() -> None:
    with pytest.raises(RulesError, match="no theme files") as caught:
        load_rulebook(FIXTURES / "no-themes")
    assert caught.value.file.endswith("no-themes")


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="not a folder"):
        load_rulebook(tmp_path / "nao-existe")


def test_valid_fixture_loads_in_precedence_order() -> None:
    book = load_rulebook(FIXTURES / "valid")
    assert [t.id for t in book.themes] == ["outro", "exemplo"]


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ("precedence = 10", 'precedence = "10"', "precedence", "must be an integer >= 0"),
        ("precedence = 10\n", "", "precedence", "missing"),
        ('priority = "normal"', 'priority = "urgente"', "priority", "must be one of"),
        ("response_hours = 72", "response_hours = 0", "response_hours", "integer >= 1"),
        (
            "response_hours = 72",
            'response_hours = 72\ndeadline_hours = "uteis"',
            "deadline_hours",
            "must be one of: business, elapsed",
        ),
        ('name = "Tema de exemplo"', 'name = ""', "name", "non-empty string"),
        (
            'description = "Tema usado pelos testes."',
            'description = """linha 1\nlinha 2"""',
            "description",
            "single line",
        ),
        ("[routing]\n", "[rota]\n", "rota", "unknown key"),
        ('address = "teste@example.gov.br"', 'address = "teste"', "routing.address", "e-mail"),
        (
            "keywords = [\"exemplo\"]\nregexes = ['\\bpedido de teste\\b']",
            "keywords = []",
            "match.keywords",
            "at least one keyword or regex",
        ),
        ('keywords = ["exemplo"]', 'keywords = ["ex*mplo"]', "match.keywords[0]", "'*'"),
        ('keywords = ["exemplo"]', 'keywords = [""]', "match.keywords[0]", "non-empty"),
        ("regexes = ['\\bpedido de teste\\b']", "regexes = ['Pedido']", "match.regexes[0]", "'P'"),
        ("regexes = ['\\bpedido de teste\\b']", "regexes = ['x*']", "match.regexes[0]", "every"),
        ('kind = "image"', 'kind = "imagem"', "attachments[0].kind", "image, pdf, any"),
        ('kind = "image"', 'kind = "image"\ncount = 0', "attachments[0].count", ">= 1"),
        ('key = "cnpj"', 'key = "CNPJ"', "answers[0].key", "lower case"),
        ('key = "cnpj"', 'key = "passo_a_passo"', "answers[1].key", "already the key"),
        ('aliases = ["Passos"]', 'aliases = ["cnpj"]', "answers[1].aliases[0]", "already a label"),
        ('label = "CNPJ"', 'label = "CNPJ:"', "answers[0].label", "':'"),
        (
            'validator = "cnpj"',
            'validator = "cnpj"\nmin_length = 3',
            "answers[0].min_length",
            "not a parameter",
        ),
        ("min_length = 30\n", "", "answers[1].min_length", "missing"),
        ('example = "11.222.333/0001-81"', 'example = "123"', "answers[0].example", "own"),
        (
            'hint = "CNPJ do órgão"',
            'hint = "CNPJ"\nfrom_body = "sim"',
            "answers[0].from_body",
            None,
        ),
        ("[[knowledge]]", "[knowledge]", "knowledge", "array of tables"),
        (
            'url = "https://www.gov.br/compras/pt-br"',
            'url = "www.gov.br"',
            "knowledge[0].url",
            None,
        ),
    ],
)
def test_invalid_field_names_its_key(
    tmp_path: Path, old: str, new: str, key: str, reason: str | None
) -> None:
    assert VALID_THEME.count(old) == 1
    error = load_broken(tmp_path, VALID_THEME.replace(old, new))
    assert (error.file, error.key) == ("exemplo.toml", key)
    assert reason is None or reason in error.reason
    assert_line_points_at(error, VALID_THEME.replace(old, new))


def load_broken(folder: Path, text: str) -> RulesError:
    (folder / "exemplo.toml").write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rulebook(folder)
    return caught.value


def assert_line_points_at(error: RulesError, text: str) -> None:
    """The line holds the key's last name, or the header of the table that lacks it."""
    if error.line is None:
        assert error.reason == "missing"  # a top-level key that is not in the file at all
        return
    line = text.splitlines()[error.line - 1]
    leaf = error.key.rsplit(".", 1)[-1].split("[")[0]
    assert leaf in line or line.lstrip().startswith("[")


def test_only_one_answer_may_take_the_body(tmp_path: Path) -> None:
    text = VALID_THEME.replace('hint = "CNPJ do órgão"', 'hint = "CNPJ do órgão"\nfrom_body = true')
    text = text.replace("min_length = 30", "min_length = 30\nfrom_body = true")
    error = load_broken(tmp_path, text)
    assert error.key == "answers[1].from_body"
    assert "only one" in error.reason
    assert_line_points_at(error, text)


def test_unicode_bom_is_tolerated_and_bad_encoding_is_reported(tmp_path: Path) -> None:
    (tmp_path / "exemplo.toml").write_bytes(b"\xef\xbb\xbf" + VALID_THEME.encode())
    assert load_rulebook(tmp_path).themes[0].id == "exemplo"
    (tmp_path / "exemplo.toml").write_bytes(VALID_THEME.encode("latin-1"))
    with pytest.raises(RulesError, match="cannot be read as UTF-8"):
        load_rulebook(tmp_path)
