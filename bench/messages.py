"""Realistic pt-BR support mail for the benchmark, generated deterministically from a seed.

The mix follows the themes of rules/: complete and incomplete error reports (with PNG
screenshots), UASG reactivations, suggestions, questions (some forwarded by Redecompras),
registration changes, replies that complete an earlier incomplete report, HTML-only mail,
latin-1 and windows-1252 bodies, out-of-office replies and mail without a theme.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

T = TypeVar("T")

SUPPORT = "suporte@compras.example.gov.br"
AUTHSERV_ID = "mx.compras.example.gov.br"
_BRT = ZoneInfo("America/Sao_Paulo")
REDECOMPRAS = "redecompras@planejamento.rj.gov.br"

_FIRST = (
    "Maria", "José", "Ana", "João", "Antônio", "Francisca", "Carlos", "Paulo", "Lúcia", "Pedro",
    "Luiz", "Márcia", "Adriana", "Marcos", "Juliana", "Rafael", "Fernanda", "Sérgio", "Patrícia",
    "Cláudio", "Renata", "André", "Beatriz", "Rodrigo", "Camila", "Fábio", "Débora", "Gustavo",
    "Simone", "Leandro", "Vânia", "Otávio", "Helena", "Thiago", "Luciana", "Ricardo",
)  # fmt: skip
_LAST = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
    "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Araújo", "Melo", "Barbosa", "Rocha",
    "Dias", "Nascimento", "Andrade", "Moreira", "Nunes", "Marques", "Machado", "Mendes",
    "Freitas", "Cardoso", "Ramos", "Gonçalves", "Teixeira", "Correia",
)  # fmt: skip
_ORGS = (
    "saude", "educacao", "fazenda", "planejamento", "cultura", "transportes", "der", "detran",
    "seap", "pcerj", "pmerj", "cbmerj", "uerj", "faetec", "inea", "cedae", "fiocruz-rj",
    "defensoria", "casacivil", "ambiente", "agricultura", "obras", "esporte", "turismo",
)  # fmt: skip
_MODULES = (
    "Divulgação de Compras", "SICAF", "Pregão Eletrônico", "Gestão de Contratos",
    "Dispensa Eletrônica", "Catálogo de Materiais", "Empenho", "Painel de Preços",
)  # fmt: skip
_ERRORS = (
    "Erro interno no servidor (código 500)", "Sessão expirada. Faça login novamente.",
    "Não foi possível concluir a operação: tempo esgotado", "Usuário sem permissão (403)",
    "Falha na comunicação com o SIAFI", "Registro não encontrado",
)  # fmt: skip
_ERROR_SUBJECTS = (
    "Erro ao publicar aviso no SIASG", "SIASG fora do ar", "Erro no SICAF ao emitir certidão",
    "Falha ao homologar pregão", "Sistema travou ao assinar contrato",
    "Página não carrega no Compras.gov.br", "Indisponibilidade do Painel de Preços",
)  # fmt: skip
_QUESTIONS = (
    "Como faço para consultar se um fornecedor está com o cadastro regular no SICAF antes de "
    "emitir a nota de empenho?",
    "Qual o procedimento correto para registrar uma dispensa eletrônica acima do limite?",
    "Gostaria de uma orientação sobre a inclusão de itens no catálogo de materiais.",
    "Como proceder quando o fornecedor vencedor não assina a ata no prazo?",
)
_SUGGESTIONS = (
    "Seria útil permitir filtrar a pesquisa de preços por município e exportar o resultado "
    "em planilha.",
    "Sugiro que a tela de propostas mostre o histórico de lances em ordem cronológica.",
    "A consulta de UASG poderia aceitar parte do nome do órgão, não só o código.",
)
_FILLER = (
    "Agradeço desde já a atenção e fico no aguardo de um retorno.",
    "Trata-se de processo urgente, com prazo de publicação na próxima semana.",
    "Já tentei em outro navegador (Firefox e Chrome) e o problema persiste.",
    "A equipe do setor de compras está parada aguardando a solução.",
    "Segue em anexo a captura de tela com a mensagem apresentada pelo sistema.",
)
_SIGNATURE = "\n--\n{name}\nDivisão de Compras e Licitações\n{org_title}\nTel.: (21) 2333-{ext}\n"


@dataclass(frozen=True)
class Generated:
    """One message: its bytes, what kind it is and whether mailproc should answer it."""

    index: int
    kind: str
    raw: bytes
    message_id: str
    expects_reply: bool


@dataclass(frozen=True)
class _Person:
    name: str
    email: str
    org: str


@dataclass
class _Pending:
    """An incomplete report waiting for the reply that completes it."""

    person: _Person
    subject: str
    message_id: str
    missing: str  # "print", "passos" or "cnpj"


# kind -> weight; replies are added on top, for most of the incomplete reports.
_MIX: dict[str, int] = {
    "erro_completo": 24,
    "erro_completo_html": 4,
    "erro_sem_print": 8,
    "erro_sem_passos": 5,
    "reativacao": 8,
    "reativacao_cnpj_invalido": 4,
    "melhoria_com_print": 8,
    "melhoria": 5,
    "duvida": 8,
    "duvida_html": 3,
    "duvida_encaminhada": 3,
    "cadastro": 6,
    "fora_do_escritorio": 6,
    "sem_tema": 3,
}
_REPLY_SHARE = 0.8  # incomplete reports later completed by a reply
_CHARSETS = (("utf-8", 70), ("iso-8859-1", 15), ("windows-1252", 15))
# Screenshot sizes (PNG bytes): log-normal around _PNG_MEDIAN, clipped to a realistic range.
_PNG_MEDIAN = 48_000
_PNG_SIGMA = 1.0
_PNG_RANGE = (3_000, 420_000)


# A print is a screen: the desk counts an image as one from 300x200 pixels (issue 17).
_SCREEN = (1366, 768)


def png(size: int, rng: random.Random) -> bytes:
    """A valid RGB PNG of a screen's size and about ``size`` bytes: noisy rows (which do not
    compress) up to ``size``, then a flat window background."""
    width, height = _SCREEN
    noisy = min(height, size // (width * 3))
    flat = b"\x00" + b"\xf0" * (width * 3)
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(noisy))
    rows += flat * (height - noisy)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


class MailGenerator:
    """Yields ``n`` messages in mailbox order; a reply always comes after what it answers."""

    def __init__(self, seed: int = 2026, domain_tag: str = "bench") -> None:
        self._rng = random.Random(seed)
        self._tag = domain_tag
        self._kinds = list(_MIX)
        self._weights = list(_MIX.values())
        self._pending: list[_Pending] = []
        self._clock = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
        self._people = [
            _Person(f"{first} {last}", _address(first, last, org), org)
            for first in _FIRST
            for last in _LAST
            for org in self._rng.sample(_ORGS, 2)
        ]

    def messages(self, n: int) -> Iterator[Generated]:
        for index in range(n):
            yield self.one(index)

    def one(self, index: int, *, standalone: bool = False) -> Generated:
        """The next message; ``standalone`` ones are first contacts that get a reply."""
        rng = self._rng
        self._clock += timedelta(seconds=rng.randint(5, 90))
        reply_due = self._pending and rng.random() < 0.5 * _REPLY_SHARE
        if not standalone and reply_due and len(self._pending) > 3:
            pending = self._pending.pop(rng.randrange(len(self._pending)))
            return self._reply(index, pending)
        kind = rng.choices(self._kinds, self._weights)[0]
        while standalone and kind in ("fora_do_escritorio",):
            kind = rng.choices(self._kinds, self._weights)[0]
        build: Callable[[int, str, _Person], Generated] = getattr(self, f"_{kind}")
        return build(index, kind, rng.choice(self._people))

    # -- message kinds --------------------------------------------------------------------

    def _erro_completo(self, index: int, kind: str, person: _Person) -> Generated:
        body = self._error_body(person, steps=True)
        files = [self._screenshot()]
        return self._build(index, kind, person, self._pick(_ERROR_SUBJECTS), body, files)

    def _erro_completo_html(self, index: int, kind: str, person: _Person) -> Generated:
        body = self._error_body(person, steps=True)
        files = [self._screenshot()]
        subject = self._pick(_ERROR_SUBJECTS)
        return self._build(index, kind, person, subject, body, files, html_only=True)

    def _erro_sem_print(self, index: int, kind: str, person: _Person) -> Generated:
        subject = self._pick(_ERROR_SUBJECTS)
        generated = self._build(index, kind, person, subject, self._error_body(person, True))
        self._wait_reply(person, subject, generated, "print")
        return generated

    def _erro_sem_passos(self, index: int, kind: str, person: _Person) -> Generated:
        subject = self._pick(_ERROR_SUBJECTS)
        body = self._error_body(person, steps=False)
        generated = self._build(index, kind, person, subject, body, [self._screenshot()])
        self._wait_reply(person, subject, generated, "passos")
        return generated

    def _reativacao(self, index: int, kind: str, person: _Person) -> Generated:
        body = self._reactivation_body(person, _cnpj(self._rng, valid=True))
        return self._build(index, kind, person, f"Reativação de UASG {self._uasg()}", body)

    def _reativacao_cnpj_invalido(self, index: int, kind: str, person: _Person) -> Generated:
        subject = f"Reativação de UASG {self._uasg()}"
        body = self._reactivation_body(person, _cnpj(self._rng, valid=False))
        generated = self._build(index, kind, person, subject, body)
        self._wait_reply(person, subject, generated, "cnpj")
        return generated

    def _melhoria_com_print(self, index: int, kind: str, person: _Person) -> Generated:
        body = f"Prezados,\n\nDescrição: {self._pick(_SUGGESTIONS)}\n\n{self._sign(person)}"
        subject = "Sugestão de melhoria na tela de pesquisa"
        return self._build(index, kind, person, subject, body, [self._screenshot()])

    def _melhoria(self, index: int, kind: str, person: _Person) -> Generated:
        body = f"Prezados,\n\nDescrição: {self._pick(_SUGGESTIONS)}\n\n{self._sign(person)}"
        return self._build(index, kind, person, "Melhorias no SIASG: sugestão", body)

    def _duvida(self, index: int, kind: str, person: _Person) -> Generated:
        body = f"Boa tarde,\n\n{self._pick(_QUESTIONS)}\n\n{self._sign(person)}"
        return self._build(index, kind, person, "Dúvida sobre o Compras.gov.br", body)

    def _duvida_html(self, index: int, kind: str, person: _Person) -> Generated:
        body = f"Bom dia,\n\n{self._pick(_QUESTIONS)}\n\n{self._sign(person)}"
        return self._build(
            index, kind, person, "Dúvida: orientação sobre pregão", body, html_only=True
        )

    def _duvida_encaminhada(self, index: int, kind: str, person: _Person) -> Generated:
        question = f"Boa tarde,\n\n{self._pick(_QUESTIONS)}\n\n{person.name}\n"
        body = (
            "Encaminho a dúvida abaixo para registro.\n\n"
            "---------- Mensagem encaminhada ---------\n"
            f"De: {person.name} <{person.email}>\n"
            "Data: qua., 18 de nov. de 2026 às 10:12\n"
            "Assunto: Dúvida sobre o cadastro de fornecedores\n"
            f"Para: <{REDECOMPRAS}>\n\n{question}"
        )
        forwarder = _Person("Redecompras", REDECOMPRAS, "planejamento")
        subject = "ENC: Dúvida sobre o cadastro de fornecedores"
        return self._build(index, kind, forwarder, subject, body)

    def _cadastro(self, index: int, kind: str, person: _Person) -> Generated:
        body = (
            "Prezados,\n\nSolicito a alteração abaixo.\n\n"
            f"CPF: {_cpf(self._rng)}\nUASG: {self._uasg()}\n"
            "Descrição: inclusão do perfil de acesso de pregoeiro para a servidora indicada, "
            "que assumiu a função nesta semana.\n\n" + self._sign(person)
        )
        return self._build(index, kind, person, "Alteração de cadastro de usuário", body)

    def _fora_do_escritorio(self, index: int, kind: str, person: _Person) -> Generated:
        body = (
            "Estou fora do escritório até 30/11, sem acesso ao e-mail. Em caso de urgência, "
            "ligue para (21) 2222-3333.\n"
        )
        subject = f"Resposta automática: {self._pick(_ERROR_SUBJECTS)}"
        headers = {"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"}
        return self._build(index, kind, person, subject, body, headers=headers, reply=False)

    def _sem_tema(self, index: int, kind: str, person: _Person) -> Generated:
        body = f"Olá, preciso de ajuda com o sistema.\n\n{self._sign(person)}"
        return self._build(index, kind, person, "Pedido", body)

    def _reply(self, index: int, pending: _Pending) -> Generated:
        person, rng = pending.person, self._rng
        quoted = "\n".join(
            f"> {line}"
            for line in ("Prezado(a),", "", "Para registrar o seu chamado, faltam:", "...")
        )
        files: list[tuple[str, bytes]] = []
        if pending.missing == "print":
            text = "Segue o print da tela com o erro."
            files.append(self._screenshot())
        elif pending.missing == "passos":
            text = (
                "Passo a passo: entrei no Compras.gov.br, abri o módulo, selecionei o processo "
                f"{rng.randint(10000, 99999)}/2026 e cliquei em Enviar; a tela ficou em branco."
            )
        else:
            text = f"CNPJ: {_cnpj(rng, valid=True)}\nSegue o CNPJ corrigido."
        body = (
            f"Bom dia,\n\n{text}\n\n{self._sign(person)}\n"
            f"Em sex., 20 de nov. de 2026 às 09:04, Central de Atendimento <{SUPPORT}> "
            f"escreveu:\n{quoted}\n"
        )
        headers = {"In-Reply-To": pending.message_id, "References": pending.message_id}
        subject = f"RE: {pending.subject}"
        return self._build(index, "resposta", person, subject, body, files, headers=headers)

    # -- helpers --------------------------------------------------------------------------

    def _build(
        self,
        index: int,
        kind: str,
        person: _Person,
        subject: str,
        body: str,
        files: list[tuple[str, bytes]] | None = None,
        *,
        headers: dict[str, str] | None = None,
        html_only: bool = False,
        reply: bool = True,
    ) -> Generated:
        rng = self._rng
        message_id = f"<{self._tag}.{index}.{rng.getrandbits(40):x}@{person.org}.rj.gov.br>"
        msg = EmailMessage()
        # As the desk's receiving server hands mail on (Postfix with OpenDKIM/OpenDMARC): the
        # sender's domain passed DMARC. Without it a forward would not count as Redecompras'
        # and copies would not join their tickets (docs/security.md).
        domain = person.email.rpartition("@")[2]
        msg["Authentication-Results"] = f"{AUTHSERV_ID}; dmarc=pass header.from={domain}"
        msg["From"] = f"{person.name} <{person.email}>"
        msg["To"] = SUPPORT
        if rng.random() < 0.15:
            msg["Cc"] = f"{self._pick(self._people).email}"
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self._clock.astimezone(_BRT))
        msg["Message-ID"] = message_id
        msg["X-Mailer"] = self._pick(_MAILERS)
        for name, value in (headers or {}).items():
            msg[name] = value
        charset = rng.choices([c for c, _ in _CHARSETS], [w for _, w in _CHARSETS])[0]
        if charset == "windows-1252":
            body = body.replace("Prezados,", "Prezados, “urgente” –", 1)
        if html_only:
            html = _html(body, charset)
            msg.set_content(html, subtype="html", charset=charset, cte=_cte(rng))
        else:
            msg.set_content(body, charset=charset, cte=_cte(rng))
            if rng.random() < 0.35:  # Outlook/Gmail: text and HTML alternatives
                msg.add_alternative(_html(body, "utf-8"), subtype="html", charset="utf-8")
        for filename, data in files or []:
            msg.add_attachment(data, maintype="image", subtype="png", filename=filename)
        return Generated(index, kind, msg.as_bytes(policy=SMTP), message_id, reply)

    def _wait_reply(self, person: _Person, subject: str, made: Generated, missing: str) -> None:
        if self._rng.random() < _REPLY_SHARE:
            self._pending.append(_Pending(person, subject, made.message_id, missing))

    def _error_body(self, person: _Person, steps: bool) -> str:
        rng = self._rng
        lines = [
            "Bom dia,",
            "",
            "O SIASG apresenta erro ao concluir a operação. " + self._pick(_FILLER),
            "",
            f"UASG: {self._uasg()}",
            f"Módulo: {self._pick(_MODULES)}",
            f"Data e hora do erro: {rng.randint(1, 28):02d}/11/2026 às "
            f"{rng.randint(8, 18)}h{rng.randint(0, 59):02d}",
            f"Mensagem de erro: {self._pick(_ERRORS)}",
        ]
        if steps:
            lines.append(
                "Passo a passo: Entrei no Compras.gov.br, abri o módulo, selecionei o pregão "
                f"{rng.randint(10000, 99999)}/2026 e cliquei em Publicar; a tela ficou em branco."
            )
        lines += ["", self._pick(_FILLER), "", self._sign(person)]
        return "\n".join(lines)

    def _reactivation_body(self, person: _Person, cnpj: str) -> str:
        return (
            "Senhores,\n\nSolicitamos a reativação da UASG abaixo.\n\n"
            f"UASG: {self._uasg()}\nÓrgão/Entidade: Secretaria de Estado de {person.org.title()}\n"
            f"CNPJ: {cnpj}\nEndereço: Rua da Assembleia, {self._rng.randint(1, 300)}, Centro, "
            "Rio de Janeiro - RJ\nTelefone: (21) 2333-4455\n"
            "Motivo: A unidade voltará a realizar compras em 2027 e precisa do acesso.\n\n"
            + self._sign(person)
        )

    def _screenshot(self) -> tuple[str, bytes]:
        rng = self._rng
        size = int(min(max(rng.lognormvariate(0, _PNG_SIGMA) * _PNG_MEDIAN, _PNG_RANGE[0]),
                       _PNG_RANGE[1]))  # fmt: skip
        name = self._pick(("print-erro.png", "tela.png", "captura de tela.png", "image001.png"))
        return name, png(size, rng)

    def _sign(self, person: _Person) -> str:
        ext = f"{self._rng.randint(0, 9999):04d}"
        return _SIGNATURE.format(name=person.name, org_title=person.org.upper(), ext=ext)

    def _uasg(self) -> str:
        return f"{self._rng.randint(920000, 989999)}"

    def _pick(self, items: tuple[T, ...] | list[T]) -> T:
        return self._rng.choice(items)


_MAILERS = ("Microsoft Outlook 16.0", "Zimbra 8.8.15", "Thunderbird 115.5", "Roundcube 1.6")


def _address(first: str, last: str, org: str) -> str:
    plain = (first + "." + last).lower()
    for accented, ascii_ in zip("áâãàéêíóôõúç", "aaaaeeiooouc", strict=True):
        plain = plain.replace(accented, ascii_)
    return f"{plain}@{org}.rj.gov.br"


def _html(text: str, charset: str) -> str:
    paragraphs = "".join(
        f'<p style="font-family:Calibri,sans-serif">{p.replace(chr(10), "<br>")}</p>'
        for p in text.split("\n\n")
    )
    head = f'<head><meta http-equiv="Content-Type" content="text/html; charset={charset}"></head>'
    return f"<html>{head}<body>{paragraphs}</body></html>"


def _cte(rng: random.Random) -> str:
    return rng.choice(("quoted-printable", "quoted-printable", "8bit", "base64"))


def _digits_check(numbers: list[int], weights: list[int]) -> int:
    rest = sum(n * w for n, w in zip(numbers, weights, strict=True)) % 11
    return 0 if rest < 2 else 11 - rest


def _cnpj(rng: random.Random, *, valid: bool) -> str:
    base = [rng.randint(0, 9) for _ in range(8)] + [0, 0, 0, 1]
    first = _digits_check(base, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    second = _digits_check([*base, first], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    if not valid:
        second = (second + 1) % 10
    d = "".join(map(str, [*base, first, second]))
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


def _cpf(rng: random.Random) -> str:
    base = [rng.randint(0, 9) for _ in range(9)]
    first = _digits_check(base, list(range(10, 1, -1)))
    second = _digits_check([*base, first], list(range(11, 1, -1)))
    d = "".join(map(str, [*base, first, second]))
    return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"


def big_message(size: int, seed: int = 2026) -> Generated:
    """A complete error report of about ``size`` bytes: a screenshot and a scanned PDF."""
    rng = random.Random(seed)
    generator = MailGenerator(seed, domain_tag="big")
    person = generator._people[0]
    msg = EmailMessage()
    msg["From"] = f"{person.name} <{person.email}>"
    msg["To"] = SUPPORT
    msg["Subject"] = "Erro ao anexar processo digitalizado no SIASG"
    msg["Date"] = "Fri, 20 Nov 2026 09:00:00 -0300"
    message_id = f"<big.{rng.getrandbits(40):x}@{person.org}.rj.gov.br>"
    msg["Message-ID"] = message_id
    msg.set_content(generator._error_body(person, steps=True))
    msg.add_attachment(png(60_000, rng), maintype="image", subtype="png", filename="erro.png")
    overhead = len(msg.as_bytes(policy=SMTP)) + 400
    # base64 with CRLF line ends: 78 bytes on the wire for each 57 of content.
    pdf_size = max(0, (size - overhead) * 57 // 78)
    pdf = b"%PDF-1.4\n" + rng.randbytes(max(0, pdf_size - 9))
    msg.add_attachment(
        pdf, maintype="application", subtype="pdf", filename="processo-digitalizado.pdf"
    )
    return Generated(0, "grande", msg.as_bytes(policy=SMTP), message_id, True)
