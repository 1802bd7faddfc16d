"""The pipeline end to end through ``mailproc ingest``: the seed's cases, one outcome each."""

from __future__ import annotations

import email
import mailbox
import re
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailproc.config import load_config
from mailproc.service.app import App
from mailproc.storage import models as m
from tests.mails import (
    INVALID_CNPJ,
    PDF,
    REQUESTER,
    SUPPORT,
    error_body,
    error_report,
    mail,
    png,
    reactivation,
    reactivation_body,
    screenshot_png,
)

Ingest = Callable[[bytes], dict]
CODE = re.compile(r"^\d{4}-\d{6}$")


def outbox(config_path: Path) -> list[EmailMessage]:
    """The mail written to the outbox Maildir (the embedded default, no SMTP), in order."""
    path = config_path.parent / "outbox"
    if not path.exists():  # nothing was ever sent
        return []
    folder = mailbox.Maildir(path, create=False)
    return [
        email.message_from_bytes(folder.get_bytes(key), policy=policy.default)  # type: ignore[misc]
        for key in sorted(folder.keys())
    ]


def replies(config_path: Path) -> list[EmailMessage]:
    """The replies to senders (Auto-Submitted: auto-replied), without mail to routing areas."""
    return [mail for mail in outbox(config_path) if mail["Auto-Submitted"] == "auto-replied"]


def text_of(reply: EmailMessage) -> str:
    body = reply.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def db_app(config_path: Path) -> App:
    return App(load_config(config_path))


def test_complete_error_report_creates_a_ticket_and_acknowledges_it(
    ingest: Ingest, config_path: Path
) -> None:
    result = ingest(error_report())

    assert result["outcome"] == "created"
    assert CODE.match(result["ticket"])
    assert result["theme"] == "erro-siasg"
    assert result["missing"] == []
    assert result["replies"] == 1
    [reply] = replies(config_path)
    assert f"[#{result['ticket']}]" in reply["Subject"]
    assert reply["To"] == "maria.silva@saude.rj.gov.br"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert "72 horas" in text_of(reply)


def test_codes_are_consecutive_within_the_year(ingest: Ingest) -> None:
    first = ingest(error_report())["ticket"]
    second = ingest(error_report())["ticket"]

    year, number = first.split("-")
    assert second == f"{year}-{int(number) + 1:06d}"


def test_error_report_without_screenshot_is_incomplete_and_says_what_is_missing(
    ingest: Ingest, config_path: Path
) -> None:
    result = ingest(error_report(screenshot=False))

    assert result["outcome"] == "incomplete"
    assert CODE.match(result["ticket"])
    assert [k for k in result["missing"] if "passo" in k] == []
    assert len(result["missing"]) == 1  # only the screenshot
    [notice] = replies(config_path)
    text = text_of(notice)
    assert "print (captura) da tela" in text
    assert f"[#{result['ticket']}]" in text  # how to reply so the ticket is completed


def test_a_pdf_named_like_a_screenshot_does_not_count_as_one(ingest: Ingest) -> None:
    raw = mail(
        "Erro ao publicar aviso no SIASG",
        error_body(),
        attachments=(("print.png", "image/png", PDF),),
    )
    result = ingest(raw)

    assert result["outcome"] == "incomplete"
    assert len(result["missing"]) == 1  # the screenshot; every answer was given


def test_missing_step_by_step_is_named_in_the_notice(ingest: Ingest, config_path: Path) -> None:
    result = ingest(error_report(steps=False))

    assert result["outcome"] == "incomplete"
    assert result["missing"] == ["passo_a_passo"]
    assert "Passo a passo:" in text_of(replies(config_path)[0])  # the questionnaire line


def test_uasg_reactivation_with_invalid_cnpj_is_incomplete_with_the_reason(
    ingest: Ingest, config_path: Path
) -> None:
    result = ingest(reactivation(cnpj=INVALID_CNPJ))

    assert result["outcome"] == "incomplete"
    assert result["theme"] == "reativacao-uasg"
    assert result["missing"] == ["cnpj"]
    assert "verificadores" in text_of(replies(config_path)[0])


def test_valid_uasg_reactivation_is_created(ingest: Ingest) -> None:
    result = ingest(reactivation())

    assert (result["outcome"], result["theme"]) == ("created", "reativacao-uasg")


def test_html_only_report_with_pasted_screenshot_is_complete(ingest: Ingest) -> None:
    body = error_body()
    html = "<html><body>" + "".join(f"<p>{line}</p>" for line in body.splitlines())
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = REQUESTER, SUPPORT, "Erro no SIASG ao publicar"
    msg["Message-ID"] = "<html-only-1@orgao.rj.gov.br>"
    msg.set_content(html + '<p><img src="cid:print1"></p></body></html>', subtype="html")
    msg.add_related(screenshot_png(), maintype="image", subtype="png", cid="<print1>")

    result = ingest(msg.as_bytes())

    assert result["outcome"] == "created", result


