"""Finding ticket codes in subjects, stripping reply prefixes and tagging subjects."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailproc.mail.subject_codes import (
    find_ticket_code,
    leading_prefixes,
    strip_reply_prefixes,
    tag_subject,
)

CODE = "2026-000123"


@pytest.mark.parametrize(
    "subject",
    [
        "[#2026-000123] Erro no SIASG",
        "RE: [#2026-000123] Erro no SIASG",
        "RES: RES: Res: ENC: Enc.: FW: Fwd: RE[2]: [#2026-000123] Erro no SIASG",
        "Erro no SIASG [#2026-000123]",  # the tag moved to the end
        "RE: Erro no SIASG #2026-000123",  # brackets lost
        "RE: [# 2026-000123] Erro no SIASG",  # a space typed inside
        "re: [ #2026-000123 ] erro no siasg",
        "Urgência do chamado #2026-000123, por favor",
        "Resposta automática: [#2026-000123] Erro",
    ],
)
def test_finds_the_default_tag_however_it_was_mangled(subject: str) -> None:
    assert find_ticket_code(subject) == CODE


@pytest.mark.parametrize(
    ("subject", "tag_format"),
    [
        ("RE: [Chamado 2026-000123] Erro", "[Chamado {code}]"),
        ("RES: [chamado 2026-000123] Erro", "[Chamado {code}]"),
        ("RES: [Chamado  2026-000123 ] Erro", "[Chamado {code}]"),
        ("RES: Chamado 2026-000123 - Erro", "[Chamado {code}]"),  # brackets lost
        ("RES: Erro #2026-000123", "[Chamado {code}]"),  # a bare #code is always accepted
        ("RE: (SIASG-2026-000123) Erro", "(SIASG-{code})"),
        ("RE: (siasg - 2026-000123) Erro", "(SIASG-{code})"),
        ("RE: Erro SIASG-2026-000123", "(SIASG-{code})"),
        ("Fwd: Erro [Ticket#2026-000123]", "[Ticket#{code}]"),
    ],
)
def test_finds_a_configured_tag(subject: str, tag_format: str) -> None:
    assert find_ticket_code(subject, tag_format) == CODE


@pytest.mark.parametrize(
    ("subject", "tag_format"),
    [
        ("Andamento do processo 2026-000123/2025", "[#{code}]"),
        ("Processo 2026-000123", "[#{code}]"),  # a bare code is never taken
        ("Processo SEI-2026-000123 parado", "[#{code}]"),
        ("Processo #2026-000123/2025", "[#{code}]"),  # a hash before a process number
        ("Nota de empenho #2026-000123-4", "[#{code}]"),
        ("Empenho #2026-000123.5 cancelado", "[#{code}]"),
        ("RE: [#2026-12345] Erro", "[#{code}]"),  # too few digits
        ("RE: [#26-000123] Erro", "[#{code}]"),
        ("Telefone 2026-0001 e CEP 20000-000", "[#{code}]"),
        ("RE: Erro no SIASG", "[#{code}]"),
        ("", "[#{code}]"),
        ("Subchamado 2026-000123", "[Chamado {code}]"),  # the word must stand on its own
        ("Chamado 2026-000123/2025 no SEI", "[Chamado {code}]"),
        ("Processo 2026-000123 do SIASG", "(SIASG-{code})"),
    ],
)
def test_does_not_take_numbers_that_only_look_like_codes(subject: str, tag_format: str) -> None:
    assert find_ticket_code(subject, tag_format) is None


def test_prefers_the_configured_tag_over_a_bare_hash_code() -> None:
    subject = "RE: sobre o #2026-000001 [Chamado 2026-000123]"
    assert find_ticket_code(subject, "[Chamado {code}]") == CODE


@pytest.mark.parametrize("subject", [" " * 8000, "[" + " " * 8000, "RE" + " " * 8000 + "x"])
def test_long_runs_of_spaces_are_read_in_linear_time(subject: str) -> None:
    # Adjacent "\s*" in a pattern backtrack polynomially: three of them in a row once took
    # 2 s for 1,000 spaces after "RE", growing with the cube of the length.
    for tag_format in ("[#{code}]", "[Chamado {code}]", "{code}]"):
        assert find_ticket_code(subject, tag_format) is None
    assert strip_reply_prefixes(subject) == subject.strip()


@pytest.mark.parametrize("tag_format", ["[#]", "{code} {code}", ""])
def test_rejects_a_tag_format_without_exactly_one_placeholder(tag_format: str) -> None:
    with pytest.raises(ValueError, match="code"):
        find_ticket_code("x", tag_format)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("RE: Erro no SIASG", "Erro no SIASG"),
        ("RES: RES: Res: ENC: Enc.: FW: Fwd: RE[2]: Erro no SIASG", "Erro no SIASG"),
        ("AW: WG: TR: RV: SV: VS: Antw: Erro", "Erro"),
        ("Re(3): Re^2: RE [4] : Erro", "Erro"),
        ("  fwd:re:Erro", "Erro"),
        ("RE: [#2026-000123] Erro", "[#2026-000123] Erro"),
        ("Erro no SIASG", "Erro no SIASG"),
        ("Reativação: UASG 925123", "Reativação: UASG 925123"),  # a word, not a prefix
        ("Resumo: pendências", "Resumo: pendências"),
        ("Fwd Erro", "Fwd Erro"),  # no colon, no prefix
        ("RE:", ""),
    ],
)
def test_strips_reply_and_forward_prefixes(subject: str, expected: str) -> None:
    assert strip_reply_prefixes(subject) == expected


def test_lists_the_leading_prefixes_outermost_first() -> None:
    assert leading_prefixes("RES: Enc.: FW[2]: Erro RE: x") == ("res", "enc", "fw")
    assert leading_prefixes("Erro") == ()


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Erro no SIASG", "[#2026-000123] Erro no SIASG"),
        ("RES: Erro no SIASG", "RES: [#2026-000123] Erro no SIASG"),
        ("", "[#2026-000123]"),
        ("[#2026-000123] Erro", "[#2026-000123] Erro"),
        ("RE: Erro [# 2026-000123]", "RE: Erro [# 2026-000123]"),  # already there, mangled
        ("RE: [#2026-000001] Erro", "RE: [#2026-000123] [#2026-000001] Erro"),
    ],
)
def test_tags_a_subject_once(subject: str, expected: str) -> None:
    assert tag_subject(subject, CODE) == expected


def test_tags_with_a_configured_format() -> None:
    assert tag_subject("Erro", CODE, "(SIASG-{code})") == "(SIASG-2026-000123) Erro"


@pytest.mark.parametrize("code", ["123", "2026-000123\n", "2026-000123/2025", "#2026-000123"])
def test_refuses_to_tag_with_something_that_is_not_a_code(code: str) -> None:
    with pytest.raises(ValueError, match="ticket code"):
        tag_subject("Erro", code)


@given(
    subject=st.text(alphabet="RESFWwdnc:[]()#- 0123456789/abSIAG.", max_size=40),
    tag_format=st.sampled_from(["[#{code}]", "[Chamado {code}]", "(SIASG-{code})"]),
)
def test_a_tagged_subject_yields_its_code_and_is_never_tagged_twice(
    subject: str, tag_format: str
) -> None:
    tagged = tag_subject(subject, CODE, tag_format)
    assert find_ticket_code(tagged, tag_format) == CODE
    assert tag_subject(tagged, CODE, tag_format) == tagged
