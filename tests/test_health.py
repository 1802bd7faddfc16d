"""Health an operator can trust, with ``mailproc run`` reading a real Dovecot: ``status``
and the metrics tell the truth at once, the mailbox session is kept while idling, reading
resumes within seconds of an outage, and stopping twice is harmless."""

from __future__ import annotations

import os
import platform
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from mailproc import __version__
from mailproc.config import load_config
from mailproc.service.poller import RETRY_MAX_SECONDS
from mailproc.storage import models as m
from tests.conftest import REPO, write_config
from tests.e2e import Batch, Desk, DeskFactory, wait_for
from tests.test_run import start_idling, stop

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def status(desk: Desk, *args: str) -> tuple[int, str]:
    """``mailproc status ARGS`` as an operator runs it: exit code and what it printed."""
    done = subprocess.run(
        desk.command("status", *args), cwd=REPO, env=desk.env, capture_output=True, timeout=60
    )
    output = done.stdout.decode() + done.stderr.decode()
    assert "Traceback" not in output, output
    return done.returncode, output


def failure_recorded(desk: Desk) -> bool:
    """The service recorded that it could not read the mailbox."""
    return desk.count(m.MailboxState, m.MailboxState.last_error.is_not(None)) > 0


def logins(desk: Desk) -> int:
    """How many times Dovecot let the desk's user log in (its own log says each one)."""
    log = (desk.imap.server.root / "dovecot.log").read_text(errors="replace")
    return log.count(f"Login: user=<{desk.imap.user}>")


def deliver_while_down(desk: Desk, raw: bytes) -> None:
    """Puts a message in the stopped server's INBOX, as its delivery agent would."""
    new = desk.imap.server.root / "home" / desk.imap.user / "Maildir" / "new"
    path = new / f"{time.time_ns()}.health.test"
    path.write_bytes(raw)
    os.chown(path, desk.imap.server.mail_uid, desk.imap.server.mail_gid)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def scrape(address: str, port: int) -> str:
    with urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=5) as answer:
        return str(answer.read().decode())


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text ``text``, None when absent."""
    for line in text.splitlines():
        found = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if found and all(f'{k}="{v}"' in (found.group(1) or "") for k, v in labels.items()):
            return float(found.group(2))
    return None


def test_status_names_a_down_mailbox_once_and_prints_no_python_values(
    make_desk: DeskFactory,
) -> None:
    desk = make_desk(poll_seconds=5, idle=True)
    child = start_idling(desk)
    desk.imap.stop()
    assert wait_for(lambda: failure_recorded(desk), 10), desk.output(child)

    code, output = status(desk)  # the recorded failure and the live check agree

    assert code == 1
    problems = [line for line in output.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1, output
    assert "suporte" in problems[0] and "connection refused" in problems[0]
    assert output.count("connection refused") == 1, output
    assert "None" not in output and "{" not in output, output
    assert "UNHEALTHY" in output
    stop(desk, child)


def test_after_an_outage_waiting_mail_is_read_within_seconds_and_status_is_healthy_again(
    make_desk: DeskFactory,
) -> None:
    desk = make_desk(poll_seconds=5, idle=True, outbox_seconds=1)
    batch = Batch.of(1)
    child = start_idling(desk)
    desk.imap.stop()
    assert wait_for(lambda: failure_recorded(desk), 10), desk.output(child)
    deliver_while_down(desk, batch.raws[0])
    time.sleep(RETRY_MAX_SECONDS)  # failed attempts, spaced out by now

    desk.imap.start()
    back = time.monotonic()
    read = wait_for(lambda: bool(desk.outcomes()), 15, step=0.1)
    took = time.monotonic() - back
    code, output = status(desk, "--offline")
    stop(desk, child)

    assert read, desk.output(child)
    assert took < RETRY_MAX_SECONDS + 2, (
        f"read {took:.1f} s after the server came back\n{desk.output(child)}"
    )
    assert desk.outcomes() == batch.expected
    assert code == 0, output  # the recovery shows at once, not at the next poll
    assert "healthy" in output and "aberto 1" in output, output
    assert "None" not in output and "{" not in output, output
    again = [line for line in desk.output(child).splitlines() if "available again" in line]
    assert len(again) == 1 and "INFO" in again[0], desk.output(child)


def test_idle_keeps_one_session_over_many_poll_intervals(make_desk: DeskFactory) -> None:
    desk = make_desk(poll_seconds=2, idle=True, outbox_seconds=1)
    batch = Batch.of(1)
    child = start_idling(desk)
    before = logins(desk)

    time.sleep(6)  # three poll intervals
    quiet = logins(desk)
    desk.imap.append("INBOX", batch.raws[0])  # the test's own login: one more
    read = wait_for(lambda: bool(desk.outcomes()), 10, step=0.1)
    after = logins(desk)
    stop(desk, child)

    assert quiet == before, f"{quiet - before} new logins in 6 s of IDLE"
    assert after == before + 1
    assert read, desk.output(child)
    assert desk.outcomes() == batch.expected


def test_mail_is_read_as_it_arrives_during_idle_not_at_the_next_poll(
    make_desk: DeskFactory,
) -> None:
    desk = make_desk(poll_seconds=30, idle=True)
    batch = Batch.of(1)
    child = start_idling(desk)

    desk.imap.append("INBOX", batch.raws[0])
    appended = time.monotonic()
    read = wait_for(lambda: bool(desk.outcomes()), 20, step=0.1)
    took = time.monotonic() - appended
    stop(desk, child)

    assert read and took < 5, f"read {took:.1f} s after it arrived\n{desk.output(child)}"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_second_stop_signal_during_shutdown_is_harmless(
    make_desk: DeskFactory, signum: signal.Signals
) -> None:
    desk = make_desk(poll_seconds=5, idle=True, outbox_seconds=1)
    batch = Batch.of(40)
    child = start_idling(desk)
    desk.imap.append_many("INBOX", batch.raws)
    assert wait_for(lambda: len(desk.outcomes()) >= 1, 20), desk.output(child)

    child.send_signal(signum)
    time.sleep(0.05)
    child.send_signal(signum)
    code = child.wait(timeout=30)

    output = desk.output(child)
    assert code == 0, output
    assert "Traceback" not in output, output


def test_ctrl_c_twice_in_a_terminal_is_harmless(make_desk: DeskFactory, tmp_path: Path) -> None:
    """A terminal's Ctrl-C goes to every process of the group: the parse worker too."""
    desk = make_desk(poll_seconds=5, idle=True, outbox_seconds=1)
    batch = Batch.of(40)
    output = tmp_path / "run.log"
    with output.open("wb") as log:
        child = subprocess.Popen(
            desk.command("--log-level", "info", "run"),
            cwd=REPO, env=desk.env, stdout=log, stderr=log, start_new_session=True,
        )  # fmt: skip
    try:
        assert wait_for(lambda: "Processados" in desk.imap.folders(), 30, step=0.2)
        desk.imap.append_many("INBOX", batch.raws)
        assert wait_for(lambda: len(desk.outcomes()) >= 1, 20), output.read_text()

        os.killpg(child.pid, signal.SIGINT)
        time.sleep(0.05)
        os.killpg(child.pid, signal.SIGINT)
        code = child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    time.sleep(0.5)  # a worker's last words, if any, come after the main process ended

    assert code == 0, output.read_text()
    assert "Traceback" not in output.read_text(), output.read_text()


