"""The realistic corpus (issue #17, item 6): mail as servidores of the state really write it.

Each case is a function of a ``Step`` (its fixed date, and for a conversation the code of the
ticket its first mail opened) returning raw bytes. Cases run in the order they are listed;
the expected outcome of each is in ``expected.toml``, written before the first run.

    python3 -m tests.realmail.build [FOLDER]   writes every case as FOLDER/<id>.eml
                                               (conversation steps with code 2026-000123)
"""

# ruff: noqa: E501 -- mail text reads as people wrote it: one sentence, one line

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.realmail import images as im
from tests.realmail.clients import CLIENTS, thunderbird
from tests.realmail.mime import (
    Letter,
    Part,
    Picture,
    digest,
    envelope,
    finish,
    multipart,
    text_part,
)

Build = Callable[["Step"], bytes]
REDECOMPRAS = ("Redecompras", "redecompras@planejamento.rj.gov.br")


@dataclass(frozen=True)
class Case:
    """One mail of the corpus: its id, the client that wrote it, the kind of understanding
    it tests (print, answers, theme, conversation, notice, machine) and its thread."""

    id: str
    client: str
    kind: str
    build: Build
    thread: str | None = None


@dataclass(frozen=True)
class Step:
    """What a case's builder may know: its date and, in a thread, the ticket code."""

    case: Case
    date: str
    code: str = "2026-000123"

    @property
    def message_id(self) -> str:
        return message_id(self.case.id, self.case.client)


CASES: list[Case] = []


def case(
    id: str, client: str, kind: str, thread: str | None = None, *, into: list[Case] = CASES
) -> Callable[[Build], Build]:
    """Registers a mail's build function as a case of ``into`` (the corpus by default)."""

    def register(build: Build) -> Build:
        into.append(Case(id, client, kind, build, thread))
        return build

    return register


def message_id(case_id: str, client: str) -> str:
    """A fixed Message-ID in the client's own style."""
    token = digest("corpus", case_id, size=20)
    styles = {
        "outlook": f"CP6P284MB{token[:8].upper()}{token[8:12].upper()}@CP6P284MB{token[12:16].upper()}.BRAP284.PROD.OUTLOOK.COM",
        "exchange": f"{token.upper()}@EXCH01.fazenda.rj.gov.br",
        "gmail": f"CAH+{token}Tq{token[:6]}w@mail.gmail.com",
        "thunderbird": f"{token[:8]}-{token[8:12]}-{token[12:16]}-{token[16:20]}@seeduc.rj.gov.br",
        "zimbra": f"{int(token[:8], 16)}.{int(token[8:12], 16)}.1796637600000.JavaMail.zimbra@der.rj.gov.br",
        "iphone": f"{token[:8].upper()}-{token[8:12].upper()}-{token[12:16].upper()}@saude.rj.gov.br",
        "samsung": f"{token}@email.android.com",
        "scanner": f"RICOH{token[:12].upper()}@scanner.seplag.rj.gov.br",
    }
    return styles[client]


def date_of(number: int) -> str:
    """Monday 7 December 2026, one mail every two minutes from 08:00 (Rio, -0300)."""
    minutes = 8 * 60 + 2 * number
    return f"Mon, 07 Dec 2026 {minutes // 60:02d}:{minutes % 60:02d}:00 -0300"


def steps(
    codes: dict[str, str] | None = None,
    cases: Sequence[Case] = CASES,
    dated: Callable[[int], str] = date_of,
) -> list[Step]:
    """Every case with its date; ``codes`` gives each thread's ticket code once known."""
    found = codes or {}
    return [
        Step(c, dated(n), found.get(c.thread or "", "2026-000123")) for n, c in enumerate(cases)
    ]


# --- Pictures ----------------------------------------------------------------------------


def png(name: str, message: str = "Erro interno no servidor (código 500)") -> Picture:
    return Picture(name, "image/png", im.screenshot(message))


def jpeg(name: str, message: str = "Erro interno no servidor (código 500)") -> Picture:
    return Picture(name, "image/jpeg", im.screenshot(message, fmt="JPEG"))


BRASAO = Picture("image001.png", "image/png", im.brasao())
BANNER = Picture("image002.png", "image/png", im.banner())
SPACER = Picture("image003.gif", "image/gif", im.spacer_gif())
LOGOS = (BRASAO, BANNER)
OUTLOOK_SIGNATURE_MARKS = "{img:image001.png}\n{img:image002.png}"


# --- What people write --------------------------------------------------------------------

STEPS = (
    "Acessei o Compras.gov.br, entrei em Divulgação de Compras, informei o número do "
    "pregão e cliquei em Publicar; a tela mostrou a mensagem de erro."
)


def answers(
    style: str = "colon",
    *,
    uasg: str = "160123",
    modulo: str = "Divulgação de Compras",
    when: str = "07/12/2026 às 09:40",
    message: str = "Erro interno no servidor (código 500)",
    steps_text: str = STEPS,
) -> str:
    """The error questionnaire filled in, in one of the ways people fill it in."""
    labels = {
        "colon": ("UASG", "Módulo", "Data e hora do erro", "Mensagem de erro", "Passo a passo"),
        "variants": ("Nº da UASG", "MODULO DO SISTEMA", "Data/hora", "MENSAGEM EXIBIDA", "Passos"),
        "bold": (
            "*UASG:*",
            "*Módulo:*",
            "*Data e hora do erro:*",
            "*Mensagem de erro:*",
            "*Passo a passo:*",
        ),
    }
    values = (uasg, modulo, when, message, steps_text)
    if style == "dash":
        return "\n".join(f"{a} - {b}" for a, b in zip(labels["colon"], values, strict=True))
    if style == "equals":
        return "\n".join(f"{a} = {b}" for a, b in zip(labels["colon"], values, strict=True))
    if style == "nextline":
        return "\n\n".join(f"{a}:\n{b}" for a, b in zip(labels["colon"], values, strict=True))
    if style == "bold":
        return "\n".join(f"{a} {b}" for a, b in zip(labels["bold"], values, strict=True))
    names = labels[style]
    return "\n".join(f"{a}: {b}" for a, b in zip(names, values, strict=True))


def outlook_signature(name: str, post: str, body: str, phone: str = "(21) 2334-5678") -> str:
    return f"Atenciosamente,\n\n{name}\n{post}\n{body}\nTel.: {phone}\n{OUTLOOK_SIGNATURE_MARKS}"


def outlook_quote(
    name: str,
    mailbox: str,
    when: str,
    subject: str,
    text: str,
    to: str = "Suporte Compras RJ <suporte@compras.example.gov.br>",
) -> str:
    return (
        f"\n________________________________\nDe: {name} <{mailbox}>\nEnviado em: {when}\n"
        f"Para: {to}\nAssunto: {subject}\n\n{text}"
    )


def letter(step: Step, sender: tuple[str, str], subject: str, body: str, **fields: Any) -> Letter:
    return Letter(
        sender=sender,
        subject=subject,
        body=body,
        date=step.date,
        message_id=step.message_id,
        **fields,
    )


def write(step: Step, sender: tuple[str, str], subject: str, body: str, **fields: Any) -> bytes:
    return CLIENTS[step.case.client](letter(step, sender, subject, body, **fields))


def desk_reply(step: Step, thread_first: str) -> dict[str, Any]:
    """A reply to the desk's notice about the thread's ticket: to its signed Reply-To, in
    reply to (and referencing) the first mail."""
    from tests.threads import signed  # the desk's key: imports the app, so only when needed

    first = next(c for c in CASES if c.id == thread_first)
    original = message_id(first.id, first.client)
    return {
        "to": (("Central de Atendimento Compras RJ", signed(step.code)),),
        "in_reply_to": original,
        "references": (original,),
    }


# =========================================================================================
# Outlook / Exchange
# =========================================================================================

JOAO = ("João Carlos Souza", "joao.souza@seplag.rj.gov.br")


@case("o01-erro-completo-anexo", "outlook", "print")
def _(s: Step) -> bytes:
    body = (
        "Prezados, bom dia.\n\nSegue o relato do erro no SIASG, conforme solicitado.\n\n"
        f"{answers()}\n\nSegue em anexo o print da tela.\n\n"
        + outlook_signature(*JOAO[:1], "Assessor de Compras", "SEPLAG/SUBCOMP")
    )
    return write(
        s,
        JOAO,
        "Erro ao publicar aviso no SIASG",
        body,
        charset="windows-1252",
        inline=LOGOS,
        attachments=(png("Captura de tela 2026-12-07 094112.png"),),
    )


@case("o02-print-colado", "outlook", "print")
def _(s: Step) -> bytes:
    sender = ("Márcia Helena Antunes", "marcia.antunes@sefaz.rj.gov.br")
    body = (
        "Bom dia,\n\nAo tentar publicar o aviso apareceu o erro abaixo:\n\n{img:image003.png}\n\n"
        + answers(uasg="925014")
        + "\n\n"
        + outlook_signature(sender[0], "Pregoeira", "SEFAZ - Superintendência de Compras")
    )
    return write(
        s,
        sender,
        "Erro na publicação do aviso",
        body,
        charset="windows-1252",
        inline=(*LOGOS, png("image003.png")),
    )