def test_latin1_body_is_read_with_its_accents(ingest: Ingest, config_path: Path) -> None:
    raw = mail(
        "Reativação de UASG",
        reactivation_body(),
        charset="iso-8859-1",
    )
    result = ingest(raw)

    assert result["outcome"] == "created"
    with db_app(config_path).sessions() as session:
        ticket = session.scalars(select(m.Ticket)).one()
        assert ticket.answers["orgao"] == "Fundação Estadual de Educação"


def test_forward_from_redecompras_opens_the_ticket_for_the_original_sender(
    ingest: Ingest, config_path: Path
) -> None:
    forwarded = Path(__file__).parents[1] / "examples" / "04-duvida-encaminhada-redecompras.eml"
    result = ingest(forwarded.read_bytes())

    assert (result["outcome"], result["theme"]) == ("created", "duvidas-compras")
    [ack] = replies(config_path)
    assert ack["To"] == "carlos.pereira@der.rj.gov.br"
    assert "redecompras@planejamento.rj.gov.br" in ack["Cc"]
    with db_app(config_path).sessions() as session:
        ticket = session.scalars(select(m.Ticket)).one()
        roles = {p.email: p.role for p in ticket.participants}
    assert roles == {
        "carlos.pereira@der.rj.gov.br": "requester",
        "redecompras@planejamento.rj.gov.br": "forwarder",
    }


def test_out_of_office_reply_is_ignored_and_not_answered(ingest: Ingest, config_path: Path) -> None:
    raw = mail(
        "Resposta automática: Erro no SIASG",
        "Estou fora do escritório até 30/11.",
        headers={"Auto-Submitted": "auto-replied"},
    )
    result = ingest(raw)

    assert result == {
        "outcome": "ignored",
        "ticket": None,
        "theme": None,
        "missing": [],
        "replies": 0,
    }
    assert outbox(config_path) == []


def test_bounce_is_ignored(ingest: Ingest, config_path: Path) -> None:
    bounce = Path(__file__).parent / "fixtures" / "mail"
    candidates = sorted(bounce.glob("*bounce*"))
    assert candidates, "the bounce fixture is missing"
    result = ingest(candidates[0].read_bytes())

    assert result["outcome"] == "ignored"
    assert outbox(config_path) == []


def test_mail_from_our_own_address_is_ignored(ingest: Ingest) -> None:
    result = ingest(mail("Erro no SIASG", "teste", sender=f"Suporte <{SUPPORT}>"))

    assert result["outcome"] == "ignored"


def test_subject_without_theme_gets_the_list_of_themes(ingest: Ingest, config_path: Path) -> None:
    result = ingest(mail("Pedido", "Olá, preciso de ajuda com o sistema."))

    assert (result["outcome"], result["ticket"], result["replies"]) == ("no_theme", None, 1)
    text = text_of(replies(config_path)[0])
    assert "Reativação de UASG" in text and "Erro/Indisponibilidade" in text


def test_the_same_message_twice_gives_no_second_ticket_and_no_second_reply(
    ingest: Ingest, config_path: Path
) -> None:
    raw = error_report()
    first = ingest(raw)
    again = ingest(raw)

    assert first["outcome"] == "created"
    assert again["outcome"] == "duplicate"
    assert len(replies(config_path)) == 1
    with db_app(config_path).sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.Ticket)) == 1


def test_same_message_id_on_other_content_is_a_mail_of_its_own(ingest: Ingest) -> None:
    """A duplicate is the same sender and content (tests/test_dedup.py), not a Message-ID."""
    first = ingest(error_report(message_id="<same@orgao.rj.gov.br>"))
    other = ingest(error_report(message_id="<same@orgao.rj.gov.br>"))  # another Date header

    assert (first["outcome"], other["outcome"]) == ("created", "created")
    assert other["ticket"] != first["ticket"]


def test_reply_with_the_code_completes_an_incomplete_ticket(
    ingest: Ingest, config_path: Path
) -> None:
    opened = ingest(error_report(screenshot=False))
    code = opened["ticket"]
    reply = mail(
        f"RES: [#{code}] Chamado aguardando informações: Erro ao publicar aviso no SIASG",
        "Segue o print solicitado.\n\nEm sex., 20 de nov. de 2026 às 10:00, Suporte escreveu:\n"
        "> Sua solicitação foi registrada",
        attachments=(("tela.png", "image/png", screenshot_png()),),
    )
    result = ingest(reply)

    assert (result["outcome"], result["ticket"]) == ("updated", code)
    assert result["missing"] == []
    with db_app(config_path).sessions() as session:
        ticket = session.scalars(select(m.Ticket).filter_by(code=code)).one()
        assert ticket.state == "aberto"
        assert ticket.due_at is not None
        assert [msg.body_text for msg in ticket.messages][-1] == "Segue o print solicitado."
    completed = replies(config_path)[-1]
    assert f"[#{code}]" in completed["Subject"]