def test_metrics_listen_on_loopback_with_build_info_and_last_successful_poll(
    make_desk: DeskFactory,
) -> None:
    desk = make_desk(poll_seconds=3, idle=True)
    port = free_port()
    desk.config.write_text(desk.config.read_text() + f"\n[metrics]\nport = {port}\n")
    started = time.time()
    child = start_idling(desk)
    time.sleep(4)  # one whole IDLE window is over

    text = scrape("127.0.0.1", port)
    with pytest.raises(OSError):  # not on every interface: 127.0.0.2 is another address
        scrape("127.0.0.2", port)
    stop(desk, child)

    python = platform.python_version()
    assert sample(text, "mailproc_build_info", version=__version__, python=python) == 1
    polled = sample(text, "mailproc_last_successful_poll_timestamp_seconds", mailbox="suporte")
    assert polled is not None and started < polled <= time.time(), text
    count = sample(text, "mailproc_poll_duration_seconds_count", mailbox="suporte")
    total = sample(text, "mailproc_poll_duration_seconds_sum", mailbox="suporte")
    assert count and count >= 2, text  # the IDLE wakes up between reads...
    assert total is not None and total < 1, text  # ...and its wait is not counted


def test_metrics_address_is_configurable(tmp_path: Path) -> None:
    config = write_config(tmp_path, "sqlite:///m.db", '[metrics]\nport = 9108\naddress = "::1"\n')
    metrics = load_config(config).metrics

    assert metrics is not None and (metrics.address, metrics.port) == ("::1", 9108)
    assert load_config(write_config(tmp_path, "sqlite:///m.db")).metrics is None