@case("o03-so-assinatura", "outlook", "print")
def _(s: Step) -> bytes:
    sender = ("Roberto Fonseca", "roberto.fonseca@seplag.rj.gov.br")
    body = (
        "Bom dia,\n\nO SIASG apresenta erro ao publicar o aviso.\n\n"
        + answers(uasg="160456")
        + "\n\nAtt.,\n\nRoberto Fonseca\nCoordenador de Licitações\nSEPLAG\n"
        "{img:image003.gif}\n" + OUTLOOK_SIGNATURE_MARKS
    )
    return write(s, sender, "Erro no SIASG", body, charset="windows-1252", inline=(*LOGOS, SPACER))


@case("o04-print-no-word", "outlook", "print")
def _(s: Step) -> bytes:
    sender = ("Patrícia Lemos", "patricia.lemos@seeduc.rj.gov.br")
    doc = im.docx_with_print(
        "Erro ao homologar", im.screenshot("Não foi possível homologar o item.")
    )
    body = (
        "Prezados,\n\nSegue em anexo documento com o print do erro.\n\n"
        + answers(
            uasg="153210",
            modulo="Pregão",
            message="Não foi possível homologar o item.",
            steps_text="Abri o pregão 45/2026, fui em Adjudicar/Homologar, selecionei o item 3 e cliquei em Homologar.",
        )
        + "\n\n"
        + outlook_signature(sender[0], "Agente de Contratação", "SEEDUC")
    )
    word = Picture(
        "Erro ao homologar – SIASG.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        doc,
    )
    return write(
        s,
        sender,
        "Erro ao homologar pregão",
        body,
        charset="windows-1252",
        inline=LOGOS,
        attachments=(word,),
    )


@case("o05-rotulos-variantes", "outlook", "answers")
def _(s: Step) -> bytes:
    sender = ("Fernando Albuquerque", "fernando.albuquerque@detran.rj.gov.br")
    body = (
        "Senhores,\n\nInformo erro no sistema.\n\n"
        + answers("variants", uasg="926543")
        + "\n\nPrint em anexo.\n\n"
        + outlook_signature(sender[0], "Chefe de Serviço", "DETRAN-RJ")
    )
    return write(
        s,
        sender,
        "Erro no empenho - SIASG",
        body,
        charset="iso-8859-1",
        inline=LOGOS,
        attachments=(png("erro.png", "Falha na comunicação com o SIAFI."),),
    )


@case("o06-rotulo-traco", "outlook", "answers")
def _(s: Step) -> bytes:
    sender = ("Luciana Prado", "luciana.prado@pge.rj.gov.br")
    body = (
        "Boa tarde,\n\n"
        + answers("dash", uasg="927101", when="07/12/2026 às 08h15")
        + "\n\nAtt.\nLuciana Prado\nPGE-RJ\n"
        + OUTLOOK_SIGNATURE_MARKS
    )
    return write(
        s,
        sender,
        "Erro ao publicar aviso de licitação",
        body,
        charset="windows-1252",
        inline=LOGOS,
        attachments=(jpeg("print_erro.jpg"),),
    )


@case("o07-valor-na-linha-seguinte", "outlook", "answers")
def _(s: Step) -> bytes:
    sender = ("Sérgio Ramos", "sergio.ramos@cedae.rj.gov.br")
    body = (
        "Prezados,\n\nSegue o questionário preenchido:\n\n"
        + answers("nextline", uasg="928777")
        + "\n\nGrato,\nSérgio Ramos\n"
        + OUTLOOK_SIGNATURE_MARKS
    )
    return write(
        s,
        sender,
        "Erro no SIASG ao publicar",
        body,
        charset="windows-1252",
        inline=(*LOGOS, png("image004.png")),
        attachments=(png("tela.png"),),
    )


@case("o08-valor-antes-da-assinatura", "outlook", "answers")
def _(s: Step) -> bytes:
    sender = ("Cláudia Meirelles", "claudia.meirelles@faetec.rj.gov.br")
    body = (
        "Prezados,\n\nSolicitamos a reativação da UASG abaixo.\n\n"
        "Órgão/Entidade: Fundação de Apoio à Escola Técnica - FAETEC\n"
        "CNPJ: 11.222.333/0001-81\n"
        "Endereço: Rua Clarimundo de Melo, 847, Quintino Bocaiúva, Rio de Janeiro - RJ, 21311-280\n"
        "Motivo: A fundação voltará a realizar pregões eletrônicos em 2027.\n"
        "Telefone: (21) 2334-5678 ramal 215\n\n"
        "UASG: 160321\n\n"
        "Cláudia Meirelles\nDivisão de Compras\n" + OUTLOOK_SIGNATURE_MARKS
    )
    return write(s, sender, "Reativação de UASG", body, charset="windows-1252", inline=LOGOS)


@case("o09-uasg-cinco-digitos", "outlook", "answers")
def _(s: Step) -> bytes:
    sender = ("Paulo Henrique Dias", "paulo.dias@ses.rj.gov.br")
    body = (
        "Bom dia,\n\n"
        + answers(uasg="16012")
        + "\n\nPrint em anexo.\n\n"
        + outlook_signature(sender[0], "Analista", "SES-RJ")
    )
    return write(
        s,
        sender,
        "Erro ao publicar aviso",
        body,
        charset="windows-1252",
        inline=LOGOS,
        attachments=(png("print.png"),),
    )


@case("o10-tabela-html", "outlook", "answers")
def _(s: Step) -> bytes:
    sender = ("Ana Beatriz Lopes", "ana.lopes@uerj.br")
    table = (
        ("UASG", "153045"),
        ("Módulo", "SICAF"),
        ("Data e hora do erro", "07/12/2026 09:05"),
        ("Mensagem de erro", "Fornecedor não encontrado na base"),
        (
            "Passo a passo",
            "Entrei no SICAF, pesquisei o CNPJ do fornecedor e cliquei em Consultar.",
        ),
    )
    body = (
        "Prezados,\n\nSegue abaixo as informações do erro:\n\n{table}\n\n"
        "Cordialmente,\nAna Beatriz Lopes\nUERJ\n" + OUTLOOK_SIGNATURE_MARKS
    )
    return write(
        s,
        sender,
        "ERRO NO SIASG",
        body,
        charset="iso-8859-1",
        table=table,
        inline=(*LOGOS, png("image005.png", "Fornecedor não encontrado na base")),
    )


@case("o11-prosa-ontem", "outlook", "answers")
def _(s: Step) -> bytes:
    sender = ("Marcelo Vieira", "marcelo.vieira@pmerj.rj.gov.br")
    body = (
        "Bom dia,\n\nOntem à tarde, por volta das 16h, ao tentar publicar o aviso do pregão "
        "90012/2026 da UASG 926001, no módulo Divulgação de Compras, o sistema apresentou a "
        'mensagem "Erro interno no servidor (código 500)". Eu entrei no Compras.gov.br, abri '
        "Divulgação de Compras, selecionei o pregão e cliquei em Publicar, e a tela ficou "
        "com essa mensagem. Segue o print abaixo.\n\n{img:image003.png}\n\n"
        + outlook_signature(sender[0], "Sargento", "PMERJ - Diretoria de Logística")
    )
    return write(
        s,
        sender,
        "Problema na publicação do pregão 90012/2026",
        body,
        charset="windows-1252",
        inline=(*LOGOS, png("image003.png")),
    )


@case("o12-ausencia-sem-auto-submitted", "outlook", "machine")
def _(s: Step) -> bytes:
    sender = ("Renata Guimarães", "renata.guimaraes@seplag.rj.gov.br")
    body = (
        "Estarei ausente do escritório entre 07/12 e 18/12/2026, sem acesso ao e-mail.\n"
        "Assuntos urgentes: compras@seplag.rj.gov.br.\n\nRenata Guimarães"
    )
    return write(
        s,
        sender,
        "Resposta automática: Chamado registrado: Erro no SIASG",
        body,
        charset="windows-1252",
        headers=(("X-Auto-Response-Suppress", "All"),),
    )


@case("o13-reativacao-recibo-leitura", "outlook", "answers")
def _(s: Step) -> bytes:
    sender = ("Eduardo Tavares", "eduardo.tavares@inea.rj.gov.br")
    body = (
        "Prezados,\n\nSolicito a reativação da UASG 927450, inativada por falta de uso.\n\n"
        "UASG: 927450\nÓrgão/Entidade: Instituto Estadual do Ambiente - INEA\n"
        "CNPJ: 10598957000135\nEndereço: Av. Venezuela, 110, Saúde, Rio de Janeiro - RJ\n"
        "Telefone: (21) 2332-4600\n"
        "Motivo: O instituto vai retomar as compras de material de laboratório.\n\n"
        + outlook_signature(sender[0], "Gerente Administrativo", "INEA")
    )
    return write(
        s,
        sender,
        "Reativação da UASG 927450",
        body,
        charset="windows-1252",
        inline=LOGOS,
        headers=(("Disposition-Notification-To", f"{sender[0]} <{sender[1]}>"),),
    )


