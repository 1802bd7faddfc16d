"""A held-out set for the realistic corpus (issue #17, item 6): 24 mails the desk was never
tuned on, with their expected outcomes in ``heldout.toml``, written before the first run.

The corpus in ``build.py`` guided the fixes, so it may flatter the desk; these cases use
other wordings, label orders, abbreviations and shapes, built with the same client writers.
They are kept apart from ``build.CASES`` (their own registry), so the corpus score is
unchanged.

    python3 -m tests.realmail.heldout [FOLDER]   writes every case as FOLDER/<id>.eml
"""

# ruff: noqa: E501 -- mail text reads as people wrote it: one sentence, one line

from __future__ import annotations

import functools
import html
import io
import sys
from pathlib import Path
from typing import Any

from tests.realmail import images as im
from tests.realmail.build import (
    BANNER,
    BRASAO,
    LOGOS,
    OUTLOOK_SIGNATURE_MARKS,
    SPACER,
    Case,
    Step,
    message_id,
    outlook_signature,
    png,
    write,
)
from tests.realmail.build import case as build_case
from tests.realmail.build import steps as build_steps
from tests.realmail.clients import _thread_index, _topic
from tests.realmail.mime import (
    Letter,
    Picture,
    encoded_word,
    envelope,
    finish,
    html_document,
    text_part,
)

HELDOUT: list[Case] = []


case = functools.partial(build_case, into=HELDOUT)


def date_of(number: int) -> str:
    """Monday 7 December 2026, one mail every three minutes from 13:00 (Rio, -0300)."""
    minutes = 13 * 60 + 3 * number
    return f"Mon, 07 Dec 2026 {minutes // 60:02d}:{minutes % 60:02d}:00 -0300"


def steps(codes: dict[str, str] | None = None) -> list[Step]:
    return build_steps(codes, HELDOUT, date_of)


def answering(step: Step, thread_first: str) -> dict[str, Any]:
    """A reply to the desk's notice: to its signed Reply-To, in reply to the first mail."""
    from tests.threads import signed  # the desk's key: imports the app, so only when needed

    first = next(c for c in HELDOUT if c.id == thread_first)
    original = message_id(first.id, first.client)
    return {
        "to": (("Central de Atendimento Compras RJ", signed(step.code)),),
        "in_reply_to": original,
        "references": (original,),
    }


# --- Pictures these cases need and the corpus lacks ----------------------------------------


@functools.cache
def camera_photo() -> bytes:
    """A 4000×3000 JPEG straight from a phone camera: the monitor, photographed."""
    from PIL import Image

    photo = Image.open(io.BytesIO(im.phone_photo("Usuário sem permissão para esta operação")))
    out = io.BytesIO()
    photo.resize((4000, 3000)).save(out, "JPEG", quality=80)
    return out.getvalue()


