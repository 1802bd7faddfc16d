"""ImapMailbox against a real Dovecot: fetching, acknowledging, IDLE, failures and fallbacks."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from mailproc.sources.imap import (
    Fetched,
    ImapMailbox,
    ImapSettings,
    ImapUnavailable,
    MailboxCursor,
)

if TYPE_CHECKING:  # imported by pytest_plugins at run time, so that pytest rewrites its asserts
    from tests.dovecot import DovecotAccount

pytest_plugins = ["tests.dovecot"]
pytestmark = pytest.mark.servers


def settings(dovecot: DovecotAccount, **changes: Any) -> ImapSettings:
    fields: dict[str, Any] = {
        "name": "suporte",
        "host": dovecot.host,
        "port": dovecot.port,
        "tls": "none",
        "user": dovecot.user,
        "password": dovecot.password,
    }
    return ImapSettings(**(fields | changes))


def message(n: int, *, body: str = "", line_end: bytes = b"\r\n") -> bytes:
    lines = [
        f"From: Servidora {n} <servidora{n}@example.rj.gov.br>",
        "To: suporte@example.rj.gov.br",
        f"Subject: Chamado {n}: erro no SIASG",
        f"Message-ID: <msg{n}@example.rj.gov.br>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        f"Olá, não consigo acessar a UASG {n}.",
        body,
    ]
    return line_end.join(line.encode() for line in lines) + line_end


def lf(raw: bytes | None) -> bytes:
    """Line ends normalised: Dovecot stores what it was given, bare LF or CRLF."""
    assert raw is not None
    return raw.replace(b"\r\n", b"\n")


def fetch_all(mailbox: ImapMailbox, cursor: MailboxCursor | None) -> list[Fetched]:
    return list(mailbox.fetch_new(cursor))


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A TCP port that accepts connections and never says a word."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def test_settings_reject_an_unknown_tls_mode() -> None:
    with pytest.raises(ValueError, match="tls must be one of"):
        ImapSettings(name="x", host="h", port=1, tls="tls", user="u", password="p")  # type: ignore[arg-type]


def test_login_in_plaintext_on_loopback_creates_the_folders(dovecot: DovecotAccount) -> None:
    with ImapMailbox(settings(dovecot)) as mailbox:
        state = mailbox.state()

    assert state.uidvalidity > 0
    assert state.last_uid == 0
    assert {"INBOX", "Processados", "Quarentena"} <= set(dovecot.folders())


def test_dovecot_advertises_the_extensions_the_main_path_uses(dovecot: DovecotAccount) -> None:
    with dovecot.client() as client:
        capabilities = set(client.capabilities())

    assert {b"MOVE", b"UIDPLUS", b"IDLE"} <= capabilities


def test_wrong_password_is_not_retryable(dovecot: DovecotAccount) -> None:
    with (
        pytest.raises(ImapUnavailable, match=r"login refused: \[AUTHENTICATIONFAILED\]") as error,
        ImapMailbox(settings(dovecot, password="errada")),
    ):
        pass

    assert error.value.retryable is False
    assert "errada" not in str(error.value)


def test_closed_port_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = ImapSettings(name="x", host="127.0.0.1", port=port, tls="none", user="u", password="p")

    with pytest.raises(ImapUnavailable, match="connection refused") as error, ImapMailbox(closed):
        pass

    assert error.value.retryable is True


def test_a_server_that_never_greets_times_out_and_the_socket_is_closed(
    silent_server: socket.socket,
) -> None:
    port = silent_server.getsockname()[1]
    mute = ImapSettings(
        name="x", host="127.0.0.1", port=port, tls="none", user="u", password="p", timeout=0.3
    )

    with pytest.raises(ImapUnavailable, match=r"no answer within 0\.3 s") as error:
        ImapMailbox(mute).__enter__()

    assert error.value.retryable is True
    accepted, _ = silent_server.accept()
    with accepted:
        accepted.settimeout(2)
        assert accepted.recv(1) == b""  # the client closed its end


def test_ssl_mode_trusts_a_given_context_and_verifies_by_default(dovecot: DovecotAccount) -> None:
    over_ssl = settings(dovecot, tls="ssl", port=dovecot.ssl_port)

    with ImapMailbox(over_ssl, ssl_context=dovecot.ssl_context()) as mailbox:
        assert mailbox.state().uidvalidity > 0
    with (
        pytest.raises(ImapUnavailable, match="certificate rejected") as error,
        ImapMailbox(over_ssl),
    ):
        pass

    assert error.value.retryable is False


def test_starttls_mode_logs_in_after_upgrading(dovecot: DovecotAccount) -> None:
    dovecot.append("INBOX", message(1))

    with ImapMailbox(settings(dovecot, tls="starttls"), ssl_context=dovecot.ssl_context()) as box:
        fetched = fetch_all(box, None)

    assert [lf(f.raw) for f in fetched] == [lf(message(1))]


def test_fetch_new_yields_each_message_once_with_its_exact_bytes(dovecot: DovecotAccount) -> None:
    first = [message(n, line_end=b"\n" if n == 3 else b"\r\n") for n in range(1, 6)]
    dovecot.append_many("INBOX", first)

    with ImapMailbox(settings(dovecot)) as mailbox:
        fetched = fetch_all(mailbox, None)
        cursor = fetched[-1].cursor
        again = fetch_all(mailbox, cursor)
        dovecot.append_many("INBOX", [message(6), message(7)])
        later = fetch_all(mailbox, cursor)

    assert [lf(f.raw) for f in fetched] == [lf(raw) for raw in first]
    assert [f.headers for f in fetched] == [None] * 5
    assert [f.size for f in fetched] == [len(f.raw or b"") for f in fetched]
    assert cursor == MailboxCursor(fetched[0].cursor.uidvalidity, fetched[-1].uid)
    assert again == []
    assert [lf(f.raw) for f in later] == [lf(message(6)), lf(message(7))]
    assert dovecot.flags("INBOX") == [set()] * 7  # PEEK: nothing marked \Seen


def test_imaplib_trace_is_off_unless_its_logger_wants_it(
    dovecot: DovecotAccount, caplog: pytest.LogCaptureFixture
) -> None:
    # With the trace on, imaplib formats the repr() of every fetched message (bench/README.md).
    with ImapMailbox(settings(dovecot)) as quiet:
        assert quiet._client._imap.debug == 0
    with (
        caplog.at_level(logging.DEBUG, logger="imapclient.imaplib"),
        ImapMailbox(settings(dovecot)) as traced,
    ):
        assert traced._client._imap.debug > 0


def test_ack_moves_to_processados(dovecot: DovecotAccount) -> None:
    dovecot.append_many("INBOX", [message(1), message(2)])

    with ImapMailbox(settings(dovecot)) as mailbox:
        for fetched in fetch_all(mailbox, None):
            mailbox.ack(fetched.uid)

    assert dovecot.messages("INBOX") == []
    assert [lf(raw) for raw in dovecot.messages("Processados")] == [
        lf(message(1)),
        lf(message(2)),
    ]


def test_ack_many_moves_the_given_uids_only(dovecot: DovecotAccount) -> None:
    dovecot.append_many("INBOX", [message(n) for n in range(5)])

    with ImapMailbox(settings(dovecot)) as mailbox:
        fetched = fetch_all(mailbox, None)
        mailbox.ack_many([f.uid for f in fetched[:3]])
        mailbox.ack_many([fetched[4].uid], quarantine=True)
        mailbox.ack_many([])

    assert [lf(raw) for raw in dovecot.messages("Processados")] == [
        lf(message(n)) for n in range(3)
    ]
    assert [lf(raw) for raw in dovecot.messages("Quarentena")] == [lf(message(4))]
    assert [lf(raw) for raw in dovecot.messages("INBOX")] == [lf(message(3))]


def test_without_move_ack_many_expunges_only_its_own_uids(dovecot: DovecotAccount) -> None:
    dovecot.append_many("INBOX", [message(n) for n in range(4)])
    with dovecot.client() as other:  # another client marks message 4 for deletion, unexpunged
        other.select_folder("INBOX")
        other.add_flags([4], [b"\\Deleted"])

    with ImapMailbox(settings(dovecot, host=dovecot.no_move_host)) as mailbox:
        fetched = fetch_all(mailbox, None)
        mailbox.ack_many([f.uid for f in fetched[:2]])

    assert [lf(raw) for raw in dovecot.messages("Processados")] == [lf(message(0)), lf(message(1))]
    assert [lf(raw) for raw in dovecot.messages("INBOX")] == [lf(message(2)), lf(message(3))]


def test_quarantine_ack_moves_to_quarentena(dovecot: DovecotAccount) -> None:
    dovecot.append_many("INBOX", [message(1), message(2)])

    with ImapMailbox(settings(dovecot)) as mailbox:
        first, second = fetch_all(mailbox, None)
        mailbox.ack(first.uid, quarantine=True)
        mailbox.ack(second.uid)

    assert [lf(raw) for raw in dovecot.messages("Quarentena")] == [lf(message(1))]
    assert [lf(raw) for raw in dovecot.messages("Processados")] == [lf(message(2))]


def test_mark_seen_instead_leaves_mail_in_inbox_flagged_seen(dovecot: DovecotAccount) -> None:
    dovecot.append_many("INBOX", [message(1), message(2)])

    with ImapMailbox(settings(dovecot, mark_seen_instead=True)) as mailbox:
        first, _ = fetch_all(mailbox, None)
        mailbox.ack(first.uid)

    assert dovecot.flags("INBOX") == [{b"\\Seen"}, set()]
    assert "Processados" not in dovecot.folders()


def test_oversized_message_yields_its_headers_only(dovecot: DovecotAccount) -> None:
    big = message(2, body="x" * 5000)
    dovecot.append_many("INBOX", [message(1), big, message(3)])

    with ImapMailbox(settings(dovecot, max_message_bytes=2000)) as mailbox:
        small, oversized, last = fetch_all(mailbox, None)

    assert oversized.raw is None
    assert oversized.headers is not None
    assert b"Subject: Chamado 2: erro no SIASG" in oversized.headers
    assert b"xxxx" not in oversized.headers
    assert oversized.size == len(big)
    assert (lf(small.raw), lf(last.raw)) == (lf(message(1)), lf(message(3)))


def test_changed_uidvalidity_rescans_the_folder(
    dovecot: DovecotAccount, caplog: pytest.LogCaptureFixture
) -> None:
    dovecot.create_folder("Suporte")
    dovecot.append_many("Suporte", [message(1), message(2)])
    with ImapMailbox(settings(dovecot, folder="Suporte")) as mailbox:
        cursor = fetch_all(mailbox, None)[-1].cursor
    dovecot.delete_folder("Suporte")
    dovecot.create_folder("Suporte")
    dovecot.append("Suporte", message(3))  # UID 1 again: below the old cursor

    with (
        caplog.at_level(logging.WARNING, logger="mailproc.sources.imap"),
        ImapMailbox(settings(dovecot, folder="Suporte")) as mailbox,
    ):
        rescanned = fetch_all(mailbox, cursor)

    assert [lf(f.raw) for f in rescanned] == [lf(message(3))]
    assert rescanned[0].uid <= cursor.last_uid
    assert rescanned[0].cursor.uidvalidity != cursor.uidvalidity
    assert "UIDVALIDITY" in caplog.text


def test_server_gone_mid_fetch_is_retryable_and_a_new_mailbox_resumes(
    dovecot: DovecotAccount,
) -> None:
    dovecot.append_many("INBOX", [message(n) for n in range(1, 6)])
    config = settings(dovecot, mark_seen_instead=True, chunk_size=2)

    with ImapMailbox(config) as mailbox:
        messages = mailbox.fetch_new(None)
        first = next(messages)
        mailbox.ack(first.uid)
        dovecot.stop()
        with pytest.raises(ImapUnavailable) as error:
            list(messages)  # the second is in memory; the next chunk needs the server
    dovecot.start()
    with ImapMailbox(config) as mailbox:
        rest = fetch_all(mailbox, first.cursor)
        for fetched in rest:
            mailbox.ack(fetched.uid)

    assert error.value.retryable is True
    assert [lf(f.raw) for f in rest] == [lf(message(n)) for n in range(2, 6)]
    assert dovecot.flags("INBOX") == [{b"\\Seen"}] * 5


def test_wait_for_news_returns_true_when_another_client_appends(dovecot: DovecotAccount) -> None:
    with ImapMailbox(settings(dovecot)) as mailbox:
        assert fetch_all(mailbox, None) == []
        later = threading.Timer(0.3, dovecot.append, ("INBOX", message(1)))
        later.start()
        try:
            news = mailbox.wait_for_news(timeout=10)
        finally:
            later.join()
        fetched = fetch_all(mailbox, None)

    assert news is True
    assert [lf(f.raw) for f in fetched] == [lf(message(1))]


def test_wait_for_news_returns_false_when_nothing_arrives(dovecot: DovecotAccount) -> None:
    with ImapMailbox(settings(dovecot)) as mailbox:
        started = time.monotonic()
        news = mailbox.wait_for_news(timeout=0.3)

    assert news is False
    assert time.monotonic() - started >= 0.3


def test_wait_for_news_sees_mail_announced_before_idle(dovecot: DovecotAccount) -> None:
    dovecot.append("INBOX", message(1))
    with ImapMailbox(settings(dovecot)) as mailbox:
        (fetched,) = fetch_all(mailbox, None)
        dovecot.append("INBOX", message(2))
        mailbox.ack(fetched.uid)  # the server tells of message 2 in its reply to the MOVE
        news = mailbox.wait_for_news(timeout=2)

    assert news is True


def test_wait_for_news_sees_mail_delivered_just_before_it(dovecot: DovecotAccount) -> None:
    with ImapMailbox(settings(dovecot)) as mailbox:
        assert fetch_all(mailbox, None) == []
        dovecot.append("INBOX", message(1))
        started = time.monotonic()
        news = mailbox.wait_for_news(timeout=10)
        waited = time.monotonic() - started

    assert news is True
    assert waited < 5  # found before idling, not at the end of a full IDLE


def test_many_messages_come_in_chunks_in_uid_order(dovecot: DovecotAccount) -> None:
    dovecot.append_many("INBOX", [message(n) for n in range(300)])

    with ImapMailbox(settings(dovecot, chunk_size=64)) as mailbox:
        uids = [f.uid for f in mailbox.fetch_new(None)]

    assert len(uids) == 300
    assert uids == sorted(uids)
    assert len(set(uids)) == 300


def test_without_move_ack_expunges_only_its_own_uid(dovecot: DovecotAccount) -> None:
    dovecot.append_many("INBOX", [message(1), message(2)])
    with dovecot.client() as other:  # another client marks message 2 for deletion, unexpunged
        other.select_folder("INBOX")
        other.add_flags([2], [b"\\Deleted"])

    with ImapMailbox(settings(dovecot, host=dovecot.no_move_host)) as mailbox:
        first, _ = fetch_all(mailbox, None)
        mailbox.ack(first.uid)

    assert [lf(raw) for raw in dovecot.messages("Processados")] == [lf(message(1))]
    assert [lf(raw) for raw in dovecot.messages("INBOX")] == [lf(message(2))]


def test_without_move_or_uidplus_ack_flags_seen_and_warns(
    dovecot: DovecotAccount, caplog: pytest.LogCaptureFixture
) -> None:
    dovecot.append("INBOX", message(1))

    with (
        caplog.at_level(logging.WARNING, logger="mailproc.sources.imap"),
        ImapMailbox(settings(dovecot, host=dovecot.bare_host)) as mailbox,
    ):
        (fetched,) = fetch_all(mailbox, None)
        mailbox.ack(fetched.uid)

    assert dovecot.flags("INBOX") == [{b"\\Seen"}]
    assert dovecot.messages("Processados") == []
    assert "neither MOVE nor UIDPLUS" in caplog.text


def test_without_idle_wait_sleeps_then_looks(dovecot: DovecotAccount) -> None:
    with ImapMailbox(settings(dovecot, host=dovecot.bare_host)) as mailbox:
        quiet = mailbox.wait_for_news(timeout=0.2)
        dovecot.append("INBOX", message(1))
        news = mailbox.wait_for_news(timeout=0.2)

    assert (quiet, news) == (False, True)