@case("o14-cnpj-invalido", "outlook", "answers")
def _(s: Step) -> bytes:
    sender = ("Helena Castro", "helena.castro@fsaude.rj.gov.br")
    body = (
        "Prezados,\n\nUASG: 927600\nÓrgão/Entidade: Fundação Saúde do Estado do Rio de Janeiro\n"
        "CNPJ: 11.222.333/0001-82\nEndereço: Av. Padre Leonel Franca, 248, Gávea, Rio de Janeiro - RJ\n"
        "Telefone: (21) 2334-1010\nMotivo: Retomada das compras de insumos hospitalares em 2027.\n\n"
        + outlook_signature(sender[0], "Assessora", "Fundação Saúde")
    )
    return write(s, sender, "Reativar UASG inativa", body, charset="windows-1252", inline=LOGOS)


@case("o15-senha-bloqueada", "outlook", "theme")
def _(s: Step) -> bytes:
    sender = ("Wagner Pires", "wagner.pires@casacivil.rj.gov.br")
    body = (
        "Bom dia,\n\nMinha senha do SIASG foi bloqueada após várias tentativas.\n\n"
        "CPF: 529.982.247-25\nUASG: 925300\nSolicitação: desbloqueio da senha do meu usuário\n\n"
        + outlook_signature(sender[0], "Assistente", "Casa Civil")
    )
    return write(s, sender, "Senha bloqueada", body, charset="windows-1252", inline=LOGOS)


@case("o16-nao-deixa-emitir-empenho", "outlook", "theme")
def _(s: Step) -> bytes:
    sender = ("Simone Bastos", "simone.bastos@sefaz.rj.gov.br")
    body = (
        "Prezados,\n\n{img:image003.png}\n\n"
        + answers(
            uasg="925777",
            modulo="Empenho",
            message="Saldo insuficiente para a operação",
            steps_text="Abri o módulo de empenho, informei a nota de empenho e cliquei em Emitir; o sistema recusou.",
        )
        + "\n\n"
        + outlook_signature(sender[0], "Contadora", "SEFAZ")
    )
    return write(
        s,
        sender,
        "Sistema não deixa emitir empenho",
        body,
        charset="windows-1252",
        inline=(*LOGOS, png("image003.png", "Saldo insuficiente para a operação")),
    )


@case("o17-cc-colega", "outlook", "notice")
def _(s: Step) -> bytes:
    sender = ("Rodrigo Nunes", "rodrigo.nunes@seplag.rj.gov.br")
    body = (
        "Prezados,\n\n"
        + answers(uasg="160789")
        + "\n\nPrint anexo.\n\n"
        + outlook_signature(sender[0], "Pregoeiro", "SEPLAG")
    )
    return write(
        s,
        sender,
        "Erro ao publicar aviso no SIASG",
        body,
        charset="windows-1252",
        cc=(("Tatiana Rocha", "tatiana.rocha@seplag.rj.gov.br"),),
        inline=LOGOS,
        attachments=(png("erro publicar.png"),),
    )


@case("o18-paint-bmp", "outlook", "print")
def _(s: Step) -> bytes:
    sender = ("Jorge Amaral", "jorge.amaral@der.rj.gov.br")
    body = (
        "Bom dia,\n\n"
        + answers(uasg="926210", modulo="Empenho", message="Falha ao gravar o empenho.")
        + "\n\nAtt.,\nJorge Amaral\nDER-RJ"
    )
    return write(
        s,
        sender,
        "Falha ao gravar empenho",
        body,
        charset="iso-8859-1",
        attachments=(Picture("erro.bmp", "image/bmp", im.paint_bmp()),),
    )


@case("o19-print-em-pdf", "exchange", "print")
def _(s: Step) -> bytes:
    sender = ("Beatriz Carvalho", "beatriz.carvalho@fazenda.rj.gov.br")
    body = (
        "Prezados,\n\nSegue o print em PDF.\n\n"
        + answers(uasg="925900", modulo="Pregão")
        + "\n\n"
        + outlook_signature(sender[0], "Pregoeira", "Secretaria de Fazenda")
        + "\n{img:image003.gif}"
    )
    return write(
        s,
        sender,
        "Erro no pregão eletrônico",
        body,
        charset="windows-1252",
        inline=(*LOGOS, SPACER),
        attachments=(Picture("Erro pregão.pdf", "application/pdf", im.pdf_with_print()),),
    )


@case("o20-encaminhado-pela-chefia", "outlook", "conversation")
def _(s: Step) -> bytes:
    sender = ("Carlos Eduardo Mattos", "carlos.mattos@seplag.rj.gov.br")
    original = (
        "Bom dia, chefe.\n\nSegue o erro que ocorreu hoje no SIASG.\n\n"
        + answers(uasg="160555", when="07/12/2026 às 08:50")
        + "\n\nAtt.,\nLúcia Ferraz"
    )
    body = (
        "Prezados, encaminho o relato da servidora Lúcia Ferraz para providências.\n\n"
        + outlook_signature(sender[0], "Superintendente", "SEPLAG/SUBCOMP")
        + outlook_quote(
            "Lúcia Ferraz",
            "lucia.ferraz@seplag.rj.gov.br",
            "segunda-feira, 7 de dezembro de 2026 08:55",
            "Erro ao publicar aviso",
            original,
            to="Carlos Eduardo Mattos <carlos.mattos@seplag.rj.gov.br>",
        )
    )
    return write(
        s,
        sender,
        "ENC: Erro ao publicar aviso",
        body,
        charset="windows-1252",
        inline=LOGOS,
        attachments=(png("print erro aviso.png"),),
    )


@case("o21-mesma-logo-de-antes-1", "exchange", "print")
def _(s: Step) -> bytes:
    sender = ("Vanessa Moura", "vanessa.moura@fsaude.rj.gov.br")
    body = (
        "Prezados,\n\n"
        + answers(uasg="927610", modulo="Pregão", message="Sessão expirada")
        + "\n\nSegue o print em anexo.\n\nAtenciosamente,\nVanessa Moura\nFundação Saúde\n{img:image001.jpg}"
    )
    logo = Picture("image001.jpg", "image/jpeg", im.big_logo())
    return write(
        s,
        sender,
        "Erro no pregão",
        body,
        charset="windows-1252",
        inline=(logo,),
        attachments=(png("print.png", "Sessão expirada"),),
    )


@case("o22-mesma-logo-de-antes-2", "exchange", "print")
def _(s: Step) -> bytes:
    sender = ("Vanessa Moura", "vanessa.moura@fsaude.rj.gov.br")
    body = (
        "Prezados,\n\nOutro erro, agora na IRP.\n\n"
        + answers(
            uasg="927610",
            modulo="IRP",
            message="Item não localizado",
            steps_text="Abri a IRP 12/2026, cliquei em Incluir Item e pesquisei o código do material.",
        )
        + "\n\nAtenciosamente,\nVanessa Moura\nFundação Saúde\n{img:image001.jpg}"
    )
    logo = Picture("image001.jpg", "image/jpeg", im.big_logo())
    return write(s, sender, "Erro na IRP", body, charset="windows-1252", inline=(logo,))


@case("o23-oficio-word-so-brasao", "outlook", "print")
def _(s: Step) -> bytes:
    sender = ("Tereza Quintela", "tereza.quintela@seplag.rj.gov.br")
    doc = im.docx_with_print("OFÍCIO Nº 88/2026 - SEPLAG/SUBCOMP", im.brasao())
    body = (
        "Prezados,\n\nEncaminho o ofício em anexo e relato o erro abaixo.\n\n"
        + answers(uasg="160610")
        + "\n\n"
        + outlook_signature(sender[0], "Diretora", "SEPLAG/SUBCOMP")
    )
    word = Picture(
        "Ofício 88-2026.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        doc,
    )
    return write(
        s,
        sender,
        "Erro ao publicar aviso - ofício",
        body,
        charset="windows-1252",
        inline=LOGOS,
        attachments=(word,),
    )


# =========================================================================================
# Gmail
# =========================================================================================


@case("g01-negrito-imagem-inline", "gmail", "answers")
def _(s: Step) -> bytes:
    sender = ("Juliana Freitas", "juliana.freitas@gmail.com")
    body = (
        "Boa tarde,\n\n" + answers("bold", uasg="926888") + "\n\n{img:image.png}\n\n"
        "--\nJuliana Freitas\nPrefeitura Universitária - UENF"
    )
    return write(s, sender, "Erro ao publicar aviso", body, inline=(png("image.png"),))


