"""No mail can stall the desk (#16 item 1): the work one message costs grows with its size
and no faster, a parse has a time budget past which the message is quarantined and the
desk goes on, and SIGTERM is honoured within seconds whatever the message in hand.

Shapes are measured, not speeds: what reaches the HTML libraries stays within bounds
whatever the input, and the CPU time of four times the input is compared with that of
the input (about 4 when linear, 16 when quadratic; the bound allows for a loaded machine).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage

import pytest
from lxml.etree import iterwalk

from mailproc.decision.commands import parse_command
from mailproc.mail import html_safety
from mailproc.mail.html_safety import bound_html
from mailproc.mail.message import InboundMessage
from mailproc.mail.parse import parse_ahead
from mailproc.rules.answers import extract_answers
from mailproc.service.parsing import ParseWorker, Stopped
from mailproc.storage import models as m
from tests.conftest import REPO
from tests.e2e import Desk, complete_report, message_id, wait_for
from tests.mails import REQUESTER, SUPPORT
from tests.timing import LINEAR_BOUND, growth

# Markup each library tried took time growing with the square (or worse) of its size.
HOSTILE_HTML: dict[str, Callable[[int], str]] = {
    "unclosed divs (the attack: nh3 cubic)": lambda n: "<div>" * n + "x",
    "closing what is not open": lambda n: "<span><div></span>" * n,
    "a div closed across a table": lambda n: "<div><table></div></table>" * n,
    "unclosed list items": lambda n: "<ul><li>" * n,
    "distinct attributes on one tag (libxml2, nh3)": lambda n: (
        "<div " + " ".join(f"a{i}=1" for i in range(n)) + ">x</div>"
    ),
    "formatting reopened in every block": lambda n: (
        "<p>" + "".join(f'<b title="{i}">' for i in range(60)) + "<div>x</div>" * n
    ),
    "fonts never closed": lambda n: "".join(f"<font color=#{i:06x}>x" for i in range(n)),
    "ampersands in one text (nh3)": lambda n: "&amp;x " * n,
    "no-break spaces in one text (nh3)": lambda n: "\u00a0x" * n,
    "a wide cell over many rows (inscriptis)": lambda n: (
        "<table><tr><td>" + "x" * n + "</td></tr>" + "<tr><td>y</td></tr>" * n + "</table>"
    ),
    "nested lists of lines (inscriptis indents)": lambda n: "<ul><li>" * 60 + "x<br>" * n,
}


def html_mail(html: str, subject: str = "Erro no SIASG ao publicar aviso") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = REQUESTER, SUPPORT, subject
    msg["Message-ID"] = f"<html-{abs(hash(html)) % 10**9}@saude.rj.gov.br>"
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


@pytest.mark.parametrize("build", HOSTILE_HTML.values(), ids=HOSTILE_HTML.keys())
def test_hostile_html_is_parsed_in_time_linear_in_its_size(build: Callable[[int], str]) -> None:
    raws = {n: html_mail(build(n)) for n in (4000, 16000)}

    ratio = growth(lambda n: parse_ahead(raws[n]), 4000)

    assert ratio < LINEAR_BOUND, ratio


@pytest.mark.parametrize("build", HOSTILE_HTML.values(), ids=HOSTILE_HTML.keys())
def test_what_reaches_the_html_libraries_stays_within_bounds(
    build: Callable[[int], str],
) -> None:
    bounded = bound_html(build(20000))

    assert bounded.tree is not None
    depth = formatting = widest = 0
    for event, element in iterwalk(bounded.tree, events=("start", "end")):
        step = 1 if event == "start" else -1
        depth += step
        formatting += step if element.tag in html_safety.FORMATTING_TAGS else 0
        assert depth <= html_safety.MAX_DEPTH + 2  # <html>, and the span of a long text
        assert formatting <= html_safety.MAX_FORMATTING_DEPTH
        widest = max(widest, len(element.attrib))
        for text in (element.text, element.tail):
            assert text is None or len(text) <= html_safety.TEXT_PIECE
    assert widest <= html_safety.MAX_ATTRIBUTES
    assert len(bounded.text()) <= html_safety.MAX_HTML_CHARS


def test_the_500_kb_mail_of_the_attack_keeps_its_text_and_says_what_was_cut() -> None:
    message = parse_ahead(html_mail("<div>" * 100_000 + "<p>Erro ao publicar</p>"))

    assert message.html is not None and len(message.html) < 10_000
    assert any("nested deeper than" in defect for defect in message.defects)


def test_a_line_of_separators_is_read_in_linear_time() -> None:
    labels = {"cnpj": ["CNPJ"], "uasg": ["UASG"]}
    for line in (":", "a-b:c=", "2026-000123 "):
        ratio = growth(lambda n, line=line: extract_answers(line * n, labels), 5000)
        assert ratio < LINEAR_BOUND, (line, ratio)


def test_a_subject_of_many_ticket_tags_is_read_in_linear_time() -> None:
    ratio = growth(lambda n: parse_command("[#2026-000123] " * n, "", in_thread=False), 100)

    assert ratio < LINEAR_BOUND, ratio


# -- the budget -------------------------------------------------------------------------------

ENDLESS = b"Subject: parse sem fim"


def endless_parse(raw: bytes) -> InboundMessage:
    """A parse that never ends for the marked message: the input nobody thought of yet."""
    if ENDLESS in raw:
        time.sleep(3600)
    return parse_ahead(raw)


def endless_mail() -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = REQUESTER, SUPPORT, "parse sem fim"
    msg["Message-ID"] = "<parse-sem-fim@saude.rj.gov.br>"
    msg.set_content("Texto.")
    return msg.as_bytes()


def test_a_parse_past_its_budget_is_abandoned_and_the_messages_after_it_go_on() -> None:
    raws = [endless_mail(), complete_report(1), complete_report(2)]

    with ParseWorker(1.0, endless_parse) as worker:
        numbers = [worker.submit(raw) for raw in raws]
        started = time.monotonic()
        first = worker.result(numbers[0])
        abandoned_after = time.monotonic() - started
        rest = [worker.result(number) for number in numbers[1:]]

    assert first.fatal == "parsing took longer than 1 s: abandoned"
    assert abandoned_after < 10
    assert [message.fatal for message in rest] == [None, None]
    assert [message.subject for message in rest] == [
        "Erro ao publicar aviso no SIASG (1)",
        "Erro ao publicar aviso no SIASG (2)",
    ]


def test_a_stop_ends_the_wait_for_a_parse_at_once() -> None:
    stopping = threading.Event()
    threading.Timer(0.5, stopping.set).start()

    with ParseWorker(3600, endless_parse) as worker:
        number = worker.submit(endless_mail())
        started = time.monotonic()
        with pytest.raises(Stopped):
            worker.result(number, stopping)

    assert time.monotonic() - started < 5


# -- through the real path ---------------------------------------------------------------------

# `mailproc` with the endless parse above in its parse worker: the worker is started by
# forkserver from this file, which it imports as __mp_main__ (without running main).
ENDLESS_MAILPROC = textwrap.dedent(
    """
    import sys
    import mailproc.service.parsing
    from tests.test_stall import endless_parse

    mailproc.service.parsing.parse_ahead = endless_parse
    if __name__ == "__main__":
        from mailproc.service.cli import main
        sys.exit(main(sys.argv[1:]))
    """
)


def endless_command(desk: Desk, *args: str) -> list[str]:
    script = desk.config.parent / "endless_mailproc.py"
    script.write_text(ENDLESS_MAILPROC)
    return [sys.executable, str(script), *args]


def set_message_seconds(desk: Desk, seconds: float) -> None:
    with desk.config.open("a") as config:
        config.write(f"\n[limits]\nmessage_seconds = {seconds}\n")


def child_env(desk: Desk) -> dict[str, str]:
    return desk.env | {"PYTHONPATH": str(REPO)}


@pytest.mark.servers
def test_hostile_html_first_in_the_mailbox_holds_up_nothing_behind_it(desk: Desk) -> None:
    hostile = html_mail("<div>" * 200_000 + "Erro ao publicar o aviso.")  # 1 MB
    normal = [complete_report(n) for n in range(3)]
    desk.imap.append_many("INBOX", [hostile, *normal])

    started = time.monotonic()
    poll = desk.poll()
    took = time.monotonic() - started

    assert poll.returncode == 0, poll.stderr
    outcomes = desk.outcomes()
    assert {outcomes[message_id(raw)] for raw in normal} == {"created"}
    assert message_id(hostile) in outcomes, "the hostile mail has an outcome"
    assert set(desk.replies_per_message()) >= {message_id(raw) for raw in normal}
    assert took < 20, took  # 100 s before on this machine, sanitizing this mail alone
    again = desk.poll()
    assert again.report["processed"] == 0, "nothing is read again"


@pytest.mark.servers
def test_a_message_past_its_budget_is_quarantined_and_the_desk_answers_the_rest(
    desk: Desk,
) -> None:
    set_message_seconds(desk, 1)
    normal = [complete_report(n) for n in range(3)]
    desk.imap.append_many("INBOX", [endless_mail(), *normal])

    done = subprocess.run(
        endless_command(desk, "poll", "--once", "--json"),
        cwd=REPO, env=child_env(desk), capture_output=True, timeout=120, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr.decode()
    with desk.session() as session:
        quarantined = session.query(m.RawMessage).filter_by(outcome="quarantined").one()
        reason = quarantined.reason
    assert reason == "parsing took longer than 1 s: abandoned"
    outcomes = desk.outcomes()
    assert {outcomes[message_id(raw)] for raw in normal} == {"created"}
    assert set(desk.replies_per_message()) >= {message_id(raw) for raw in normal}
    assert message_id(endless_mail()) in desk.folder_ids("Quarentena")
    assert desk.poll().report["processed"] == 0, "a restart does not read it again"


def stop_while_parsing(desk: Desk, *args: str) -> float:
    """Start mailproc ARGS (the endless parse in its worker) on the endless mail, SIGTERM
    it once the mail is in hand, and return how long it took to exit."""
    desk.imap.append_many("INBOX", [endless_mail(), complete_report(1)])
    log = desk.config.parent / "stopped.log"
    with log.open("wb") as output:
        child = subprocess.Popen(
            endless_command(desk, *args), cwd=REPO, env=child_env(desk),
            stdout=output, stderr=output,
        )  # fmt: skip
    try:
        in_hand = wait_for(lambda: desk.count(m.RawMessage) >= 1, 60)
        assert in_hand, log.read_text()
        time.sleep(1)  # well into its parse
        child.send_signal(signal.SIGTERM)
        started = time.monotonic()
        child.wait(timeout=30)
        return time.monotonic() - started
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


@pytest.mark.servers
@pytest.mark.parametrize("command", [("run",), ("poll", "--once")], ids=["run", "poll"])
def test_sigterm_during_a_parse_ends_the_desk_in_seconds_and_loses_no_message(
    desk: Desk, command: tuple[str, ...]
) -> None:
    set_message_seconds(desk, 3600)  # the budget is not what ends it

    took = stop_while_parsing(desk, *command)

    assert took < 5, took  # over 20 s before, with the attack's mail
    with desk.session() as session:
        assert session.query(m.RawMessage).filter(m.RawMessage.outcome.is_(None)).count() >= 1
    poll = desk.poll()  # the next read, with the real parser
    assert poll.returncode == 0, poll.stderr
    assert desk.outcomes()[message_id(endless_mail())] in {"created", "incomplete", "no_theme"}
