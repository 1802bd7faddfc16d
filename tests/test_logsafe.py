"""Log lines never carry a CPF, a CNPJ, a phone number or an e-mail local part (LGPD)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
from collections.abc import Iterator

import pytest

from mailproc.logsafe import MaskingFormatter, install_masking, mask
from tests.conftest import REPO
from tests.e2e import COMMAND_TIMEOUT, Desk
from tests.mails import mail, screenshot_png


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CPF 123.456.789-09.", "CPF [cpf]."),
        ("cpf 12345678909", "cpf [cpf]"),
        ("cpf 111.222.333-44 (dígitos errados)", "cpf [cpf] (dígitos errados)"),
        ("CNPJ 12.345.678/0001-95", "CNPJ [cnpj]"),
        ("CNPJ 12345678000195", "CNPJ [cnpj]"),
        ("CNPJ alfanumérico 12.ABC.345/01DE-35", "CNPJ alfanumérico [cnpj]"),
        ("sem pontuação 12ABC34501DE35", "sem pontuação [cnpj]"),
        ("celular (21) 98765-4321", "celular [telefone]"),
        ("fixo (21) 2345-6789", "fixo [telefone]"),
        ("+55 21 98765-4321", "[telefone]"),
        ("+5521987654321", "[telefone]"),
        ("21 98765-4321", "[telefone]"),
        ("ramal 2345-6789", "ramal [telefone]"),
        ("ligue 21987654321", "ligue [telefone]"),
        ("de maria.silva@saude.rj.gov.br", "de ***@saude.rj.gov.br"),
        ("<Maria.O'Brien+siasg@rj.gov.br>", "<***@rj.gov.br>"),
    ],
)
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28 19:28:10,123 INFO mailproc.tickets.pipeline: message outcome=created",
        "ticket=2026-000123 processo 2026-000123/2025",
        "uid=4294967295 uidvalidity=1764358090 at=1764358090123 size=12345678",
        "sha256=3f2a12345678901b9c0d request 550e8400-1234-5678-a716-446655440000",
        "código interno ABCDEFGHIJKL12 versão 3.11.7 CEP 20040-020",
    ],
)
def test_what_only_looks_like_personal_data_is_kept(text: str) -> None:
    assert mask(text) == text


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    install_masking(handler)
    logger = logging.getLogger("mailproc.test_logsafe")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, stream, handler
    logger.removeHandler(handler)


def test_arguments_are_masked_in_the_final_line(
    logged: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, _ = logged
    logger.info(
        "requester %s cpf=%s phone=%s", "maria@rj.gov.br", "123.456.789-09", "(21) 2345-6789"
    )
    assert stream.getvalue() == "INFO requester ***@rj.gov.br cpf=[cpf] phone=[telefone]\n"


def test_a_traceback_is_masked_too(
    logged: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, _ = logged
    try:
        raise ValueError("no ticket for joao@saude.rj.gov.br, CPF 12345678909")
    except ValueError:
        logger.exception("message quarantined")
    written = stream.getvalue()
    assert "ValueError: no ticket for ***@saude.rj.gov.br, CPF [cpf]" in written
    assert "joao" not in written and "12345678909" not in written


def test_a_formatter_that_renders_the_traceback_itself_is_masked() -> None:
    class Json(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            entry = {"message": record.getMessage()}
            if record.exc_info:
                entry["exception"] = self.formatException(record.exc_info)
            return json.dumps(entry, ensure_ascii=False)

    try:
        raise KeyError("ana@educacao.rj.gov.br")
    except KeyError as error:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "falhou: %s", (error,), None)
        record.exc_info = (KeyError, error, error.__traceback__)
    line = MaskingFormatter(Json()).format(record)
    entry = json.loads(line)
    assert entry["message"] == "falhou: '***@educacao.rj.gov.br'"
    assert "ana@" not in entry["exception"]


def test_installing_twice_masks_once(
    logged: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = logged
    install_masking(handler)
    assert isinstance(handler.formatter, MaskingFormatter)
    assert not isinstance(handler.formatter.inner, MaskingFormatter)
    logger.info("%s", "maria@rj.gov.br")
    assert stream.getvalue() == "INFO ***@rj.gov.br\n"


@pytest.mark.servers
def test_a_poll_at_debug_level_logs_nothing_a_mail_says(desk: Desk) -> None:
    """At debug level imapclient logs every IMAP line it reads, the fetched mail included:
    mailproc's own loggers go to debug, the libraries' stay at info."""
    desk.imap.append(
        "INBOX",
        mail(
            "Pregão 90012 travado na homologação",
            "Bom dia, o pregão não avança.",
            sender="Josefina Albuquerque <josefina@saude.rj.gov.br>",
            attachments=(("captura-da-tela-homologacao.png", "image/png", screenshot_png()),),
        ),
    )

    done = subprocess.run(
        desk.command("--log-level", "debug", "poll", "--once", "--json"),
        cwd=REPO, env=desk.env, capture_output=True, timeout=COMMAND_TIMEOUT, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["processed"] == 1
    log = done.stderr.decode()
    for said in ("Pregão", "90012", "Josefina", "Albuquerque", "captura-da-tela", "avança"):
        assert said not in log, said