@case("g02-assunto-ajuda", "gmail", "theme")
def _(s: Step) -> bytes:
    sender = ("Tiago Barros", "tiago.barros.uezo@gmail.com")
    body = (
        "Olá,\n\nO sistema está dando erro quando tento publicar o aviso.\n\n"
        + answers(uasg="153999")
        + "\n\nSegue print.\n\nAbs,\nTiago"
    )
    return write(s, sender, "Ajuda", body, attachments=(png("Screenshot_20261207-094512.png"),))


@case("g03-sem-assunto-pergunta", "gmail", "theme")
def _(s: Step) -> bytes:
    sender = ("Débora Matos", "debora.matos@seeduc.rj.gov.br")
    body = (
        "Bom dia,\n\nComo incluir a IRP no Compras.gov.br para a compra compartilhada de "
        "material escolar?\n\nDesde já agradeço.\n\nDébora Matos\nSEEDUC"
    )
    return write(s, sender, "", body)


@case("g04-nao-consigo-hoje", "gmail", "theme")
def _(s: Step) -> bytes:
    sender = ("Rafael Cunha", "rafael.cunha@detran.rj.gov.br")
    body = (
        "Bom dia,\n\nHoje às 9h tentei publicar o aviso do pregão 77/2026 e não consegui.\n\n"
        "*UASG:* 926321\n*Módulo:* Divulgação de Compras\n"
        "*Mensagem de erro:* Operação não permitida para o perfil\n"
        "*Passo a passo:* Entrei em Divulgação de Compras, escolhi o pregão 77/2026 e cliquei em Publicar.\n\n"
        "Print em anexo.\n\nAtt.,\nRafael Cunha\nDETRAN-RJ"
    )
    return write(
        s,
        sender,
        "Não consigo publicar o aviso",
        body,
        attachments=(png("image.png", "Operação não permitida para o perfil"),),
    )


@case("g05-redecompras-encaminha", "gmail", "conversation")
def _(s: Step) -> bytes:
    body = (
        "Prezados, segue a dúvida do servidor para atendimento.\n\n"
        "---------- Forwarded message ---------\n"
        "De: Henrique Salles <henrique.salles@fia.rj.gov.br>\n"
        "Date: seg., 7 de dez. de 2026 às 08:31\nSubject: Dúvida sobre adesão à ata\n"
        "To: <redecompras@planejamento.rj.gov.br>\n\n"
        "Bom dia. Como faço para aderir a uma ata de registro de preços de outro órgão no "
        "Compras.gov.br?\n\nAtt.,\nHenrique Salles\nFIA-RJ\n"
    )
    return write(s, REDECOMPRAS, "Fwd: Dúvida sobre adesão à ata", body)


@case("g06-urgente-sozinho", "gmail", "conversation")
def _(s: Step) -> bytes:
    sender = ("Cristiane Alves", "cristiane.alves@ipem.rj.gov.br")
    return write(s, sender, "Urgente!!!", "Urgente!!!\n\nCristiane\nIPEM-RJ")


@case("g07-problema-senha", "gmail", "theme")
def _(s: Step) -> bytes:
    sender = ("Leandro Souto", "leandro.souto@ceperj.rj.gov.br")
    body = (
        "Boa tarde,\n\nMeu acesso ao Compras.gov.br está bloqueado e preciso de um novo "
        "perfil de pregoeiro.\n\nCPF: 111.444.777-35\nUASG: 926700\n"
        "Solicitação: desbloqueio do acesso e inclusão do perfil de pregoeiro\n\nAtt,\nLeandro"
    )
    return write(s, sender, "Problema", body)


@case("g08-foto-da-tela", "gmail", "print")
def _(s: Step) -> bytes:
    sender = ("Mônica Ribeiro", "monica.ribeiro@iterj.rj.gov.br")
    body = (
        "Bom dia, tirei uma foto da tela com o erro.\n\n"
        + answers("bold", uasg="927321", message="Sessão expirada. Acesse novamente.")
        + "\n\nObrigada,\nMônica"
    )
    photo = Picture("IMG_20261207_094233.jpg", "image/jpeg", im.phone_photo())
    return write(s, sender, "erro siasg", body, attachments=(photo,))


@case("g09-pregao-travado", "gmail", "theme")
def _(s: Step) -> bytes:
    sender = ("Alexandre Pinto", "alexandre.pinto@seap.rj.gov.br")
    body = (
        "Prezados,\n\nA sessão do pregão travou na fase de lances.\n\n"
        + answers(
            uasg="926450",
            modulo="Pregão",
            message="A sessão não responde",
            steps_text="Abri a sessão pública do pregão 31/2026, iniciei a fase de lances e a tela parou de atualizar.",
        )
        + "\n\nAtt.\nAlexandre Pinto"
    )
    return write(
        s, sender, "Pregão travado", body, attachments=(png("image.png", "A sessão não responde"),)
    )


@case("g10-fornecedor-sicaf", "gmail", "theme")
def _(s: Step) -> bytes:
    sender = ("Comercial Alfa Suprimentos", "comercial@alfasuprimentos.com.br")
    body = (
        "Boa tarde,\n\nSomos uma empresa fornecedora. Como faço para me cadastrar no SICAF "
        "para participar dos pregões do Estado?\n\nAtenciosamente,\nEquipe Comercial\n"
        "Alfa Suprimentos Ltda"
    )
    return write(s, sender, "Cadastro de fornecedor", body)


@case("g11-so-logo-pequena", "gmail", "print")
def _(s: Step) -> bytes:
    sender = ("Gustavo Lima", "gustavo.lima@rioprevidencia.rj.gov.br")
    body = (
        "Bom dia,\n\n" + answers("bold", uasg="926990") + "\n\n--\nGustavo Lima\n"
        "Rioprevidência\n{img:logo_rioprev.png}"
    )
    logo = Picture("logo_rioprev.png", "image/png", im.brasao(120, 40))
    return write(s, sender, "Erro ao publicar aviso", body, inline=(logo,))


@case("g12-rotulo-igual", "gmail", "answers")
def _(s: Step) -> bytes:
    sender = ("Priscila Araújo", "priscila.araujo@proderj.rj.gov.br")
    body = "Olá,\n\n" + answers("equals", uasg="926111") + "\n\nAbraço,\nPriscila"
    return write(s, sender, "Erro na divulgação de compras", body, attachments=(png("print.png"),))


@case("g13-tabela-reativacao", "gmail", "answers")
def _(s: Step) -> bytes:
    sender = ("Otávio Reis", "otavio.reis@emop.rj.gov.br")
    table = (
        ("UASG", "927812"),
        ("Órgão/Entidade", "Empresa de Obras Públicas do Estado do RJ - EMOP"),
        ("CNPJ", "11.222.333/0001-81"),
        ("Endereço", "Rua da Ajuda, 5, Centro, Rio de Janeiro - RJ"),
        ("Telefone", "(21) 2333-9090"),
        ("Motivo", "A EMOP voltará a licitar obras pelo Compras.gov.br em 2027."),
    )
    body = "Prezados,\n\nSolicitamos a reativação da nossa UASG:\n\n{table}\n\nAtt.,\nOtávio Reis"
    return write(s, sender, "Reativação de UASG", body, table=table)


@case("g14-passos-curtos", "gmail", "answers")
def _(s: Step) -> bytes:
    sender = ("Flávia Moreira", "flavia.moreira@jucerja.rj.gov.br")
    body = "Bom dia,\n\n" + answers(uasg="927222", steps_text="cliquei") + "\n\nFlávia"
    return write(s, sender, "Erro ao publicar aviso", body, attachments=(png("print.png"),))


@case("g15-duvida-sem-tema-claro", "gmail", "theme")
def _(s: Step) -> bytes:
    sender = ("Mariana Queiroz", "mariana.queiroz@ioerj.rj.gov.br")
    body = "Bom dia,\n\nSegue em anexo.\n\nAtt.,\nMariana"
    return write(
        s,
        sender,
        "Documento",
        body,
        attachments=(Picture("oficio.pdf", "application/pdf", im.scanned_page()),),
    )


@case("g16-fico-no-aguardo", "gmail", "answers")
def _(s: Step) -> bytes:
    sender = ("Lorena Batista", "lorena.batista@seplag.rj.gov.br")
    body = (
        "Bom dia,\n\n"
        + answers(
            uasg="160620",
            steps_text="Entrei em Divulgação de Compras, abri o pregão 12/2026 e cliquei em Publicar.",
        )
        + "\nFico no aguardo.\nLorena Batista\nSEPLAG"
    )
    return write(s, sender, "Erro ao publicar aviso", body, attachments=(png("print.png"),))


# =========================================================================================
# Thunderbird
# =========================================================================================


@case("t01-flowed-rfc2231", "thunderbird", "print")
def _(s: Step) -> bytes:
    sender = ("Isabela Rangel", "isabela.rangel@seeduc.rj.gov.br")
    body = (
        "Bom dia,\n\nO SIASG apresentou erro ao publicar o aviso do pregão 88/2026 da "
        "coordenação regional, conforme as informações abaixo, que preenchi com cuidado.\n\n"
        + answers(uasg="153777")
        + "\n\nAtenciosamente,\nIsabela Rangel\nSEEDUC - Coordenação Regional"
    )
    return write(
        s,
        sender,
        "Erro ao publicar aviso",
        body,
        attachments=(png("captura de tela – erro ao publicar.png"),),
    )