def test_reply_in_two_steps_reports_only_what_is_still_missing(
    ingest: Ingest, config_path: Path
) -> None:
    code = ingest(reactivation(cnpj=INVALID_CNPJ))["ticket"]
    still = ingest(mail(f"Re: [#{code}] Reativação de UASG", "Telefone: (21) 99999-0000"))
    done = ingest(mail(f"Re: [#{code}] Reativação de UASG", "CNPJ: 11.222.333/0001-81"))

    assert (still["outcome"], still["missing"]) == ("updated", ["cnpj"])
    assert (done["outcome"], done["missing"]) == ("updated", [])
    with db_app(config_path).sessions() as session:
        ticket = session.scalars(select(m.Ticket).filter_by(code=code)).one()
        assert ticket.state == "aberto"
        assert ticket.answers["cnpj"] == "11.222.333/0001-81"


def test_stranger_quoting_a_code_does_not_get_into_the_ticket(ingest: Ingest) -> None:
    code = ingest(error_report())["ticket"]
    stranger = mail(
        f"Re: [#{code}] Erro ao publicar aviso no SIASG",
        "Também tenho esse erro.",
        sender="Intruso <intruso@example.com>",
    )
    result = ingest(stranger)

    assert result["outcome"] != "updated"
    assert result["ticket"] != code


def test_reply_by_headers_alone_finds_the_ticket(ingest: Ingest, config_path: Path) -> None:
    code = ingest(error_report(screenshot=False))["ticket"]
    [notice] = replies(config_path)
    reply = mail(
        "Re: print",  # the code was deleted from the subject
        "Segue.",
        attachments=(("tela.png", "image/png", png()),),
        headers={"In-Reply-To": notice["Message-ID"]},
    )
    result = ingest(reply)

    assert (result["outcome"], result["ticket"]) == ("updated", code)


@pytest.mark.parametrize("raw", [b"", b"\x00\x01garbage", b"not an email at all"])
def test_unusable_input_is_quarantined_with_its_bytes_kept(
    ingest: Ingest, config_path: Path, raw: bytes
) -> None:
    result = ingest(raw)

    assert result["outcome"] == "quarantined"
    with db_app(config_path).sessions() as session:
        stored = session.scalars(select(m.RawMessage)).one()
        assert (stored.data, stored.outcome) == (raw, "quarantined")
        assert stored.reason


def test_start_refuses_a_database_that_is_behind(tmp_path: Path) -> None:
    from mailproc.service.cli import main
    from tests.conftest import write_config

    config = write_config(tmp_path, "sqlite:///never-upgraded.db")
    assert main(["--config", str(config), "ingest", "/dev/null"]) == 3


def test_bad_config_stops_with_file_key_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mailproc.service.cli import main

    config = tmp_path / "bad.toml"
    config.write_text('[desk]\naddress = "suporte@x.gov.br"\ncode_tag = "[#]"\n')
    assert main(["--config", str(config), "tickets", "list"]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "desk.code_tag" in err and "{code}" in err


def test_a_sender_gets_no_more_than_the_daily_cap_of_automatic_replies(
    config_path: Path,
) -> None:
    app = db_app(config_path).start()
    cap = app.config.loop_caps.replies_per_sender_per_day  # the default: no [limits] set
    results = [
        app.pipeline.process(mail(f"Pedido {n}", "Olá, preciso de ajuda."), "test")
        for n in range(cap + 2)
    ]

    assert all(r.outcome.value == "no_theme" for r in results)  # every mail is still recorded
    assert [r.replies for r in results] == [1] * cap + [0, 0]


def test_incomplete_ticket_is_closed_untreated_after_its_waiting_period_and_reopens(
    ingest: Ingest, config_path: Path
) -> None:
    from datetime import timedelta

    from mailproc.storage.db import utcnow
    from mailproc.tickets.upkeep import close_expired_incomplete

    code = ingest(error_report(screenshot=False))["ticket"]
    app = db_app(config_path).start()
    with app.sessions.begin() as session:  # the waiting period ran out
        ticket = session.scalars(select(m.Ticket).filter_by(code=code)).one()
        ticket.incomplete_until = utcnow() - timedelta(minutes=1)

    assert close_expired_incomplete(app.pipeline) == 1
    assert close_expired_incomplete(app.pipeline) == 0  # once
    with app.sessions() as session:
        ticket = session.scalars(select(m.Ticket).filter_by(code=code)).one()
        assert ticket.state == "encerrado_sem_tratamento"
        closing = session.scalars(
            select(m.OutboxMail).filter_by(ticket_id=ticket.id, purpose="closed_incomplete")
        ).one()
        assert closing.to_address == "maria.silva@saude.rj.gov.br"

    reply = mail(
        f"Re: [#{code}] Erro",
        "Segue o print.",
        attachments=(("t.png", "image/png", screenshot_png()),),
    )
    assert ingest(reply)["outcome"] == "updated"
    with app.sessions() as session:
        assert session.scalars(select(m.Ticket.state).filter_by(code=code)).one() == "aberto"


def test_ingest_reads_standard_input_when_no_file_is_given(config_path: Path) -> None:
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "mailproc", "--config", str(config_path), "ingest"],
        input=reactivation(),
        capture_output=True,
        check=False,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr.decode()
    result = json.loads(done.stdout)
    assert (result["outcome"], result["theme"], result["replies"]) == (
        "created",
        "reativacao-uasg",
        1,
    )
