"""Validators: what each accepts, what it rejects and the pt-BR reason it gives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailproc.rules.validators import (
    NOT_GIVEN,
    VALIDATORS,
    cnpj,
    cpf,
    date,
    min_length,
    nonempty,
    phone,
    uasg,
)

NO_PARAMS: dict[str, int] = {}


# --- Reference check digits, written independently of the code under test ------------------


def reference_cpf_digits(base: str) -> str:
    """Textbook CPF: weights 10..2 then 11..2; digit = (sum * 10 mod 11) mod 10."""
    digits = [int(d) for d in base]
    for first_weight in (10, 11):
        total = sum(d * w for d, w in zip(digits, range(first_weight, 1, -1), strict=True))
        digits.append(total * 10 % 11 % 10)
    return f"{digits[-2]}{digits[-1]}"


CNPJ_WEIGHTS = ([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])


def reference_cnpj_digits(base: str) -> str:
    """Receita Federal table: character value = ASCII code - 48 (digits and letters)."""
    values = [ord(c) - 48 for c in base]
    for weights in CNPJ_WEIGHTS:
        rest = sum(v * w for v, w in zip(values, weights, strict=True)) % 11
        values.append(0 if rest < 2 else 11 - rest)
    return f"{values[-2]}{values[-1]}"


# --- nonempty, min_length, uasg -------------------------------------------------------------


def test_nonempty_accepts_text_and_rejects_blanks() -> None:
    assert nonempty("Divulgação de Compras", NO_PARAMS) is None
    assert nonempty(" \n\t ", NO_PARAMS) == NOT_GIVEN


def test_min_length_counts_characters_with_runs_of_space_as_one() -> None:
    params = {"min_length": 30}
    assert min_length("Acessei o módulo e cliquei em X", params) is None  # 31 characters
    assert min_length("a" * 29, params) == "deve ter pelo menos 30 caracteres"
    assert min_length("abc" + " " * 40 + "def", params) == "deve ter pelo menos 30 caracteres"


@pytest.mark.parametrize("value", ["160123", " 160123 ", "000001"])
def test_uasg_accepts_six_digits(value: str) -> None:
    assert uasg(value, NO_PARAMS) is None


@pytest.mark.parametrize("value", ["16012", "1601234", "16O123", "160.123", "١٦٠١٢٣", ""])
def test_uasg_rejects_anything_but_six_ascii_digits(value: str) -> None:
    assert uasg(value, NO_PARAMS) == "deve ter exatamente 6 dígitos"


# --- CPF and CNPJ -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "11.222.333/0001-81",
        "11222333000181",
        "00.000.000/0001-91",
        "33.000.167/0001-01",
        " 33 000 167 0001 01 ",
        "12.ABC.345/01DE-35",  # alphanumeric CNPJ (Receita Federal, from July 2026)
        "12.abc.345/01de-35",
    ],
)
def test_cnpj_accepts_valid_numbers_with_or_without_punctuation(value: str) -> None:
    assert cnpj(value, NO_PARAMS) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("11.222.333/0001-82", "dígitos verificadores inválidos"),
        ("11.222.333/0002-81", "dígitos verificadores inválidos"),
        ("12.ABC.345/01DE-36", "dígitos verificadores inválidos"),
        ("11.111.111/1111-11", "número inválido (todos os dígitos iguais)"),
        ("00000000000000", "número inválido (todos os dígitos iguais)"),
        ("1122233300018", "deve ter 14 dígitos"),
        ("11.222.333/0001-8A", "deve ter 14 dígitos"),
        ("11,222,333/0001-81", "deve ter 14 dígitos"),
        ("não sei", "deve ter 14 dígitos"),
    ],
)
def test_cnpj_rejects_with_reason(value: str, reason: str) -> None:
    assert cnpj(value, NO_PARAMS) == reason


@pytest.mark.parametrize("value", ["123.456.789-09", "12345678909", "529.982.247-25"])
def test_cpf_accepts_valid_numbers(value: str) -> None:
    assert cpf(value, NO_PARAMS) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("123.456.789-00", "dígitos verificadores inválidos"),
        ("529.982.247-52", "dígitos verificadores inválidos"),
        ("111.111.111-11", "número inválido (todos os dígitos iguais)"),
        ("1234567890", "deve ter 11 dígitos"),
        ("123.456.789-0X", "deve ter 11 dígitos"),
        ("ABC.456.789-09", "deve ter 11 dígitos"),  # letters are for CNPJ only
    ],
)
def test_cpf_rejects_with_reason(value: str, reason: str) -> None:
    assert cpf(value, NO_PARAMS) == reason


def punctuated_cpf(number: str) -> str:
    return f"{number[:3]}.{number[3:6]}.{number[6:9]}-{number[9:]}"


def punctuated_cnpj(number: str) -> str:
    return f"{number[:2]}.{number[2:5]}.{number[5:8]}/{number[8:12]}-{number[12:]}"


def other_digit(digit: str, shift: int) -> str:
    return str((int(digit) + shift) % 10)


digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
cpf_bases = st.text(alphabet="0123456789", min_size=9, max_size=9).filter(
    lambda base: len(set(base)) > 1
)
cnpj_bases = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=12, max_size=12)


@given(base=cpf_bases, position=st.sampled_from([9, 10]), shift=st.integers(1, 9))
def test_generated_cpfs_pass_and_fail_when_a_check_digit_changes(
    base: str, position: int, shift: int
) -> None:
    number = base + reference_cpf_digits(base)
    assert cpf(number, NO_PARAMS) is None
    assert cpf(punctuated_cpf(number), NO_PARAMS) is None
    changed = number[:position] + other_digit(number[position], shift) + number[position + 1 :]
    assert cpf(changed, NO_PARAMS) == "dígitos verificadores inválidos"


@given(base=cnpj_bases, position=st.sampled_from([12, 13]), shift=st.integers(1, 9))
def test_generated_cnpjs_pass_and_fail_when_a_check_digit_changes(
    base: str, position: int, shift: int
) -> None:
    number = base + reference_cnpj_digits(base)
    if len(set(number)) == 1:
        return  # all equal: rejected on purpose, covered above
    assert cnpj(number, NO_PARAMS) is None
    assert cnpj(punctuated_cnpj(number).lower(), NO_PARAMS) is None
    changed = number[:position] + other_digit(number[position], shift) + number[position + 1 :]
    assert cnpj(changed, NO_PARAMS) == "dígitos verificadores inválidos"


@given(number=st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_cpf_agrees_with_the_reference_on_any_eleven_digits(number: str) -> None:
    # Also covers a changed base digit: mod-11 check digits fold remainders 0 and 1 into 0,
    # so a few single-digit changes are undetectable by design; the reference says which.
    expected = len(set(number)) > 1 and number[9:] == reference_cpf_digits(number[:9])
    assert (cpf(number, NO_PARAMS) is None) == expected


@given(number=st.text(alphabet="0123456789", min_size=14, max_size=14))
def test_cnpj_agrees_with_the_reference_on_any_fourteen_digits(number: str) -> None:
    expected = len(set(number)) > 1 and number[12:] == reference_cnpj_digits(number[:12])
    assert (cnpj(number, NO_PARAMS) is None) == expected


# --- phone ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "(21) 2334-5678",
        "21 2334 5678",
        "(21) 98765-4321",
        "21987654321",
        "+55 21 98765-4321",
        "+55 (21) 2334-5678",
        "5521987654321",
        "(021) 2334-5678",
        "0800 978 9001",
        "0800-978-9001",
        "0800.978.9001",
        "(21) 2334-5678 ramal 215",  # how servidores write it (REALMAIL.md)
        "(21) 2334-5678, ramal 215",
        "21 2334-5678 r. 215",
    ],
)
def test_phone_accepts_brazilian_numbers(value: str) -> None:
    assert phone(value, NO_PARAMS) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2334-5678", "deve ter DDD e número (10 ou 11 dígitos)"),
        ("(21) 2334-567", "deve ter DDD e número (10 ou 11 dígitos)"),
        ("(01) 2334-5678", "DDD inválido"),
        ("(20) 2334-5678", "DDD inválido"),
        ("(21) 88765-4321", "celular deve começar com 9 após o DDD"),
        ("(21) 8765-4321", "telefone fixo deve começar com 2, 3, 4 ou 5 após o DDD"),
        ("0800 978 900", "número 0800 deve ter 11 dígitos"),
        ("+1 212 555 0100", "deve ser um telefone do Brasil, com DDD"),
        ("(23) 2334-5678", "DDD inexistente"),
        ("(21) 2334-5678 ramal", "deve ser um telefone do Brasil, com DDD"),
        ("não tenho", "deve ser um telefone do Brasil, com DDD"),
    ],
)
def test_phone_rejects_with_reason(value: str, reason: str) -> None:
    assert phone(value, NO_PARAMS) == reason


# --- date -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "10/11/2026",
        "10/11/26 14:30",
        "10/11/2026 às 14h30",
        "10/11/2026 as 14h",
        "10-11-2026 14:30:15",
        "10.11.2026, 14:30h",
        "10/11/2026 - 14h30min",
        "10/11 por volta das 14h",
        "dia 10/11/2026 às 9h",
        "10 de novembro de 2026",
        "10 de Novembro de 2026 às 14:30",
        "1º de novembro de 2026",
        "10 nov. 2026 14h",
        "Terça-feira, 10 de novembro de 2026 às 14:30",
        "hoje às 9h",
        "HOJE, 9:05",
        "ontem, 15:40",
        "anteontem às 8 horas",
        "hoje",
        "2026-11-10T14:30",
        "2026-11-10 14:30:00",
        "29/02/2024",
        "10/11/2026.",
        "ontem à tarde",
        "hoje pela manhã",
        "anteontem à noite",
        "agora há pouco",
        "por volta das 16h",
        "aproximadamente às 14h30",
        "06/12/2026 (tarde)",
        "06/12/2026 por volta das 16:00",
    ],
)
def test_date_accepts_what_people_write(value: str) -> None:
    assert date(value, NO_PARAMS) is None


UNRECOGNISED = "data/hora não reconhecida (ex.: 10/11/2026 14:30)"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("31/02/2026", "data inexistente"),
        ("29/02/2025", "data inexistente"),
        ("10/13/2026", "data inexistente"),
        ("2026-11-31T10:00", "data inexistente"),
        ("10/11/2026 às 25h", "horário inexistente"),
        ("hoje às 99h", "horário inexistente"),
        ("10/11/2026 14:61", "horário inexistente"),
        ("01/01/0026", "ano inválido"),
        ("asdf", UNRECOGNISED),
        ("", UNRECOGNISED),
        ("30", UNRECOGNISED),
        ("março", UNRECOGNISED),
        ("às 14h", UNRECOGNISED),  # a time without a day
        ("10/11/2026 14", UNRECOGNISED),  # "14" alone is not a time
        ("10 de brumário de 2026", UNRECOGNISED),
        ("ontem à tardinha", UNRECOGNISED),
        ("agora", UNRECOGNISED),
    ],
)
def test_date_rejects_nonsense_with_reason(value: str, reason: str) -> None:
    assert date(value, NO_PARAMS) == reason


# --- registry ---------------------------------------------------------------------------------


def test_registry_names_every_validator_and_its_parameters() -> None:
    assert {name: sorted(v.params) for name, v in VALIDATORS.items()} == {
        "nonempty": [],
        "min_length": ["min_length"],
        "cpf": [],
        "cnpj": [],
        "phone": [],
        "uasg": [],
        "date": [],
    }
    assert VALIDATORS["date"].check("31/02/2026", NO_PARAMS) == "data inexistente"