@case("t02-latin1-traco-reativacao", "thunderbird", "answers")
def _(s: Step) -> bytes:
    sender = ("Mário Peçanha", "mario.pecanha@drm.rj.gov.br")
    body = (
        "Prezados,\n\nUASG - 927333\nÓrgão/Entidade - Departamento de Recursos Minerais\n"
        "CNPJ - 11.222.333/0001-81\nEndereço - Rua Marechal Deodoro, 351, Centro, Niterói - RJ\n"
        "Telefone - (21) 2717-3030\nMotivo - Retomada das aquisições de equipamentos de campo.\n\n"
        "Att.,\nMário Peçanha"
    )
    return write(s, sender, "Reativação de UASG", body, charset="iso-8859-1")


@case("t03-redecompras-anexa-original", "thunderbird", "conversation")
def _(s: Step) -> bytes:
    original = Letter(
        sender=("Sandra Coutinho", "sandra.coutinho@ses.rj.gov.br"),
        subject="Dúvida sobre dispensa eletrônica",
        date="Mon, 07 Dec 2026 08:20:00 -0300",
        message_id="a1b2c3d4-0001-4000-8000-corpus@ses.rj.gov.br",
        to=(REDECOMPRAS,),
        vouched=False,
        body=(
            "Bom dia,\n\nComo proceder para publicar uma dispensa eletrônica no "
            "Compras.gov.br?\n\nGrata,\nSandra Coutinho\nSES-RJ"
        ),
    )
    inner = thunderbird(original).split(b"\r\n", 1)[1]  # without our Received header
    body = "Prezados,\n\nEncaminho a dúvida da servidora Sandra, em anexo.\n\nRedecompras"
    return thunderbird(
        letter(s, REDECOMPRAS, "Fwd: Dúvida sobre dispensa eletrônica", body),
        forwarded=inner,
        forwarded_name="Dúvida sobre dispensa eletrônica.eml",
    )


@case("t04-sugestao-melhoria", "thunderbird", "theme")
def _(s: Step) -> bytes:
    sender = ("Daniel Xavier", "daniel.xavier@seplag.rj.gov.br")
    body = (
        "Olá,\n\nGostaria de sugerir uma melhoria: a tela de pesquisa de pregões poderia "
        "permitir filtrar pela UASG e pela data de abertura, e exportar o resultado em "
        "planilha.\n\nAtt.,\nDaniel"
    )
    return write(s, sender, "Ideia para o sistema", body)


@case("t05-ativar-uasg", "thunderbird", "theme")
def _(s: Step) -> bytes:
    sender = ("Lúcio Bittencourt", "lucio.bittencourt@fundenor.rj.gov.br")
    body = (
        "Prezados,\n\nPrecisamos ativar novamente a nossa unidade.\n\nUASG: 927999\n"
        "Órgão/Entidade: Fundação Norte Fluminense de Desenvolvimento Regional\n"
        "CNPJ: 11.222.333/0001-81\nEndereço: Av. Alberto Torres, 371, Centro, Campos dos Goytacazes - RJ\n"
        "Telefone: (22) 2726-1200\nMotivo: A fundação voltará a comprar pelo sistema no próximo exercício.\n\n"
        "Att.,\nLúcio"
    )
    return write(s, sender, "Ativar UASG 927999", body)


@case("t06-documento-odt", "thunderbird", "print")
def _(s: Step) -> bytes:
    sender = ("Regina Falcão", "regina.falcao@ierj.rj.gov.br")
    odt = im.odt_with_print("Print do erro", im.screenshot("Erro ao gerar a ata"))
    body = (
        "Boa tarde,\n\n"
        + answers(
            uasg="927444",
            modulo="Pregão",
            message="Erro ao gerar a ata",
            steps_text="Encerrei a sessão do pregão 19/2026 e cliquei em Gerar Ata; o sistema mostrou o erro.",
        )
        + "\n\nO print está no documento anexo.\n\nAtt.,\nRegina"
    )
    doc = Picture("print do erro.odt", "application/vnd.oasis.opendocument.text", odt)
    return write(s, sender, "Erro ao gerar ata", body, attachments=(doc,))


@case("t07-tel-fone-ramal-cnpj-do-orgao", "thunderbird", "answers")
def _(s: Step) -> bytes:
    sender = ("Vítor Sampaio", "vitor.sampaio@cehab.rj.gov.br")
    body = (
        "Prezados,\n\nSolicitamos a reativação da UASG da CEHAB.\n\nCód. UASG: 927555\n"
        "Órgão: Companhia Estadual de Habitação do Rio de Janeiro\nCNPJ do órgão: 11.222.333/0001-81\n"
        "Endereço: Av. Erasmo Braga, 118, Centro, Rio de Janeiro - RJ\nFone/Ramal: (21) 2334-5678 ramal 215\n"
        "Motivo: Retomada de licitações de obras habitacionais em 2027.\n\nAt.te,\nVítor Sampaio"
    )
    return write(s, sender, "Reativação de UASG", body)


@case("t08-cpf-invalido", "thunderbird", "answers")
def _(s: Step) -> bytes:
    sender = ("Nelson Brito", "nelson.brito@seplag.rj.gov.br")
    body = (
        "Prezados,\n\nSolicito alteração de cadastro de usuário.\n\nCPF: 123.456.789-00\n"
        "UASG: 160123\nSolicitação: inclusão do perfil de gestor de atas\n\nAtt.,\nNelson"
    )
    return write(s, sender, "Alteração de cadastro de usuário", body)


@case("t09-assunto-duvida", "thunderbird", "theme")
def _(s: Step) -> bytes:
    sender = ("Camila Torres", "camila.torres@fiperj.rj.gov.br")
    body = (
        "Bom dia,\n\nComo proceder para incluir novos itens em uma IRP já divulgada?\n\n"
        "Grata,\nCamila Torres"
    )
    return write(s, sender, "Dúvida", body)


@case("t10-cnpj-alfanumerico", "thunderbird", "answers")
def _(s: Step) -> bytes:
    sender = ("Gilberto Sá", "gilberto.sa@codin.rj.gov.br")
    body = (
        "Prezados,\n\nUASG: 927160\nÓrgão/Entidade: Companhia de Desenvolvimento Industrial - CODIN\n"
        "CNPJ: 12.ABC.345/01DE-35\nEndereço: Av. Rio Branco, 143, Centro, Rio de Janeiro - RJ\n"
        "Telefone: (21) 2334-7100\nMotivo: A companhia voltará a comprar pelo Compras.gov.br em 2027.\n\n"
        "Respeitosamente,\nGilberto Sá"
    )
    return write(s, sender, "Reativação de UASG", body)


# =========================================================================================
# Zimbra / Expresso
# =========================================================================================


@case("z01-html-base64-anexo", "zimbra", "print")
def _(s: Step) -> bytes:
    sender = ("Ricardo Gomes", "ricardo.gomes@der.rj.gov.br")
    body = (
        "Prezados,\n\n" + answers(uasg="926060") + "\n\nAnexo o print.\n\nAtenciosamente,\n"
        "Ricardo Gomes\nDER-RJ"
    )
    return write(s, sender, "Erro ao publicar aviso", body, attachments=(png("print-erro.png"),))


@case("z02-tabela-latin1", "zimbra", "answers")
def _(s: Step) -> bytes:
    sender = ("Sônia Mendes", "sonia.mendes@der.rj.gov.br")
    table = (
        ("Código da UASG", "927070"),
        ("Órgão/Entidade", "Departamento de Estradas de Rodagem - DER-RJ"),
        ("CNPJ", "11222333000181"),
        ("Endereço", "Av. Presidente Vargas, 1100, Centro, Rio de Janeiro - RJ"),
        ("Telefone", "(21) 2332-5500 ramal 310"),
        ("Motivo", "Reativação para licitar a manutenção de rodovias em 2027."),
    )
    body = (
        "Prezados,\n\nSolicitamos a reativação da UASG:\n\n{table}\n\nAtenciosamente,\nSônia Mendes"
    )
    return write(s, sender, "Reativação de UASG", body, table=table, charset="iso-8859-1")


@case("z03-chefia-encaminha-duvida", "zimbra", "conversation")
def _(s: Step) -> bytes:
    sender = ("Antônio Cerqueira", "antonio.cerqueira@der.rj.gov.br")
    body = (
        "Prezados, encaminho a dúvida da equipe.\n\n----- Mensagem encaminhada -----\n"
        'De: "Bruna Lacerda" <bruna.lacerda@der.rj.gov.br>\n'
        'Para: "Antônio Cerqueira" <antonio.cerqueira@der.rj.gov.br>\n'
        "Enviadas: Segunda-feira, 7 de dezembro de 2026 8:40:12\nAssunto: Dúvida sobre pesquisa de preços\n\n"
        "Chefe, como fazer a pesquisa de preços pelo painel do Compras.gov.br?\n\nBruna"
    )
    return write(s, sender, "Enc: Dúvida sobre pesquisa de preços", body)


