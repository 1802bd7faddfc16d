"""Reply templates render for every purpose, safely; built replies parse back as sent."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailproc.errors import TemplateError
from mailproc.mail.message import Attachment
from mailproc.outgoing.replies import (
    RenderedReply,
    ReplyRenderer,
    build_email,
    deadline_text,
    make_message_id,
)
from mailproc.resources import shipped_dir

CODE = "2026-000123"
ALERT_KEY = f"cap:ticket:{CODE}:2026-11-28T14"
DUE = "terça-feira, 01/12/2026, até as 14:00 (horário de Brasília)"  # deadline_text
TICKET = {
    "code": CODE,
    "tag": f"[#{CODE}]",
    "subject": "Erro ao publicar aviso de licitação",
    "theme_name": "Erro/Indisponibilidade – SIASG",
    "priority": "Média",
    "due_at": DUE,
    "response_hours": 72,
    "business_hours": True,
    "state": "aberto",
    "state_label": "em atendimento",
    "created_at": "28/11/2026 às 14:00",
    "urgent": False,
    "offer_urgency": True,
    "tracking_url": "https://atendimento.example.gov.br/acompanhar/TOKEN",
}
AREA = {"name": "Suporte Técnico SIASG", "address": "suporte-siasg@example.gov.br"}
FILES = [{"filename": "tela-erro.png", "size_kb": 88}]
RECEIVED = {
    "attachments": [{"filename": "print-erro.png", "size_kb": 120}],
    "answers": [
        {"label": "Módulo do SIASG", "value": "Divulgação de Compras"},
        {"label": "Passo a passo", "value": "1. Acessei o módulo\n2. Cliquei em Publicar"},
    ],
}
MISSING = [
    {
        "kind": "attachment",
        "label": "Print da tela com o erro",
        "reason": "não enviado",
        "hint": "Anexe uma imagem da tela no momento do erro.",
    },
    {"kind": "answer", "label": "CNPJ", "reason": "dígitos verificadores inválidos", "hint": ""},
]

# What each purpose's context adds to the common keys (see the comment atop replies.py).
_PURPOSE_CONTEXT: dict[str, dict[str, object]] = {
    "created": {
        "ticket": TICKET,
        "received": RECEIVED,
        "knowledge": [{"title": "Como publicar um aviso", "url": "https://example.gov.br/kb/1"}],
        "forwarder": "redecompras@planejamento.rj.gov.br",
        "quoted": {"code": "2026-000100", "own": False, "state_label": ""},
    },
    "incomplete": {
        "ticket": TICKET,
        "missing": MISSING,
        "questionnaire": [{"label": "CNPJ"}, {"label": "Passo a passo até o erro"}],
        "close_days": 10,
        "received": RECEIVED,
        "added": {"attachments": FILES, "answers": []},
        "by": "João Lima <joao@saude.rj.gov.br>",
        "quoted": None,
    },
    "no_theme": {
        "themes": [
            {
                "name": "Reativação de UASG",
                "description": "Reativação de UASG inativa por falta de uso.",
                "example_subject": "Reativação de UASG 987654",
            }
        ],
        "likely": [
            {
                "name": "Cadastro de unidades e usuários",
                "description": "Inclusão ou alteração de cadastro.",
                "example_subject": "Alteração de cadastro de usuário",
            }
        ],
        "asked_urgency": True,
    },
    "closed_incomplete": {"ticket": TICKET, "missing": MISSING},
    "closed_unanswered": {
        "ticket": TICKET,
        "wait_days": 7,
        "last_answer": {"text": "Qual navegador o senhor usa?", "at": "29/11/2026 às 10:00"},
    },
    "quarantined": {"reason": "a mensagem excede o tamanho máximo de 25 MB"},
    "completed": {"ticket": TICKET, "received": RECEIVED, "by": ""},
    "staff_answer": {
        "ticket": TICKET,
        "answer": {
            "text": "A UASG foi reativada.\nAcesse novamente o sistema.",
            "attachments": FILES,
            "state_label": "resolvido",
            "priority": "",
        },
        "ask_rating": True,
    },
    "rating_received": {"ticket": TICKET, "rating": {"score": 4, "comment": "Bom atendimento"}},
    "status": {
        "ticket": TICKET,
        "received": RECEIVED,
        "last_answer": {"text": "Estamos analisando o erro.", "at": "29/11/2026 às 10:00"},
    },
    "my_tickets": {
        "tickets": [
            {
                "code": CODE,
                "subject": "Erro ao publicar aviso de licitação",
                "state_label": "em atendimento",
                "due_at": DUE,
                "created_at": "28/11/2026 às 14:00",
            }
        ],
        "total": 25,
    },
    "my_tickets_link": {
        "my_tickets_url": "https://atendimento.example.gov.br/meus-chamados/TOKEN",
        "link_days": 90,
    },
    "urgent_received": {"ticket": TICKET, "reason": "O pregão será aberto amanhã."},
    "cancelled": {"ticket": TICKET, "reason": "Resolvi pelo telefone."},
    "command_help": {
        "problem": "Informe o código do chamado, por exemplo: “status 2026-000123”.",
        "example_tag": f"[#{CODE}]",
    },
    "stranger_notice": {"quoted_code": CODE},
    "staff_help": {
        "ticket": TICKET,
        "unknown": ["#resolvdo"],
        "themes": [{"id": "erro-siasg", "name": "Erro/Indisponibilidade – SIASG"}],
    },
    "routed": {
        "area": AREA,
        "ticket": TICKET,
        "received": RECEIVED,
        "description": "O SIASG apresenta erro ao publicar.",
        "forwarder": "redecompras@planejamento.rj.gov.br",
        "transfer": None,
    },
    "area_update": {
        "area": AREA,
        "ticket": TICKET,
        "update": {
            "sender": "maria@saude.rj.gov.br",
            "text": "O erro voltou a acontecer hoje.",
            "attachments": FILES,
            "reopened_from": "resolvido",
        },
    },
    "area_urgent": {
        "area": AREA,
        "ticket": TICKET,
        "reason": "O pregão será aberto amanhã.",
        "by": {"name": "Maria da Silva", "email": "maria@saude.rj.gov.br"},
    },
    "proof_needed": {"ticket": TICKET, "action": "cancelar o chamado", "staff": False},
    "area_cancelled": {"area": AREA, "ticket": TICKET, "reason": "Resolvi pelo telefone."},
    "deadline_reminder": {"area": AREA, "ticket": TICKET, "hours_left": 23},
    "deadline_escalation": {
        "area": AREA,
        "ticket": TICKET,
        "overdue_hours": 1,
        "escalated_to": "coordenacao@example.gov.br",
    },
    "operator_alert": {
        "alert": {"cap": "ticket", "limit": 10, "code": CODE, "key": ALERT_KEY},
    },
    "staff_login": {
        "login": {
            "url": "https://atendimento.example.gov.br/entrar/abc123",
            "expires_at": "07/12/2026 às 10:15",
            "minutes": 15,
        },
    },
}

# Mail to a routing area greets the area; every other purpose greets the servant.
AREA_PURPOSES = frozenset(
    {"routed", "area_update", "area_urgent", "area_cancelled", "deadline_reminder",
     "deadline_escalation"}
)  # fmt: skip

GREETINGS = dict.fromkeys(AREA_PURPOSES, "Prezada equipe Suporte") | {
    "operator_alert": "Prezada equipe de operação"
}

# Phrases the servant must find, in both the text and the HTML version.
_REQUIRED = {
    "created": [CODE, "Erro/Indisponibilidade – SIASG",
                DUE, "72 horas úteis",
                "print-erro.png", "Divulgação de Compras", "Como publicar um aviso",
                f"[#{CODE}]", "0800 978 9001", "redecompras@planejamento.rj.gov.br",
                "2026-000100", "não foi incluída"],
    "incomplete": [f"[#{CODE}]", "aguardando informações", "Print da tela com o erro",
                   "CNPJ", "dígitos verificadores inválidos", "Passo a passo até o erro: ",
                   "10 dias", "encerrado sem tratamento", "João Lima", "tela-erro.png",
                   "ainda falta", "print-erro.png"],
    "proof_needed": ["para cancelar o chamado", CODE, "nada foi alterado",
                     "responda a esta mensagem", "Se não foi você"],
    "no_theme": ["Reativação de UASG", "Reativação de UASG 987654", "nenhum chamado",
                 "0800 978 9001", "parece tratar deste tema", "Cadastro de unidades e usuários",
                 "usando o assunto: ", "Alteração de cadastro de usuário", "urgente: motivo"],
    "closed_incomplete": [f"[#{CODE}]", "encerrado sem tratamento", "Print da tela com o erro",
                          "dígitos verificadores inválidos"],
    "closed_unanswered": [f"[#{CODE}]", "7 dias", "Qual navegador o senhor usa?",
                          "29/11/2026 às 10:00", "será reaberto"],
    "quarantined": ["a mensagem excede o tamanho máximo de 25 MB",
                    "nenhum chamado foi aberto ou alterado", "0800 978 9001"],
    "completed": [CODE, "print-erro.png", "encaminhado para atendimento", "0800 978 9001"],
    "staff_answer": [CODE, "A UASG foi reativada.", "tela-erro.png", "resolvido",
                     "(muito insatisfeito)", "Nota: 4 - bom atendimento"],
    "rating_received": [CODE, "Registramos a nota", "Bom atendimento"],
    "status": [CODE, "em atendimento", DUE, "Erro/Indisponibilidade – SIASG",
               "Estamos analisando o erro.", "29/11/2026 às 10:00", "print-erro.png"],
    "my_tickets": [CODE, "Você tem 25 chamados", "em atendimento", DUE],
    "my_tickets_link": ["https://atendimento.example.gov.br/meus-chamados/TOKEN", "90 dias",
                        "maria@saude.rj.gov.br", "Se você não fez este pedido"],
    "urgent_received": [CODE, "O pregão será aberto amanhã.", "Média", DUE],
    "cancelled": [CODE, "foi cancelado", "Resolvi pelo telefone."],
    "command_help": ["Informe o código do chamado", "meus chamados", "urgente 2026-000123",
                     "cancelar 2026-000123", f"[#{CODE}]", "0800 978 9001"],
    "stranger_notice": [CODE, "não foi incluída", "nenhum chamado foi aberto"],
    "staff_help": [CODE, "#resolvdo", "#prioridade alta", "#nota", "#tema erro-siasg",
                   f"[#{CODE}]"],
    "routed": ["Prezada equipe Suporte Técnico SIASG", CODE, "Divulgação de Compras",
               "O SIASG apresenta erro ao publicar.", "print-erro.png", "maria@saude.rj.gov.br",
               "#resolvido", f"[#{CODE}]"],
    "area_update": [CODE, "O erro voltou a acontecer hoje.", "tela-erro.png", "#resolvido",
                    "que estava resolvido", "reaberto"],
    "area_urgent": [CODE, "O pregão será aberto amanhã.", "Maria da Silva", "Média"],
    "area_cancelled": [CODE, "cancelou o chamado", "Resolvi pelo telefone."],
    "deadline_reminder": [CODE, DUE, "23 horas úteis"],
    "deadline_escalation": [CODE, "venceu", "1 hora", "coordenacao@example.gov.br"],
    "operator_alert": [CODE, "mensagens automáticas na última hora", "laço de e-mails", ALERT_KEY],
    "staff_login": ["https://atendimento.example.gov.br/entrar/abc123", "07/12/2026 às 10:15",
                    "15 minutos", "uma única vez", "Se não foi você", "maria@saude.rj.gov.br"],
}  # fmt: skip


def sample_context(purpose: str) -> dict[str, object]:
    """A full context for a purpose, as the pipeline builds it."""
    return {
        "desk": {
            "name": "Central de Atendimento – Compras.gov.br RJ",
            "address": "suporte@compras.rj.gov.br",
            "phone": "0800 978 9001",
        },
        "requester": {"name": "Maria da Silva", "email": "maria@saude.rj.gov.br"},
        "original_subject": "Erro ao publicar aviso",
        **_PURPOSE_CONTEXT[purpose],
    }


@pytest.fixture(scope="module")
def renderer() -> ReplyRenderer:
    return ReplyRenderer(shipped_dir("templates"))


def _folder(tmp_path: Path, **templates: str) -> ReplyRenderer:
    for name, source in templates.items():
        (tmp_path / name.replace("__", ".")).write_text(source, encoding="utf-8")
    return ReplyRenderer(tmp_path)


def test_the_shipped_purposes_are_the_documented_ones(renderer: ReplyRenderer) -> None:
    assert renderer.purposes() == sorted(_PURPOSE_CONTEXT)


@pytest.mark.parametrize("purpose", ReplyRenderer(shipped_dir("templates")).purposes())
def test_every_purpose_renders_text_and_html(renderer: ReplyRenderer, purpose: str) -> None:
    reply = renderer.render(purpose, sample_context(purpose))

    assert reply.subject and "\n" not in reply.subject and "[#" not in reply.subject
    greeting = GREETINGS.get(purpose, "Prezado(a) Maria da")
    assert reply.text.startswith(greeting)
    assert '<html lang="pt-BR">' in reply.html
    for phrase in _REQUIRED[purpose]:
        assert phrase in reply.text, phrase
        assert phrase in reply.html, phrase


@pytest.mark.parametrize(
    ("moment", "zone", "text"),
    [
        # 20:00 UTC is 17:00 in Rio: the requester reads the desk's own day and hour.
        (datetime(2026, 12, 10, 20, 0, tzinfo=UTC), "America/Sao_Paulo",
         "quinta-feira, 10/12/2026, até as 17:00 (horário de Brasília)"),
        (datetime(2026, 12, 12, 2, 30, tzinfo=UTC), "America/Sao_Paulo",
         "sexta-feira, 11/12/2026, até as 23:30 (horário de Brasília)"),
        (datetime(2026, 12, 10, 20, 0, tzinfo=UTC), "America/Manaus",
         "quinta-feira, 10/12/2026, até as 16:00 (horário do Amazonas)"),
    ],
)  # fmt: skip
def test_a_deadline_reads_as_a_weekday_date_and_hour_of_the_desk(
    moment: datetime, zone: str, text: str
) -> None:
    assert deadline_text(moment, ZoneInfo(zone)) == text


def test_a_requester_without_name_is_greeted_politely(renderer: ReplyRenderer) -> None:
    context = sample_context("created") | {"requester": {"name": "", "email": "x@rj.gov.br"}}
    reply = renderer.render("created", context)
    assert reply.text.startswith("Prezado(a) usuário(a),")
    assert "Prezado(a) usuário(a)," in reply.html


def test_a_missing_context_key_raises_template_error(renderer: ReplyRenderer) -> None:
    context = sample_context("created")
    del context["ticket"]
    with pytest.raises(TemplateError, match=r"created\.txt\.j2.*ticket"):
        renderer.render("created", context)


def test_an_unknown_purpose_raises_template_error(renderer: ReplyRenderer) -> None:
    with pytest.raises(TemplateError, match="not found"):
        renderer.render("nonexistent", sample_context("quarantined"))


def test_html_escapes_a_hostile_subject_and_text_keeps_it(renderer: ReplyRenderer) -> None:
    hostile = '<script>alert("x")</script>'
    reply = renderer.render(
        "quarantined", sample_context("quarantined") | {"original_subject": hostile}
    )
    assert "<script>" not in reply.html
    assert "&lt;script&gt;" in reply.html
    assert hostile in reply.text


@pytest.mark.parametrize("purpose", sorted(_PURPOSE_CONTEXT))
def test_no_context_string_reaches_html_unescaped(renderer: ReplyRenderer, purpose: str) -> None:
    # Guards the macros too: one imported from a non-HTML template would not escape.
    context = _poisoned(sample_context(purpose))
    assert isinstance(context, dict)
    reply = renderer.render(purpose, context)
    assert "<b>" not in reply.html


def test_a_moved_tickets_routing_mail_says_whence_and_by_whom_escaped(
    renderer: ReplyRenderer,
) -> None:
    transfer = {"from_theme": "Cadastro de unidades e usuários", "by": "ana@suporte.gov.br"}
    context = _poisoned({**sample_context("routed"), "transfer": transfer})
    assert isinstance(context, dict)

    reply = renderer.render("routed", context)

    assert reply.subject.startswith("Chamado transferido: Erro ao publicar aviso")
    assert (
        "transferido para esta equipe por ana@suporte.gov.br<b>, do tema "
        '"Cadastro de unidades e usuários<b>"' in reply.text
    )
    assert "por ana@suporte.gov.br&lt;b&gt;" in reply.html and "<b>" not in reply.html


def _poisoned(value: object) -> object:
    """The same structure with markup appended to every string."""
    if isinstance(value, str):
        return value + "<b>"
    if isinstance(value, dict):
        return {key: _poisoned(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_poisoned(item) for item in value]
    return value


@pytest.mark.parametrize(
    "expression",
    ["''.__class__", "''.__class__.__mro__", "requester.__init__", "[].append(1)"],
)
def test_sandbox_blocks_unsafe_access(tmp_path: Path, expression: str) -> None:
    renderer = _folder(
        tmp_path,
        evil__txt__j2=f"{{% block subject %}}x{{% endblock %}}{{{{ {expression} }}}}",
        evil__html__j2="<p>x</p>",
    )
    with pytest.raises(TemplateError, match=r"evil\.txt\.j2"):
        renderer.render("evil", {"requester": {"name": ""}})


@pytest.mark.parametrize("expression", ["'a' * 10**9", "[0] * 10**7", "2 ** (10 ** 9)"])
def test_sandbox_refuses_huge_values(tmp_path: Path, expression: str) -> None:
    renderer = _folder(
        tmp_path,
        big__txt__j2=f"{{% block subject %}}x{{% endblock %}}{{{{ {expression} }}}}",
        big__html__j2="<p>x</p>",
    )
    with pytest.raises(TemplateError, match="over the limit"):
        renderer.render("big", {})


def test_an_oversized_template_is_rejected(tmp_path: Path) -> None:
    renderer = _folder(
        tmp_path,
        big__txt__j2="{% block subject %}x{% endblock %}" + "a" * 2_000,
        big__html__j2="<p>x</p>",
    )
    capped = ReplyRenderer(tmp_path, max_template_bytes=1_000)
    with pytest.raises(TemplateError, match="larger than the 1000-byte"):
        capped.render("big", {})
    assert renderer.render("big", {}).subject == "x"


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    renderer = _folder(
        tmp_path,
        bad__txt__j2="{% block subject %}x{% endblock %}\nok\n{% if %}\n",
        bad__html__j2="<p>x</p>",
    )
    with pytest.raises(TemplateError, match=r"bad\.txt\.j2:3"):
        renderer.render("bad", {})


def test_a_text_template_without_subject_block_is_refused(tmp_path: Path) -> None:
    renderer = _folder(tmp_path, plain__txt__j2="no subject", plain__html__j2="<p>x</p>")
    with pytest.raises(TemplateError, match=r"no \{% block subject %\}"):
        renderer.render("plain", {})


def test_purposes_ignore_shared_files(tmp_path: Path) -> None:
    renderer = _folder(tmp_path, _layout__txt__j2="", a__txt__j2="", b__html__j2="")
    assert renderer.purposes() == ["a", "b"]


def _build(reply: RenderedReply, **overrides: object) -> bytes:
    arguments: dict[str, object] = {
        "sender": "suporte@compras.rj.gov.br",
        "sender_name": "Central de Atendimento – Compras.gov.br RJ",
        "to": ["maria@saude.rj.gov.br"],
        "cc": ["redecompras@planejamento.rj.gov.br"],
        "tag": f"[#{CODE}]",
        "in_reply_to": "orig-1@saude.rj.gov.br",
        "references": ["first@saude.rj.gov.br", "orig-1@saude.rj.gov.br"],
        "message_id": "reply-1@compras.rj.gov.br",
    }
    return build_email(reply, **(arguments | overrides))  # type: ignore[arg-type]


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_built_reply_parses_back_with_both_parts_and_threading(
    renderer: ReplyRenderer,
) -> None:
    reply = renderer.render("created", sample_context("created"))
    msg = _parse(_build(reply))

    assert msg.get_content_type() == "multipart/alternative"
    # Python 3.11 folds a long subject leaving a space on both sides of the fold, so the
    # parsed value can hold a double space where the line was folded.
    assert " ".join(msg["Subject"].split()) == f"[#{CODE}] {reply.subject}"
    assert msg["Message-ID"] == "<reply-1@compras.rj.gov.br>"
    assert msg["In-Reply-To"] == "<orig-1@saude.rj.gov.br>"
    assert msg["References"] == "<first@saude.rj.gov.br> <orig-1@saude.rj.gov.br>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["Content-Language"] == "pt-BR"
    assert "Precedence" not in msg
    assert msg["Date"] is not None
    assert msg["From"].addresses[0].display_name == "Central de Atendimento – Compras.gov.br RJ"
    assert msg["Cc"] == "redecompras@planejamento.rj.gov.br"
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    # The wire has CRLF line ends, which decoding keeps.
    assert text.get_content().replace("\r\n", "\n") == reply.text
    assert html.get_content().replace("\r\n", "\n") == reply.html


def test_built_reply_has_crlf_lines_and_stays_seven_bit(renderer: ReplyRenderer) -> None:
    raw = _build(renderer.render("incomplete", sample_context("incomplete")))
    assert raw.isascii()
    assert raw.count(b"\n") == raw.count(b"\r\n")


def test_a_subject_with_line_breaks_cannot_inject_headers() -> None:
    reply = RenderedReply(
        subject="Erro\r\nBcc: vitima@example.org\nX-Evil: 1\u2028Y", text="t", html="<p>h</p>"
    )
    msg = _parse(_build(reply))
    assert msg.get_all("Subject") == [f"[#{CODE}] Erro Bcc: vitima@example.org X-Evil: 1 Y"]
    assert "Bcc" not in msg and "X-Evil" not in msg


def test_no_tag_no_thread_and_auto_generated() -> None:
    reply = RenderedReply(subject="Assunto", text="t", html="<p>h</p>")
    msg = _parse(
        _build(reply, tag=None, in_reply_to=None, references=[], cc=[],
               auto_submitted="auto-generated")
    )  # fmt: skip
    assert msg["Subject"] == "Assunto"
    assert "In-Reply-To" not in msg and "References" not in msg and "Cc" not in msg
    assert msg["Auto-Submitted"] == "auto-generated"


def test_a_non_ascii_mailbox_is_kept_as_utf8() -> None:
    reply = RenderedReply(subject="Assunto", text="t", html="<p>h</p>")
    raw = _build(reply, to=["joão@prefeitura.rj.gov.br"])
    assert "joão@prefeitura.rj.gov.br".encode() in raw
    assert _parse(raw)["To"] == "joão@prefeitura.rj.gov.br"


def test_message_ids_are_bare_and_unique() -> None:
    ids = {make_message_id("compras.rj.gov.br") for _ in range(1_000)}
    assert len(ids) == 1_000
    assert all(i.endswith("@compras.rj.gov.br") and "<" not in i for i in ids)


def test_attachments_make_a_mixed_message_that_keeps_both_bodies(
    renderer: ReplyRenderer,
) -> None:
    reply = renderer.render("routed", sample_context("routed"))
    files = [
        Attachment("print-erro.png", "image/png", "image/png", b"\x89PNG\r\n\x1a\n..."),
        Attachment("original.eml", "message/rfc822", None, b"From: x@y\r\n\r\nhi"),
        Attachment("dados.bin", "nonsense", None, b"\x00\x01"),
    ]
    msg = _parse(_build(reply, attachments=files, auto_submitted="auto-generated"))

    assert msg.get_content_type() == "multipart/mixed"
    assert msg["Content-Language"] == "pt-BR"
    text = msg.get_body(("plain",))
    assert text is not None and "Prezada equipe" in text.get_content()
    parts = [
        (p.get_content_type(), p.get_filename(), p.get_content()) for p in msg.iter_attachments()
    ]
    assert parts == [
        ("image/png", "print-erro.png", files[0].data),
        # message/* may not be base64 (RFC 2046): an attached .eml travels as bytes.
        ("application/octet-stream", "original.eml", files[1].data),
        ("application/octet-stream", "dados.bin", files[2].data),
    ]