@functools.cache
def tall_banner() -> bytes:
    """A 600×200 signature banner: as large as a small print, so only its place tells."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (600, 200), (20, 40, 90))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 180, 600, 200), fill=(200, 160, 40))
    draw.text((160, 70), "SEPLAG - Subsecretaria de Compras", fill="white")
    image.paste(Image.open(io.BytesIO(im.brasao(120, 100))), (20, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def zimbra_html(letter: Letter, body_html: str) -> bytes:
    """Zimbra webmail, HTML only in base64, with a body the corpus writer cannot express
    (a table of three columns)."""
    cs = letter.charset
    document = html_document(
        '<div style="font-family: arial, helvetica, sans-serif; font-size: 12pt; color: #000000">'
        f"{body_html}</div>",
        cs,
    )
    headers = [
        *envelope(letter, cs),
        ("MIME-Version", "1.0"),
        ("X-Mailer", "Zimbra 8.8.15_GA_4545 (ZimbraWebClient - FF120 (Win)/8.8.15_GA_4545)"),
        ("Thread-Topic", encoded_word(_topic(letter.subject), cs)),
        ("Thread-Index", _thread_index(letter)),
    ]
    return finish(letter, headers, text_part(document, "html", cs, "base64"))


# =========================================================================================
# Single mails
# =========================================================================================


@case("h01-outlook-print-no-docx-e-logo", "outlook", "print")
def _(s: Step) -> bytes:
    sender = ("Lúcia Fernandes Amaral", "lucia.amaral@seplag.rj.gov.br")
    doc = im.docx_with_print(
        "Print do erro - Divulgação", im.screenshot("Falha ao enviar o aviso para publicação.")
    )
    body = (
        "Prezados, boa tarde.\n\nEncaminho relato de falha no envio do aviso de licitação. "
        "O print da tela foi colado no documento Word anexo.\n\n"
        "Cód. UASG: 160233\nFuncionalidade: Divulgação de Compras\n"
        "Data do erro: 07/12/2026, 11h20\n"
        "Mensagem exibida: Falha ao enviar o aviso para publicação.\n"
        "Procedimento: Abri a licitação 90031/2026, conferi os itens, fui em Publicar Aviso "
        "e confirmei; a mensagem apareceu em seguida.\n\n"
        + outlook_signature(sender[0], "Agente de Contratação", "SEPLAG/SUBCOMP")
    )
    word = Picture(
        "Relato de erro - aviso 90031.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        doc,
    )
    return write(
        s,
        sender,
        "Falha no envio do aviso 90031/2026",
        body,
        charset="windows-1252",
        inline=LOGOS,
        attachments=(word,),
    )


@case("h02-gmail-negrito-abreviado", "gmail", "answers")
def _(s: Step) -> bytes:
    sender = ("Rafael Quintanilha", "rafaelquintanilha.seap@gmail.com")
    body = (
        "Boa tarde, pessoal\n\nSegue o que aconteceu:\n\n"
        "*Msg de erro:* Item sem saldo na IRP\n"
        "*Cód. UASG:* 926808\n"
        "*Dt./hora:* 07/12/2026 10:05\n"
        "*Módulo:* IRP\n"
        "*Passo a passo:* Entrei em IRP, abri a intenção 12/2026, selecionei o item 4 e cliquei em Incluir quantidade.\n\n"
        "Print em anexo.\n\nRafael\nSEAP - Coordenação de Compras"
    )
    return write(
        s,
        sender,
        "Erro na IRP",
        body,
        attachments=(png("Screenshot 2026-12-07 100612.png", "Item sem saldo na IRP"),),
    )


@case("h03-zimbra-tabela-tres-colunas", "zimbra", "answers")
def _(s: Step) -> bytes:
    sender = ("Solange Barcellos", "solange.barcellos@der.rj.gov.br")
    rows = (
        ("Item", "Descrição", "Quantidade"),
        ("1", "Pneu 275/80 R22,5", "40"),
        ("2", "Câmara de ar aro 22,5", "40"),
        ("3", "Protetor de câmara", "40"),
    )
    cell = '<td style="border: 1px solid #000; padding: 2px 6px">{}</td>'
    table = "".join(
        "<tr>" + "".join(cell.format(html.escape(c)) for c in row) + "</tr>" for row in rows
    )
    body_html = (
        "<div>Bom dia,</div><div><br></div>"
        "<div>Precisamos incluir os itens abaixo numa IRP que já está em fase de manifestação "
        "de interesse. Como posso acrescentar itens depois da divulgação da intenção?</div>"
        '<div><br></div><table style="border-collapse: collapse">'
        f"<tbody>{table}</tbody></table><div><br></div>"
        "<div>Obrigada,</div><div>Solange Barcellos</div><div>DER-RJ - Setor de Compras</div>"
    )
    letter = Letter(
        sender=sender,
        subject="Inclusão de itens em IRP",
        body="",
        date=s.date,
        message_id=s.message_id,
    )
    return zimbra_html(letter, body_html)


@case("h04-prosa-unidade-seis-digitos", "thunderbird", "answers")
def _(s: Step) -> bytes:
    sender = ("Teodoro Maciel", "teodoro.maciel@seeduc.rj.gov.br")
    body = (
        "Prezados,\n\nHoje às 10h30, na Unidade 160123, ao tentar homologar o pregão 90077/2026 "
        'no módulo Pregão, o sistema exibe a mensagem "Não foi possível homologar: '
        'fornecedor com pendência no SICAF". Eu abri o pregão, fui em Adjudicar/Homologar, '
        "marquei todos os itens e cliquei em Homologar. O print está em anexo.\n\n"
        "At.te,\nTeodoro Maciel\nSEEDUC - Coordenadoria de Licitações"
    )
    return write(
        s,
        sender,
        "Homologação do pregão 90077/2026",
        body,
        attachments=(png("homologacao.png", "Fornecedor com pendência no SICAF"),),
    )


@case("h05-socorro-senha", "samsung", "theme")
def _(s: Step) -> bytes:
    sender = ("Vânia Cordeiro", "vania.cordeiro@ses.rj.gov.br")
    body = (
        "Minha senha foi bloqueada depois de errar três vezes e preciso assinar a ata hoje. "
        "Peço o desbloqueio com urgência.\n\n"
        "CPF: 111.444.777-35\nUASG: 926990\n"
        "Solicitação: desbloquear a senha do meu usuário no Compras.gov.br\n\n"
        "Vânia Cordeiro\n\nEnviado do meu smartphone Samsung Galaxy."
    )
    return write(s, sender, "Socorro", body)


@case("h06-assunto-duvida-relato-de-erro", "thunderbird", "theme")
def _(s: Step) -> bytes:
    sender = ("Nelson Arruda", "nelson.arruda@fazenda.rj.gov.br")
    body = (
        "Boa tarde,\n\nAo tentar emitir a nota de empenho o sistema retorna um erro e não sai "
        "do lugar.\n\n"
        "UASG: 925444\nMódulo: Empenho\nData e hora do erro: 07/12/2026 12:10\n"
        "Mensagem de erro: Tempo limite excedido ao consultar o SIAFI\n"
        "Passo a passo: Abri Empenho, informei a UG emitente, o favorecido e o valor e cliquei em Emitir.\n\n"
        "Mando o print em anexo.\n\nGrato,\nNelson Arruda"
    )
    return write(
        s,
        sender,
        "Dúvida",
        body,
        charset="iso-8859-1",
        attachments=(png("empenho timeout.png", "Tempo limite excedido ao consultar o SIAFI"),),
    )


@case("h08-anteontem-pela-manha", "exchange", "answers")
def _(s: Step) -> bytes:
    sender = ("Otávio Brum", "otavio.brum@cbmerj.rj.gov.br")
    body = (
        "Prezados,\n\n"
        "UASG: 926525\nMódulo: Contratos\n"
        "Data e hora do erro: anteontem pela manhã, por volta das 10h\n"
        "Mensagem de erro: Contrato não localizado\n"
        "Passo a passo: Acessei Contratos, pesquisei o contrato 14/2026 pelo número e cliquei em Alterar.\n\n"
        "Segue o print abaixo.\n\n{img:image003.png}\n\n"
        + outlook_signature(sender[0], "Tenente", "CBMERJ - Diretoria Geral de Administração")
    )
    return write(
        s,
        sender,
        "Contrato não localizado no sistema",
        body,
        charset="iso-8859-1",
        inline=(*LOGOS, png("image003.png", "Contrato não localizado")),
    )


@case("h09-cnpj-alfanumerico-na-prosa", "exchange", "answers")
def _(s: Step) -> bytes:
    sender = ("Glória Pestana", "gloria.pestana@iterj.rj.gov.br")
    body = (
        "Prezados,\n\nO ITERJ solicita a reativação da sua UASG 927345, inativada por não ter "
        "sido usada nos últimos dois anos. O CNPJ do instituto é RJ.4K7.M2P/0001-40 (novo "
        "formato alfanumérico).\n\n"
        "Motivo: o instituto voltará a comprar material de topografia em 2027.\n"
        "Órgão/Entidade: Instituto de Terras e Cartografia do Estado do Rio de Janeiro - ITERJ\n"
        "Telefone: (21) 2299-4455 ramal 12\n"
        "Endereço: Rua da Ajuda, 5, Centro, Rio de Janeiro - RJ\n\n"
        "Cordialmente,\nGlória Pestana\nITERJ - Administração"
    )
    return write(s, sender, "Pedido de reativação", body, charset="iso-8859-1")


@case("h10-fornecedor-pergunta", "gmail", "theme")
def _(s: Step) -> bytes:
    sender = ("Comercial Papelaria Aurora", "comercial@papelariaaurora.com.br")
    body = (
        "Boa tarde,\n\nSomos fornecedores cadastrados e participamos do pregão 90045/2026. "
        "Gostaria de saber como enviamos a proposta ajustada depois da fase de lances, "
        "pois o pregoeiro pediu o envio em até duas horas.\n\n"
        "Desde já agradeço.\n\nMariana Torres\nPapelaria Aurora Ltda.\n(21) 3344-5566"
    )
    return write(s, sender, "Envio de proposta ajustada", body)


@case("h13-banner-apos-fechamento", "gmail", "print")
def _(s: Step) -> bytes:
    sender = ("Diego Sarmento", "diego.sarmento@seplag.rj.gov.br")
    body = (
        "Boa tarde,\n\n"
        "UASG: 160244\nMódulo: Divulgação de Compras\nData e hora do erro: 07/12/2026 11:50\n"
        "Mensagem de erro: Erro interno no servidor (código 500)\n"
        "Passo a passo: Entrei em Divulgação de Compras, abri o aviso 90050/2026 e cliquei em Publicar.\n\n"
        "Atenciosamente,\n\nDiego Sarmento\nSEPLAG - Subsecretaria de Compras\n"
        "{img:banner_seplag.png}"
    )
    return write(
        s,
        sender,
        "Erro ao publicar aviso 90050/2026",
        body,
        inline=(Picture("banner_seplag.png", "image/png", tall_banner()),),
    )


@case("h16-dois-temas", "outlook", "theme")
def _(s: Step) -> bytes:
    sender = ("Alice Magalhães", "alice.magalhaes@detran.rj.gov.br")
    body = (
        "Bom dia,\n\nEstou com dois problemas: minha senha do Compras.gov.br está bloqueada, e "
        "antes do bloqueio o sistema dava erro ao publicar o aviso do pregão.\n\n"
        "Aguardo orientação.\n\n" + outlook_signature(sender[0], "Pregoeira", "DETRAN-RJ")
    )
    return write(s, sender, "Problemas no sistema", body, charset="windows-1252", inline=LOGOS)


@case("h17-sugestao-iphone", "iphone", "theme")
def _(s: Step) -> bytes:
    sender = ("Rodrigo Paiva", "rodrigo.paiva@saude.rj.gov.br")
    body = (
        "Sugiro que a tela de itens da IRP permita exportar a lista para planilha, hoje "
        "precisamos copiar item por item.\n\nEnviado do meu iPhone"
    )
    return write(s, sender, "Sugestão para a IRP", body)


@case("h18-urgente-com-pergunta", "gmail", "theme")
def _(s: Step) -> bytes:
    sender = ("Beatriz Cavalcanti", "beatriz.cavalcanti@pge.rj.gov.br")
    body = (
        "Boa tarde,\n\nGostaria de saber qual o prazo para publicar a ata de registro de "
        "preços depois da homologação do pregão. O prazo conta em dias úteis?\n\n"
        "Abs,\nBeatriz"
    )
    return write(s, sender, "URGENTE!!!", body)


@case("h19-tabela-excel-rotulos-variantes", "outlook", "answers")
def _(s: Step) -> bytes:
    sender = ("Moacir Trindade", "moacir.trindade@uenf.br")
    table = (
        ("Código da UASG", "153066"),
        ("Funcionalidade", "SICAF"),
        ("Quando ocorreu", "07/12/2026 por volta das 09:30"),
        ("Texto do erro", "CNPJ não encontrado na Receita Federal"),
        (
            "Passos realizados",
            "Abri o SICAF, escolhi Consultar Fornecedor, digitei o CNPJ e cliquei em Pesquisar.",
        ),
    )
    body = (
        "Senhores,\n\nSegue, conforme o formulário, o relato do problema:\n\n{table}\n\n"
        "O print vai em anexo.\n\nRespeitosamente,\nMoacir Trindade\nUENF - Setor de Compras\n"
        "{img:image003.gif}\n" + OUTLOOK_SIGNATURE_MARKS
    )
    return write(
        s,
        sender,
        "SICAF não encontra CNPJ",
        body,
        charset="iso-8859-1",
        table=table,
        inline=(BRASAO, BANNER, SPACER),
        attachments=(png("sicaf.png", "CNPJ não encontrado na Receita Federal"),),
    )


# =========================================================================================
# Conversations
# =========================================================================================

EMILIA = ("Emília Saraiva", "emilia.saraiva@saude.rj.gov.br")


@case("h07-1-sem-print", "outlook", "conversation", thread="h07")
def _(s: Step) -> bytes:
    body = (
        "Boa tarde,\n\nUASG: 927701\nMódulo: Pregão\nData e hora do erro: 07/12/2026 12:40\n"
        "Mensagem de erro: Usuário sem permissão para esta operação\n"
        "Passo a passo: Abri o pregão 90102/2026, fui em Aceitar proposta e cliquei em Confirmar.\n\n"
        + outlook_signature(EMILIA[0], "Pregoeira", "SES-RJ")
    )
    return write(s, EMILIA, "Sem permissão no pregão", body, charset="windows-1252", inline=LOGOS)


@case("h07-2-segue-o-print-foto", "iphone", "conversation", thread="h07")
def _(s: Step) -> bytes:
    photo = Picture("IMG_5532.JPG", "image/jpeg", camera_photo())
    return write(
        s,
        EMILIA,
        f"RE: [#{s.code}] Chamado aguardando informações: Sem permissão no pregão",
        "segue o print\n\n{img:IMG_5532.JPG}\n\nEnviado do meu iPhone",
        inline=(photo,),
        **answering(s, "h07-1-sem-print"),
    )


JOANA = ("Joana Rezende", "joana.rezende@der.rj.gov.br")


@case("h11-1-erro-completo", "zimbra", "conversation", thread="h11")
def _(s: Step) -> bytes:
    body = (
        "Boa tarde,\n\nUASG: 926066\nMódulo: Atas\nData e hora do erro: 07/12/2026 12:55\n"
        "Mensagem de erro: Ata sem fornecedor vinculado\n"
        "Passo a passo: Abri Atas, escolhi a ata 8/2026, fui em Assinar e cliquei em Confirmar.\n\n"
        "Att.,\nJoana Rezende"
    )
    return write(
        s,
        JOANA,
        "Erro ao assinar ata",
        body,
        attachments=(png("ata.png", "Ata sem fornecedor vinculado"),),
    )


@case("h11-2-ausencia-sem-auto-submitted", "zimbra", "conversation", thread="h11")
def _(s: Step) -> bytes:
    body = (
        "Estarei ausente de 07/12/2026 a 21/12/2026, em gozo de férias, com acesso restrito "
        "aos e-mails. Em caso de urgência, favor contatar compras@der.rj.gov.br ou o telefone "
        "(21) 2332-5500.\n\nJoana Rezende"
    )
    return write(
        s,
        JOANA,
        f"Re: [#{s.code}] Chamado registrado: Erro ao assinar ata",
        body,
        **answering(s, "h11-1-erro-completo"),
    )


OTILIA = ("Otília Bragança", "otilia.braganca@casacivil.rj.gov.br")


@case("h12-1-falta-data-e-passos", "outlook", "conversation", thread="h12")
def _(s: Step) -> bytes:
    body = (
        "Prezados,\n\nUASG: 925312\nMódulo: Cotação Eletrônica\n"
        "Mensagem de erro: Cotação encerrada indevidamente\n\n"
        "Print em anexo.\n\n" + outlook_signature(OTILIA[0], "Assistente", "Casa Civil")
    )
    return write(
        s,
        OTILIA,
        "Erro na cotação eletrônica",
        body,
        charset="windows-1252",
        inline=LOGOS,
        attachments=(png("cotacao.png", "Cotação encerrada indevidamente"),),
    )


@case("h12-2-cita-o-aviso-inteiro", "outlook", "conversation", thread="h12")
def _(s: Step) -> bytes:
    notice = (
        f"Sua solicitação foi registrada com o código {s.code}, mas faltam informações.\n\n"
        "Recebemos:\n- UASG: 925312\n- Módulo: Cotação Eletrônica\n"
        "- Mensagem de erro: Cotação encerrada indevidamente\n- Arquivo: cotacao.png\n\n"
        "Ainda falta:\n"
        "- Data e hora do erro: não informada (dia e horário aproximado em que o erro aconteceu; exemplo: 10/11/2026 14:30)\n"
        "- Passo a passo: não informado (descreva, em ordem, o que foi feito até o erro aparecer)\n\n"
        "Responda a este e-mail com as informações que faltam.\n\n"
        "Central de Atendimento Compras RJ"
    )
    body = (
        "Data e hora do erro: hoje, às 11h15\n"
        "Passo a passo: abri a cotação 33/2026, conferi as propostas e cliquei em Julgar; a cotação foi encerrada sozinha.\n\n"
        + outlook_signature(OTILIA[0], "Assistente", "Casa Civil")
        + "\n\n________________________________\n"
        "De: Central de Atendimento Compras RJ <suporte@compras.example.gov.br>\n"
        "Enviado em: segunda-feira, 7 de dezembro de 2026 13:40\n"
        f"Para: {OTILIA[0]} <{OTILIA[1]}>\n"
        f"Assunto: [#{s.code}] Chamado aguardando informações: Erro na cotação eletrônica\n\n"
        + notice
    )
    return write(
        s,
        OTILIA,
        f"RES: [#{s.code}] Chamado aguardando informações: Erro na cotação eletrônica",
        body,
        charset="windows-1252",
        inline=LOGOS,
        **answering(s, "h12-1-falta-data-e-passos"),
    )


CELSO = ("Celso Ramalho", "celso.ramalho@uerj.br")


@case("h14-1-pergunta-android", "samsung", "conversation", thread="h14")
def _(s: Step) -> bytes:
    body = (
        "Boa tarde, como faço para registrar a desistência de um item já adjudicado no pregão?\n\n"
        "Celso Ramalho\nUERJ\n\nEnviado do meu smartphone Samsung Galaxy."
    )
    return write(s, CELSO, "Desistência de item adjudicado", body)


@case("h14-2-situacao-do-protocolo", "samsung", "conversation", thread="h14")
def _(s: Step) -> bytes:
    body = (
        f"Boa tarde, qual a situação do protocolo {s.code}? Preciso de resposta até sexta.\n\n"
        "Celso\n\nEnviado do meu smartphone Samsung Galaxy."
    )
    return write(s, CELSO, "Retorno?", body)


FLAVIO = ("Flávio Assunção", "flavio.assuncao@inea.rj.gov.br")


@case("h15-1-perfil-de-acesso", "thunderbird", "conversation", thread="h15")
def _(s: Step) -> bytes:
    body = (
        "Prezados,\n\nCPF: 529.982.247-25\nUASG: 927450\n"
        "Solicitação: incluir o perfil de pregoeiro no meu usuário\n\nAtt.,\nFlávio Assunção\nINEA"
    )
    return write(s, FLAVIO, "Inclusão de perfil de pregoeiro", body, charset="windows-1252")


@case("h15-2-favor-cancelar-nova-mensagem", "thunderbird", "conversation", thread="h15")
def _(s: Step) -> bytes:
    body = (
        f"Prezados,\n\nFavor cancelar o chamado {s.code}, já foi resolvido: o perfil foi "
        "incluído pelo cadastrador local.\n\nAtt.,\nFlávio Assunção\nINEA"
    )
    return write(s, FLAVIO, "Cancelamento de chamado", body, charset="windows-1252")


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "/tmp/i17/heldout")
    folder.mkdir(parents=True, exist_ok=True)
    for step in steps():
        (folder / f"{step.case.id}.eml").write_bytes(step.case.build(step))
    print(f"{len(HELDOUT)} mails written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