@case("z04-redecompras-zimbra", "zimbra", "conversation")
def _(s: Step) -> bytes:
    body = (
        "Segue dúvida recebida pela Redecompras.\n\n----- Mensagem encaminhada -----\n"
        'De: "Fábio Teixeira" <fabio.teixeira@uenf.br>\n'
        'Para: "Redecompras" <redecompras@planejamento.rj.gov.br>\n'
        "Enviadas: Segunda-feira, 7 de dezembro de 2026 8:12:40\nAssunto: Dúvida\n\n"
        "Bom dia, como faço para publicar o resultado do pregão no Compras.gov.br?\n\nFábio Teixeira"
    )
    return write(s, REDECOMPRAS, "Enc: Dúvida", body)


@case("z05-brasao-apos-fechamento-e-anexo", "zimbra", "print")
def _(s: Step) -> bytes:
    sender = ("Eliane Soares", "eliane.soares@der.rj.gov.br")
    body = (
        "Bom dia,\n\n" + answers(uasg="926161") + "\n\nAtenciosamente,\n\nEliane Soares\n"
        "DER-RJ\n{img:brasao.png}"
    )
    return write(
        s,
        sender,
        "Erro ao publicar o aviso",
        body,
        inline=(Picture("brasao.png", "image/png", im.brasao()),),
        attachments=(png("print do erro.png"),),
    )


@case("z06-logo-grande-apos-fechamento", "zimbra", "print")
def _(s: Step) -> bytes:
    sender = ("Marcos Antunes", "marcos.antunes@fsaude.rj.gov.br")
    body = (
        "Bom dia,\n\n" + answers(uasg="927620") + "\n\nAtenciosamente,\n\nMarcos Antunes\n"
        "Fundação Saúde\n{img:assinatura.jpg}"
    )
    return write(
        s,
        sender,
        "Erro ao publicar o aviso",
        body,
        inline=(Picture("assinatura.jpg", "image/jpeg", im.big_logo()),),
    )


@case("z07-como-incluir-irp", "zimbra", "theme")
def _(s: Step) -> bytes:
    sender = ("Pedro Lacerda", "pedro.lacerda@der.rj.gov.br")
    body = "Bom dia,\n\nPreciso incluir a IRP de pneus ainda esta semana.\n\nAtt.,\nPedro Lacerda"
    return write(s, sender, "Como incluir a IRP no Compras.gov.br?", body)


@case("z08-perfil-de-acesso", "zimbra", "theme")
def _(s: Step) -> bytes:
    sender = ("Lívia Nogueira", "livia.nogueira@der.rj.gov.br")
    body = (
        "Prezados,\n\nCPF: 529.982.247-25\nUASG: 926060\n"
        "Solicitação: alterar meu perfil de acesso para pregoeira\n\nAtenciosamente,\nLívia"
    )
    return write(s, sender, "Acesso ao sistema", body)


@case("z09-reativacao-prosa", "zimbra", "answers")
def _(s: Step) -> bytes:
    sender = ("Rogério Figueira", "rogerio.figueira@der.rj.gov.br")
    body = (
        "Prezados,\n\nSolicitamos a reativação da UASG 926070, pois o DER voltará a licitar "
        "em 2027. Nosso CNPJ é 11.222.333/0001-81 e o telefone para contato é "
        "(21) 2334-5678 ramal 215.\n\n"
        "Órgão/Entidade: DER-RJ - Regional Serrana\n"
        "Endereço: Rua Dr. Porciúncula, 100, Centro, Petrópolis - RJ\n"
        "Motivo: Retomada das licitações de conservação rodoviária.\n\n"
        "Atenciosamente,\nRogério"
    )
    return write(s, sender, "Reativação da UASG", body)


@case("z10-fora-do-ar-cp1252", "zimbra", "print")
def _(s: Step) -> bytes:
    sender = ("Cecília Duarte", "cecilia.duarte@der.rj.gov.br")
    body = (
        "Prezados,\n\nO sistema está fora do ar desde cedo – nenhuma tela abre.\n\n"
        + answers(
            uasg="926262",
            modulo="Acesso ao sistema",
            message="Serviço indisponível (503)",
            steps_text="Abri o navegador, acessei o endereço do Compras.gov.br e fiz o login; a tela não carregou.",
        )
        + "\n\nAtt.,\nCecília"
    )
    return write(
        s,
        sender,
        "Sistema fora do ar",
        body,
        charset="windows-1252",
        attachments=(jpeg("fora do ar.jpg", "Serviço indisponível (503)"),),
    )


# =========================================================================================
# iPhone and Android
# =========================================================================================


@case("i01-foto-no-html", "iphone", "print")
def _(s: Step) -> bytes:
    sender = ("Adriana Pacheco", "adriana.pacheco@saude.rj.gov.br")
    body = (
        answers(uasg="927880", message="Sessão expirada. Acesse novamente.") + "\n\n"
        "{img:IMG_4127.jpeg}\n\nEnviado do meu iPhone"
    )
    photo = Picture("IMG_4127.jpeg", "image/jpeg", im.phone_photo())
    return write(s, sender, "Erro siasg", body, inline=(photo,))


@case("i02-travou-so-foto", "iphone", "answers")
def _(s: Step) -> bytes:
    sender = ("Bruno Aguiar", "bruno.aguiar@saude.rj.gov.br")
    photo = Picture("IMG_4130.jpeg", "image/jpeg", im.phone_photo("O sistema parou de responder"))
    return write(
        s,
        sender,
        "Sistema travou",
        "Segue foto\n\n{img:IMG_4130.jpeg}\n\nEnviado do meu iPhone",
        inline=(photo,),
    )


@case("a01-samsung-foto", "samsung", "print")
def _(s: Step) -> bytes:
    sender = ("Kátia Rezende", "katia.rezende@uerj.br")
    body = (
        answers(uasg="153111", message="Sessão expirada. Acesse novamente.")
        + "\n\nEnviado do meu smartphone Samsung Galaxy."
    )
    photo = Picture("20261207_093215.jpg", "image/jpeg", im.phone_photo("Erro no login"))
    return write(s, sender, "Erro no SIASG", body, attachments=(photo,))


@case("a02-samsung-sem-assunto-erro", "samsung", "theme")
def _(s: Step) -> bytes:
    sender = ("Wellington Cruz", "wellington.cruz@seap.rj.gov.br")
    body = (
        "O sistema não deixa publicar o aviso, dá erro.\n\n"
        + answers(uasg="926455")
        + "\n\nEnviado do meu smartphone Samsung Galaxy."
    )
    return write(s, sender, "", body, attachments=(jpeg("Screenshot_20261207_094011.jpg"),))


# =========================================================================================
# Not servidores
# =========================================================================================


@case("x01-scanner-pdf", "scanner", "machine")
def _(s: Step) -> bytes:
    sender = ("", "scanner.3andar@seplag.rj.gov.br")
    body = "Digitalizado em 07/12/2026 09:58.\nDispositivo: RICOH MP C3004\n"
    return write(
        s,
        sender,
        "Mensagem de RICOH MP C3004",
        body,
        attachments=(Picture("20261207095812.pdf", "application/pdf", im.scanned_page()),),
        headers=(("X-Mailer", "RICOH MP C3004"),),
    )


@case("x02-cidadao-licitacao", "gmail", "theme")
def _(s: Step) -> bytes:
    sender = ("José Ferreira", "jose.ferreira1970@gmail.com")
    body = (
        "Boa noite, sou cidadão e gostaria de saber como acompanhar as licitações do Estado "
        "do Rio de Janeiro no Compras.gov.br?\n\nObrigado\nJosé"
    )
    return write(s, sender, "Informação", body)


@case("x03-lista-boletim", "gmail", "machine")
def _(s: Step) -> bytes:
    sender = ("Boletim Compras", "boletim@listas.planejamento.rj.gov.br")
    body = (
        "Boletim semanal de compras públicas nº 48/2026.\n\nNovidades no SIASG: nova versão do "
        "módulo de divulgação de compras.\n\nPara sair da lista, responda com SAIR."
    )
    return write(
        s,
        sender,
        "[boletim-compras] Boletim semanal nº 48/2026",
        body,
        headers=(
            ("List-Id", "Boletim Compras <boletim-compras.listas.planejamento.rj.gov.br>"),
            ("List-Unsubscribe", "<mailto:boletim-compras-leave@listas.planejamento.rj.gov.br>"),
            ("Precedence", "list"),
        ),
    )


