"""Reading what happened from the command line: a ticket's conversation and files, times in
the desk's zone, listings fit for a terminal and for scripts, input errors without tracebacks,
options that explain themselves (issue #18, item 4)."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from mailproc.decision.ticket_state import TicketState
from mailproc.service.app import App
from mailproc.service.cli import _parser, main
from mailproc.service.cli.output import desk_time, human_size
from mailproc.storage import models as m
from mailproc.storage.retention import purge
from tests.conftest import REPO, write_config
from tests.mails import PDF, error_body, mail, screenshot_png
from tests.threads import set_ticket, staff_reply

Ingest = Callable[[bytes], dict]
# "2026-12-07 09:15 -03": the one format of a time in the command line's text output.
DESK_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d -03"


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``mailproc --config CONFIG ARGS`` through main(): its exit code, stdout and stderr."""
    capsys.readouterr()
    code = main(["--config", str(config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def mailproc(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m mailproc ARGS`` in a child process, its output piped."""
    return subprocess.run(
        [sys.executable, "-m", "mailproc", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=60, check=False,
    )  # fmt: skip


def open_ticket(ingest: Ingest, *files: tuple[str, str, bytes]) -> str:
    """A complete error report with a print of the screen and ``files``: an open ticket."""
    print_ = ("print-erro.png", "image/png", screenshot_png())
    result = ingest(
        mail("Erro ao publicar aviso no SIASG", error_body(), attachments=(print_, *files))
    )
    assert result["outcome"] == "created", result
    return str(result["ticket"])


# -- tickets show ---------------------------------------------------------------------------


def test_tickets_show_prints_the_conversation_readably(
    ingest: Ingest, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = open_ticket(ingest, ("manual.pdf", "application/pdf", PDF))
    ingest(staff_reply(code, "#resolvido\n\nBom dia, Maria. Corrigimos o erro."))

    status, out, _ = run(config_path, capsys, "tickets", "show", code)

    assert status == 0
    header = dict(line.split(": ", 1) for line in out.split("\n\n")[0].splitlines())
    assert header["ticket"] == code
    assert header["subject"] == "Erro ao publicar aviso no SIASG"
    assert header["state"] == "resolvido" and header["theme"] == "erro-siasg"
    assert header["requester"] == "Maria Silva <maria.silva@saude.rj.gov.br>"
    assert re.fullmatch(DESK_TIME, header["opened"]) and re.fullmatch(DESK_TIME, header["due"])
    assert "priority" in header
    # Each message: who, when, what came of it, its text and its files, in order.
    first = out.index("From Maria Silva <maria.silva@saude.rj.gov.br>")
    second = out.index("From Ana Souza <ana.souza@suporte.example.gov.br>")
    assert first < out.index("O SIASG apresenta erro.") < second
    assert "Corrigimos o erro." in out[second:]
    assert re.search(rf"From Maria Silva .* {DESK_TIME}, created", out)
    assert re.search(r"print-erro\.png +image/png +\d+ KB", out)
    assert re.search(r"manual\.pdf +application/pdf +\d+ B", out)
    # The desk's mail about it, and the history.
    maria = r"maria\.silva@saude\.rj\.gov\.br"
    assert re.search(
        rf"{DESK_TIME}  sent +created +to {maria}: \[#{code}\] Chamado registrado", out
    )
    assert re.search(
        rf"{DESK_TIME}  sent +staff_answer +to {maria}: \[#{code}\] Chamado resolvido", out
    )
    assert re.search(rf"{DESK_TIME}  answered  by: ana\.souza@suporte\.example\.gov\.br", out)
    assert "{" not in out  # no JSON dumps, no Python reprs


def test_tickets_show_json_keeps_its_shape_and_adds_the_texts(
    ingest: Ingest, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = open_ticket(ingest)

    status, out, _ = run(config_path, capsys, "tickets", "show", code, "--json")

    shown = json.loads(out)
    assert status == 0
    before = {"code", "state", "theme", "priority", "requester", "subject", "created_at"}
    assert before | {
        "due_at",
        "answers",
        "participants",
        "evaluation",
        "messages",
        "events",
    } <= set(shown)
    [message] = shown["messages"]
    assert {"id", "outcome", "from", "subject", "received_at", "attachments"} <= set(message)
    assert "O SIASG apresenta erro." in message["text"] and message["purged_at"] is None
    assert message["attachments"][0]["filename"] == "print-erro.png"
    ack = next(mail for mail in shown["replies"] if mail["purpose"] == "created")
    assert ack["to"] == ["maria.silva@saude.rj.gov.br"] and code in ack["subject"]
    assert ack["status"] == "sent" and "@" in ack["message_id"]
    # Times stay ISO 8601, in UTC, as they always were.
    assert datetime.fromisoformat(shown["created_at"]).utcoffset() == timedelta(0)


def test_a_purged_ticket_says_so_and_has_no_files_to_write(
    ingest: Ingest, app: App, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = open_ticket(ingest)
    set_ticket(app, code, state=TicketState.CANCELLED.value)
    purge(app.sessions, timedelta(days=1), dry_run=False, now=datetime.now(UTC) + timedelta(days=2))

    status, out, _ = run(config_path, capsys, "tickets", "show", code)
    assert status == 0
    assert re.search(rf"\(mail purged on {DESK_TIME}\)", out)
    assert "O SIASG apresenta erro." not in out

    status, out, err = run(
        config_path, capsys, "tickets", "files", code, "--out", str(config_path.parent / "f")
    )
    assert status == 1 and out == ""
    assert re.fullmatch(rf"mailproc: the files of ticket {code} were purged on {DESK_TIME}\n", err)


def test_tickets_show_of_an_unknown_ticket(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config_path, capsys, "tickets", "show", "2026-999999")[1:] == (
        "",
        "mailproc: no ticket 2026-999999\n",
    )


# -- tickets files --------------------------------------------------------------------------


def crafted_file(filename_header: str, data: bytes) -> bytes:
    """A MIME part whose Content-Disposition is written by hand, as a hostile sender would."""
    return (
        (
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: 8bit\r\n"
            f"Content-Disposition: attachment; {filename_header}\r\n\r\n"
        ).encode()
        + data
        + b"\r\n"
    )


def hostile_report() -> bytes:
    """A complete error report carrying files named to escape the folder they are saved to."""
    import base64

    image = base64.encodebytes(screenshot_png()).replace(b"\n", b"\r\n")
    parts = [
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + error_body().encode() + b"\r\n",
        b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="print.png"\r\n\r\n' + image,
        crafted_file('filename="../../etc/passwd"', b"passwd"),
        crafted_file('filename="/etc/shadow"', b"shadow"),
        crafted_file('filename="CON.txt"', b"con"),
        crafted_file('filename="nul.txt"', b"nul"),
        crafted_file("filename*=utf-8''a%07b%1B%5B2Jc.txt", b"controls"),
        crafted_file(f'filename="{"x" * 296}.txt"', b"long"),
        crafted_file('filename="print.png"', b"second print"),
    ]
    head = (
        b"From: Maria Silva <maria.silva@saude.rj.gov.br>\r\nTo: suporte@compras.example.gov.br\r\n"
        b"Subject: Erro ao publicar aviso no SIASG\r\nMessage-ID: <hostile@saude.rj.gov.br>\r\n"
        b"Date: Fri, 20 Nov 2026 09:00:00 -0300\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    )
    return head + b"".join(b"--b\r\n" + part for part in parts) + b"--b--\r\n"


def test_tickets_files_writes_each_file_inside_the_folder_with_a_safe_new_name(
    ingest: Ingest, app: App, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = ingest(hostile_report())
    assert result["outcome"] == "created", result
    code = result["ticket"]
    # A row written before names were made safe, or by anything else: the command trusts none.
    with app.sessions.begin() as session:
        session.execute(
            update(m.Attachment)
            .where(m.Attachment.filename == "_CON.txt")
            .values(filename="../../../tmp/evil")
        )
    out_dir = config_path.parent / "saved"
    out_dir.mkdir()
    (out_dir / "print.png").write_bytes(b"mine")  # already there: never overwritten

    status, out, err = run(config_path, capsys, "tickets", "files", code, "--out", str(out_dir))

    assert status == 0, err
    written = [Path(line) for line in out.splitlines()]
    assert len(written) == 8
    assert all(path.parent == out_dir and path.is_file() for path in written)
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        ["print.png", *(p.name for p in written)]
    )
    assert (out_dir / "print.png").read_bytes() == b"mine"
    names = {path.read_bytes(): path.name for path in written}
    # The print already there keeps its name; the second print, stored as print-2.png
    # beside the first, becomes print-2-2.png.
    assert names[screenshot_bytes(written)] == "print-2.png"
    assert names[b"second print"] == "print-2-2.png"
    assert names[b"passwd"] == "passwd" and names[b"shadow"] == "shadow"
    assert names[b"con"] == "evil" and names[b"nul"] == "_nul.txt"
    assert names[b"controls"] == "a b [2Jc.txt"
    assert len(names[b"long"]) <= 150 and names[b"long"].endswith(".txt")
    assert not (config_path.parent / "tmp").exists() and not Path("/tmp/evil").exists()

    # Again: every file is written anew beside the first ones, none replaced.
    status, out, _ = run(config_path, capsys, "tickets", "files", code, "--out", str(out_dir))
    assert status == 0 and len(list(out_dir.iterdir())) == 17


def screenshot_bytes(paths: list[Path]) -> bytes:
    return next(p.read_bytes() for p in paths if p.read_bytes().startswith(b"\x89PNG"))


def test_tickets_files_defaults_to_a_folder_named_after_the_ticket(
    ingest: Ingest,
    config_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code = open_ticket(ingest)
    monkeypatch.chdir(config_path.parent)

    status, out, _ = run(config_path, capsys, "tickets", "files", code)

    assert status == 0
    assert out == f"{Path(f'{code}-files') / 'print-erro.png'}\n"
    assert (
        (config_path.parent / f"{code}-files" / "print-erro.png")
        .read_bytes()
        .startswith(b"\x89PNG")
    )


# -- times ------------------------------------------------------------------------------------


def test_one_time_format_in_the_desks_zone() -> None:
    moment = datetime(2026, 12, 7, 12, 15, 30, tzinfo=UTC)

    assert desk_time(moment, ZoneInfo("America/Sao_Paulo")) == "2026-12-07 09:15 -03"
    assert desk_time(moment, ZoneInfo("Asia/Kolkata")) == "2026-12-07 17:45 +05:30"
    assert desk_time(moment, ZoneInfo("UTC")) == "2026-12-07 12:15 +00"
    assert desk_time(None, ZoneInfo("UTC")) == "-"


def test_human_sizes() -> None:
    assert [human_size(n) for n in (0, 999, 1024, 186_368, 1_572_864, 25 * 1024**2)] == [
        "0 B", "999 B", "1.0 KB", "182 KB", "1.5 MB", "25 MB",
    ]  # fmt: skip


def test_listings_show_times_in_the_desks_zone(
    ingest: Ingest, app: App, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_ticket(ingest)
    with app.sessions.begin() as session:  # status shows the time of an alert
        session.add(m.Alert(key="cap:sender:x", kind="cap:sender", detail={"address": "x"}))

    for command in (("tickets", "list"), ("outbox", "list"), ("status", "--offline")):
        _, out, _ = run(config_path, capsys, *command)
        assert re.search(DESK_TIME, out), (command, out)
        assert not re.search(r"\d\d:\d\d:\d\d|\+00:00", out), (command, out)


# -- tickets list -----------------------------------------------------------------------------


def test_tickets_list_has_a_header_and_validates_the_state(
    ingest: Ingest, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = open_ticket(ingest)

    _, out, _ = run(config_path, capsys, "tickets", "list", "--state", "aberto")
    header, row = out.splitlines()
    assert header.split() == [
        "CODE",
        "STATE",
        "THEME",
        "PRIORITY",
        "OPENED",
        "REQUESTER",
        "SUBJECT",
    ]
    assert row.startswith(code)
    assert run(config_path, capsys, "tickets", "list", "--state", "resolvido")[1].splitlines() == [
        header
    ]

    with pytest.raises(SystemExit) as refused:
        main(["--config", str(config_path), "tickets", "list", "--state", "open"])
    assert refused.value.code == 2
    assert (
        "invalid choice: 'open' (choose from 'aberto', 'aguardando_informacoes'"
        in capsys.readouterr().err
    )


def test_tickets_list_fits_a_terminal_but_not_a_pipe(
    tmp_path: Path, ingest: Ingest, config_path: Path
) -> None:
    open_ticket(ingest)
    narrow = {"COLUMNS": "60"}

    piped = mailproc("--config", str(config_path), "tickets", "list", cwd=tmp_path, env=narrow)
    command = f"{sys.executable} -m mailproc --config {config_path} tickets list"
    terminal = subprocess.run(
        ["script", "-qec", command, "/dev/null"], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **narrow}, timeout=60, check=False,
    )  # fmt: skip

    assert piped.returncode == terminal.returncode == 0, terminal.stdout
    assert max(len(line) for line in piped.stdout.splitlines()) > 60
    shown = terminal.stdout.replace("\r\n", "\n").splitlines()
    assert len(shown) == 2 and max(len(line) for line in shown) == 60
    assert shown[1].endswith("…")


def test_a_listing_read_by_a_reader_that_stops_early_ends_quietly(
    tmp_path: Path, ingest: Ingest, config_path: Path
) -> None:
    """``mailproc tickets list | head -1``: the reader closes the pipe before the listing is
    written; the command ends with exit 0 and no traceback."""
    open_ticket(ingest)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes a line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "mailproc", "--config", str(config_path), "tickets", "list"],
            cwd=tmp_path, stdout=write_end, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)

    assert (done.returncode, done.stderr) == (0, "")


# -- input errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (("ingest", "{missing}"), 1),
        (("ingest", "{folder}"), 1),
        (("rules", "test", "{missing}"), 1),
        (("import", "{missing}"), 1),
        (("--config", "{missing}", "tickets", "list"), 2),
        (("--config", "{folder}", "tickets", "list"), 2),
    ],
)
def test_an_unreadable_input_file_is_one_line_not_a_traceback(
    tmp_path: Path, config_path: Path, command: tuple[str, ...], code: int
) -> None:
    missing, folder = tmp_path / "nowhere.eml", tmp_path
    args = [part.format(missing=missing, folder=folder) for part in command]
    if args[0] != "--config":
        args = ["--config", str(config_path), *args]

    done = mailproc(*args, cwd=tmp_path)

    named = folder if "{folder}" in command else missing
    reason = "Is a directory" if named == folder else "No such file or directory"
    assert (done.returncode, done.stdout) == (code, "")
    assert done.stderr == f"mailproc: cannot read {named}: {reason}\n"


# -- options ----------------------------------------------------------------------------------


def every_parser(
    parser: argparse.ArgumentParser, path: str = "mailproc"
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += every_parser(sub, f"{path} {name}")
    return found


def test_every_option_and_argument_has_help() -> None:
    undocumented = [
        f"{path}: {action.dest}"
        for path, parser in every_parser(_parser())
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert undocumented == []


def test_version_names_the_installed_distribution(tmp_path: Path) -> None:
    from importlib.metadata import packages_distributions, version

    [distribution] = packages_distributions()["mailproc"]
    done = mailproc("--version", cwd=tmp_path)

    assert (done.returncode, done.stdout) == (0, f"mailproc {version(distribution)}\n")


def test_global_options_also_work_after_the_command(
    tmp_path: Path, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "elsewhere").mkdir()
    elsewhere = write_config(tmp_path / "elsewhere", "sqlite:///never-upgraded.db")

    assert main(["tickets", "list", "--config", str(config_path)]) == 0
    assert main(["tickets", "list", "--config", str(config_path), "--log-level", "debug"]) == 0
    # Given before the command, not undone by the command's own (absent) option.
    assert main(["--config", str(config_path), "tickets", "list"]) == 0
    assert main(["--config", str(elsewhere), "tickets", "list", "--config", str(config_path)]) == 0


def test_poll_without_once_explains_itself(tmp_path: Path) -> None:
    done = mailproc("poll", cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr == (
        "mailproc: poll reads the mailboxes once: use `mailproc poll --once`, "
        "or `mailproc run` to keep reading\n"
    )