@case("x04-robo-de-outra-central", "zimbra", "machine")
def _(s: Step) -> bytes:
    sender = ("Central de Serviços TIC", "atendimento@proderj.rj.gov.br")
    body = (
        "Sua solicitação foi registrada sob o número 2026/48211.\nEsta é uma mensagem "
        "automática, não responda."
    )
    return write(
        s,
        sender,
        "[Chamado 2026/48211] Solicitação registrada",
        body,
        headers=(("Auto-Submitted", "auto-replied"),),
    )


@case("x05-ambiguo-cadastro-ou-erro", "outlook", "theme")
def _(s: Step) -> bytes:
    sender = ("Hugo Medeiros", "hugo.medeiros@seplag.rj.gov.br")
    body = (
        "Bom dia,\n\nEstou com erro no cadastro do usuário e não sei como resolver.\n\n"
        "Att.,\nHugo Medeiros\n" + OUTLOOK_SIGNATURE_MARKS
    )
    return write(s, sender, "Problema", body, charset="windows-1252", inline=LOGOS)


@case("x06-confirmacao-de-leitura", "outlook", "machine")
def _(s: Step) -> bytes:
    sender = ("Eduardo Tavares", "eduardo.tavares@inea.rj.gov.br")
    notice = text_part(
        "Sua mensagem\n\n  Para: Eduardo Tavares\n  Assunto: Chamado registrado: Reativação da UASG 927450\n"
        "  Enviada em: segunda-feira, 7 de dezembro de 2026 08:30\n\nfoi lida em segunda-feira, 7 de dezembro de 2026 09:02.\n",
        "plain",
        "iso-8859-1",
        "quoted-printable",
    )
    report = Part(
        [("Content-Type", "message/disposition-notification")],
        b"Reporting-UA: CP6P284MB2345.BRAP284.PROD.OUTLOOK.COM\nFinal-Recipient: rfc822;eduardo.tavares@inea.rj.gov.br\n"
        b"Original-Message-ID: <mailproc.2026-000012.created@compras.example.gov.br>\n"
        b"Disposition: manual-action/MDN-sent-manually; displayed\n",
    )
    tree = multipart(
        "report",
        [notice, report],
        f"_002_{digest(s.message_id, 'r')}_",
        extra="; report-type=disposition-notification",
    )
    mail = letter(s, sender, "Lida: Chamado registrado: Reativação da UASG 927450", "")
    headers = [
        *envelope(mail, "iso-8859-1"),
        ("Content-Language", "pt-BR"),
        ("MIME-Version", "1.0"),
    ]
    return finish(mail, headers, tree)


# =========================================================================================
# Conversations: a ticket, then the mails that follow it
# =========================================================================================

CARLA = ("Carla Menezes", "carla.menezes@seplag.rj.gov.br")
CARLA_COLLEAGUE = ("Fábio Ventura", "fabio.ventura@seplag.rj.gov.br")


@case("c1-1-sem-print-com-colega", "outlook", "conversation", thread="c1")
def _(s: Step) -> bytes:
    body = (
        "Prezados,\n\n"
        + answers(uasg="160901")
        + "\n\n"
        + outlook_signature(CARLA[0], "Pregoeira", "SEPLAG/SUBCOMP")
    )
    return write(
        s,
        CARLA,
        "Erro ao publicar aviso no SIASG",
        body,
        charset="windows-1252",
        cc=(CARLA_COLLEAGUE,),
        inline=LOGOS,
    )


@case("c1-2-colega-envia-print", "outlook", "conversation", thread="c1")
def _(s: Step) -> bytes:
    body = (
        "Prezados, segue o print que faltou.\n\n"
        + outlook_signature(CARLA_COLLEAGUE[0], "Apoio", "SEPLAG/SUBCOMP")
        + outlook_quote(
            "Central de Atendimento Compras RJ",
            "suporte@compras.example.gov.br",
            "segunda-feira, 7 de dezembro de 2026 08:45",
            f"[#{s.code}] Chamado aguardando informações: Erro ao publicar aviso no SIASG",
            "Sua solicitação foi registrada, mas faltam informações.",
            to="Carla Menezes; Fábio Ventura",
        )
    )
    return write(
        s,
        CARLA_COLLEAGUE,
        f"RES: [#{s.code}] Chamado aguardando informações: Erro ao publicar aviso no SIASG",
        body,
        charset="windows-1252",
        cc=(CARLA,),
        inline=LOGOS,
        attachments=(png("print.png"),),
        **desk_reply(s, "c1-1-sem-print-com-colega"),
    )


GISELE = ("Gisele Prates", "gisele.prates@gmail.com")


@case("c2-1-falta-uasg-e-data", "gmail", "conversation", thread="c2")
def _(s: Step) -> bytes:
    body = (
        "Boa tarde,\n\n*Módulo:* Empenho\n*Mensagem de erro:* Falha ao transmitir ao SIAFI\n"
        "*Passo a passo:* Abri o empenho 2026NE00123, cliquei em Transmitir e recebi a falha.\n\n"
        "Segue o print.\n\nGisele"
    )
    return write(
        s,
        GISELE,
        "Erro ao transmitir empenho",
        body,
        attachments=(png("erro-empenho.png", "Falha ao transmitir ao SIAFI"),),
    )


@case("c2-2-responde-uasg", "gmail", "conversation", thread="c2")
def _(s: Step) -> bytes:
    body = (
        "*UASG:* 926777\n\nA data eu confirmo depois.\n\nGisele\n\n"
        "Em seg., 7 de dez. de 2026 às 10:12, Central de Atendimento Compras RJ <"
        "suporte@compras.example.gov.br> escreveu:\n> Sua solicitação foi registrada, mas faltam informações.\n"
    )
    return write(
        s,
        GISELE,
        f"Re: [#{s.code}] Chamado aguardando informações: Erro ao transmitir empenho",
        body,
        **desk_reply(s, "c2-1-falta-uasg-e-data"),
    )


@case("c2-3-responde-data-relativa", "gmail", "conversation", thread="c2")
def _(s: Step) -> bytes:
    body = (
        "Data e hora do erro: ontem às 14h\n\nGisele\n\n"
        "Em seg., 7 de dez. de 2026 às 10:30, Central de Atendimento Compras RJ <"
        "suporte@compras.example.gov.br> escreveu:\n> Recebemos a sua resposta.\n"
    )
    return write(
        s,
        GISELE,
        f"Re: [#{s.code}] Chamado aguardando informações: Erro ao transmitir empenho",
        body,
        **desk_reply(s, "c2-1-falta-uasg-e-data"),
    )


OSCAR = ("Oscar Valente", "oscar.valente@seeduc.rj.gov.br")


@case("c3-1-reativacao", "thunderbird", "conversation", thread="c3")
def _(s: Step) -> bytes:
    body = (
        "Prezados,\n\nUASG: 153888\nÓrgão/Entidade: SEEDUC - Regional Norte\nCNPJ: 11.222.333/0001-81\n"
        "Endereço: Rua Tenente Coronel Cardoso, 200, Centro, Campos dos Goytacazes - RJ\n"
        "Telefone: (22) 2733-4000\nMotivo: A regional voltará a fazer compras descentralizadas.\n\n"
        "Att.,\nOscar Valente"
    )
    return write(s, OSCAR, "Reativação de UASG", body)


@case("c3-2-podem-cancelar", "thunderbird", "conversation", thread="c3")
def _(s: Step) -> bytes:
    body = (
        "Podem cancelar, já resolvemos por outro meio.\n\nOscar\n\n"
        "Em 07/12/2026 10:20, Central de Atendimento Compras RJ escreveu:\n> Chamado registrado.\n"
    )
    return write(
        s,
        OSCAR,
        f"Re: [#{s.code}] Chamado registrado: Reativação de UASG",
        body,
        **desk_reply(s, "c3-1-reativacao"),
    )


IVONE = ("Ivone Sarmento", "ivone.sarmento@fazenda.rj.gov.br")


@case("c4-1-erro-completo", "exchange", "conversation", thread="c4")
def _(s: Step) -> bytes:
    body = (
        "Prezados,\n\n"
        + answers(uasg="925111")
        + "\n\n"
        + outlook_signature(IVONE[0], "Pregoeira", "Secretaria de Fazenda")
    )
    return write(
        s,
        IVONE,
        "Erro ao publicar aviso",
        body,
        charset="windows-1252",
        inline=(*LOGOS, png("image003.png")),
        attachments=(png("erro.png"),),
    )


@case("c4-2-andamento-do-chamado", "exchange", "conversation", thread="c4")
def _(s: Step) -> bytes:
    body = (
        f"Bom dia,\n\nGostaria de saber o andamento do chamado {s.code}.\n\n"
        + outlook_signature(IVONE[0], "Pregoeira", "Secretaria de Fazenda")
    )
    return write(
        s, IVONE, f"Andamento do chamado {s.code}", body, charset="windows-1252", inline=LOGOS
    )


HEITOR = ("Heitor Campos", "heitor.campos@der.rj.gov.br")


@case("c5-1-duvida", "zimbra", "conversation", thread="c5")
def _(s: Step) -> bytes:
    body = "Bom dia,\n\nComo faço para cancelar um item de uma IRP já homologada?\n\nHeitor"
    return write(s, HEITOR, "Dúvida sobre IRP", body)


@case("c5-2-posicao-do-protocolo", "zimbra", "conversation", thread="c5")
def _(s: Step) -> bytes:
    body = f"Bom dia,\n\nQual a posição do protocolo {s.code}? Ainda não tive retorno.\n\nHeitor"
    return write(s, HEITOR, "Situação", body)


YARA = ("Yara Lins", "yara.lins@saude.rj.gov.br")


@case("c6-1-iphone-sem-print", "iphone", "conversation", thread="c6")
def _(s: Step) -> bytes:
    body = (
        answers(uasg="927881", modulo="Pregão", message="Lance não registrado")
        + "\n\nEnviado do meu iPhone"
    )
    return write(s, YARA, "Erro no pregão", body)


@case("c6-2-iphone-manda-foto", "iphone", "conversation", thread="c6")
def _(s: Step) -> bytes:
    photo = Picture("IMG_4201.jpeg", "image/jpeg", im.phone_photo("Lance não registrado"))
    body = (
        "Segue a foto\n\n{img:IMG_4201.jpeg}\n\nEnviado do meu iPhone\n\n"
        "> Em 7 de dez. de 2026, às 10:40, Central de Atendimento Compras RJ <suporte@compras.example.gov.br> escreveu:\n"
        "> \n> Sua solicitação foi registrada, mas faltam informações.\n"
    )
    return write(
        s,
        YARA,
        f"Re: [#{s.code}] Chamado aguardando informações: Erro no pregão",
        body,
        inline=(photo,),
        **desk_reply(s, "c6-1-iphone-sem-print"),
    )


ROSANA = ("Rosana Leite", "rosana.leite@seplag.rj.gov.br")


@case("c7-1-erro-completo", "outlook", "conversation", thread="c7")
def _(s: Step) -> bytes:
    body = (
        "Prezados,\n\n"
        + answers(uasg="160333")
        + "\n\n"
        + outlook_signature(ROSANA[0], "Pregoeira", "SEPLAG")
    )
    return write(
        s,
        ROSANA,
        "Erro ao publicar aviso",
        body,
        charset="windows-1252",
        inline=LOGOS,
        attachments=(png("print.png"),),
    )


@case("c7-2-urgente-com-codigo", "outlook", "conversation", thread="c7")
def _(s: Step) -> bytes:
    body = (
        f"Urgente {s.code}: a sessão do pregão está marcada para amanhã às 10h.\n\n"
        + outlook_signature(ROSANA[0], "Pregoeira", "SEPLAG")
    )
    return write(
        s,
        ROSANA,
        f"RES: [#{s.code}] Chamado registrado: Erro ao publicar aviso",
        body,
        charset="windows-1252",
        inline=LOGOS,
        **desk_reply(s, "c7-1-erro-completo"),
    )


@case("c8-1-erro-de-outra-pessoa", "gmail", "conversation", thread="c8")
def _(s: Step) -> bytes:
    sender = ("Silvia Moraes", "silvia.moraes@seplag.rj.gov.br")
    body = "Boa tarde,\n\n" + answers("bold", uasg="160444") + "\n\nSilvia"
    return write(s, sender, "Erro ao publicar aviso", body, attachments=(png("print.png"),))


@case("c8-2-estranho-cita-o-codigo", "gmail", "conversation", thread="c8")
def _(s: Step) -> bytes:
    sender = ("Otto Brandão", "otto.brandao@cbmerj.rj.gov.br")
    body = (
        "Boa tarde, estou com o mesmo erro do chamado abaixo.\n\n"
        + answers("bold", uasg="926515")
        + "\n\nOtto\nCBMERJ"
    )
    return write(
        s,
        sender,
        f"RE: [#{s.code}] Chamado registrado: Erro ao publicar aviso",
        body,
        attachments=(png("meu print.png"),),
    )


NATALIA = ("Natália Borges", "natalia.borges@seplag.rj.gov.br")
NATALIA_COLLEAGUE = ("Igor Pessoa", "igor.pessoa@seplag.rj.gov.br")


@case("c9-1-falta-passos-com-cc", "outlook", "conversation", thread="c9")
def _(s: Step) -> bytes:
    body = (
        "Prezados,\n\nUASG: 160990\nMódulo: Divulgação de Compras\nData e hora do erro: 07/12/2026 09:10\n"
        "Mensagem de erro: Erro interno no servidor (código 500)\n\nPrint em anexo.\n\n"
        + outlook_signature(NATALIA[0], "Agente de Contratação", "SEPLAG")
    )
    return write(
        s,
        NATALIA,
        "Erro ao publicar aviso",
        body,
        charset="windows-1252",
        cc=(NATALIA_COLLEAGUE,),
        inline=LOGOS,
        attachments=(png("print.png"),),
    )


@case("c9-2-responde-sem-codigo-no-assunto", "outlook", "conversation", thread="c9")
def _(s: Step) -> bytes:
    body = (
        "Passo a passo: entrei em Divulgação de Compras, selecionei o pregão 55/2026 e "
        "cliquei em Publicar.\n\n"
        + outlook_signature(NATALIA[0], "Agente de Contratação", "SEPLAG")
        + outlook_quote(
            NATALIA[0],
            NATALIA[1],
            "segunda-feira, 7 de dezembro de 2026 09:20",
            "Erro ao publicar aviso",
            "Prezados, UASG: 160990 ...",
        )
    )
    first = message_id("c9-1-falta-passos-com-cc", "outlook")
    return write(
        s,
        NATALIA,
        "RE: Erro ao publicar aviso",
        body,
        charset="windows-1252",
        cc=(NATALIA_COLLEAGUE,),
        inline=LOGOS,
        in_reply_to=first,
        references=(first,),
    )


RAQUEL = ("Raquel Dutra", "raquel.dutra@fazenda.rj.gov.br")


@case("c10-1-erro-completo", "exchange", "conversation", thread="c10")
def _(s: Step) -> bytes:
    body = (
        "Prezados,\n\n"
        + answers(uasg="925222")
        + "\n\n"
        + outlook_signature(RAQUEL[0], "Pregoeira", "Secretaria de Fazenda")
    )
    return write(
        s,
        RAQUEL,
        "Erro ao publicar aviso",
        body,
        charset="windows-1252",
        inline=LOGOS,
        attachments=(png("erro.png"),),
    )


@case("c10-2-favor-cancelar", "exchange", "conversation", thread="c10")
def _(s: Step) -> bytes:
    body = (
        f"Prezados,\n\nFavor cancelar o chamado {s.code}, o erro não ocorre mais.\n\n"
        + outlook_signature(RAQUEL[0], "Pregoeira", "Secretaria de Fazenda")
    )
    return write(
        s,
        RAQUEL,
        f"RES: [#{s.code}] Chamado registrado: Erro ao publicar aviso",
        body,
        charset="windows-1252",
        inline=LOGOS,
        **desk_reply(s, "c10-1-erro-completo"),
    )


GERSON = ("Gerson Lobato", "gerson.lobato@detran.rj.gov.br")


@case("c11-1-falta-passos", "outlook", "conversation", thread="c11")
def _(s: Step) -> bytes:
    body = (
        "Senhores,\n\nUASG: 926544\nMódulo: Contratos\nData e hora do erro: 07/12/2026 08:20\n"
        "Mensagem de erro: Contrato sem empenho vinculado\n\nAtt.,\nGerson Lobato\nDETRAN-RJ"
    )
    return write(
        s,
        GERSON,
        "Erro ao gerar contrato",
        body,
        charset="iso-8859-1",
        attachments=(png("erro contrato.png", "Contrato sem empenho vinculado"),),
    )


@case("c11-2-mensagem-original", "outlook", "conversation", thread="c11")
def _(s: Step) -> bytes:
    body = (
        "Passo a passo: abri o módulo Contratos, informei o número da licitação e cliquei em Gerar Contrato.\n\n"
        "Att.,\nGerson Lobato\n\n-----Mensagem original-----\n"
        "De: Central de Atendimento Compras RJ [mailto:suporte@compras.example.gov.br]\n"
        "Enviada em: segunda-feira, 7 de dezembro de 2026 10:50\nPara: Gerson Lobato\n"
        f"Assunto: [#{s.code}] Chamado aguardando informações: Erro ao gerar contrato\n\n"
        "Passo a passo: não informado\n"
    )
    return write(
        s,
        GERSON,
        f"RES: [#{s.code}] Chamado aguardando informações: Erro ao gerar contrato",
        body,
        charset="iso-8859-1",
        **desk_reply(s, "c11-1-falta-passos"),
    )


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "/tmp/i17/corpus")
    folder.mkdir(parents=True, exist_ok=True)
    for step in steps():
        (folder / f"{step.case.id}.eml").write_bytes(step.case.build(step))
    print(f"{len(CASES)} mails written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
