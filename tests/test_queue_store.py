"""The staff queue's reads (mailproc.storage.queue), on SQLite and PostgreSQL: each filter
narrows, the search finds words of subjects and bodies, pages and orders, hostile input,
a ticket's page and its files."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from mailproc.decision.ticket_state import TicketState
from mailproc.resources import shipped_dir
from mailproc.storage import models as m
from mailproc.storage.db import make_engine, make_sessions
from mailproc.storage.erasure import erase
from mailproc.storage.queue import (
    MAX_SEARCH_LENGTH,
    DeadlineFilter,
    QueueFilters,
    QueuePage,
    QueueSort,
    Sla,
    fts5_query,
    matching_tickets,
    queue_page,
    search_text,
    sla_of,
    ticket_file,
    ticket_page,
)
from mailproc.storage.retention import purge
from mailproc.storage.schema import upgrade

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
_serial = itertools.count(1)
NO_FILTERS = QueueFilters()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_sessions(engine).begin() as session:
        yield session


def add_ticket(
    session: Session,
    subject: str = "Erro no SIASG",
    *,
    theme: str | None = "erro-siasg",
    state: str = TicketState.OPEN,
    priority: str = "normal",
    requester: str = "maria.silva@orgao.gov.br",
    created: datetime = NOW - 2 * HOUR,
    updated: datetime | None = None,
    due: datetime | None = None,
    bodies: tuple[str, ...] = ("Bom dia,",),
) -> m.Ticket:
    """A ticket as the pipeline leaves it, with a message per body."""
    number = next(_serial)
    ticket = m.Ticket(
        code=f"2000-{number:06d}",  # a year of its own: no pipeline ticket has it
        theme_id=theme,
        state=state,
        priority=priority,
        requester_email=requester,
        requester_name="Maria Silva",
        subject=subject,
        answers={},
        created_at=created,
        updated_at=updated or created,
        due_at=due,
    )
    session.add(ticket)
    session.flush()
    for body in bodies:
        add_message(session, ticket, body)
    return ticket


def add_message(
    session: Session, ticket: m.Ticket, body: str, sender: str = "maria.silva@orgao.gov.br"
) -> m.Message:
    number = next(_serial)
    message = m.Message(
        dedup_key=f"key-{number}",
        ticket_id=ticket.id,
        outcome="created",
        theme_id=ticket.theme_id,
        sender=sender,
        sender_name="",
        subject=ticket.subject,
        message_id=f"<{number}@test>",
        references=[],
        body_text=body,
        created_at=ticket.created_at,
    )
    session.add(message)
    session.flush()
    return message


def page(
    session: Session,
    filters: QueueFilters = NO_FILTERS,
    scope: frozenset[str] | None = None,
    sort: QueueSort = QueueSort.NEWEST,
    number: int = 1,
    per_page: int = 50,
) -> QueuePage:
    return queue_page(session, filters, scope, sort, number, per_page, now=NOW)


def codes(found: QueuePage) -> list[str]:
    return [row.code for row in found.rows]


def found_by(session: Session, text: str) -> set[str]:
    return set(codes(page(session, QueueFilters(text=text))))


# -- filters ------------------------------------------------------------------------------


def test_without_filters_every_ticket_is_listed_newest_first(session: Session) -> None:
    older = add_ticket(session, created=NOW - 3 * HOUR)
    newer = add_ticket(session, created=NOW - HOUR)

    found = page(session)

    assert codes(found) == [newer.code, older.code]
    assert found.total == 2
    assert (found.page, found.pages) == (1, 1)


def test_each_filter_narrows_to_its_tickets(session: Session) -> None:
    plain = add_ticket(session)
    pending = add_ticket(session, state=TicketState.PENDING)
    high = add_ticket(session, priority="alta")
    uasg = add_ticket(session, theme="reativacao-uasg")
    joao = add_ticket(session, requester="joao.pereira@ministerio.gov.br")

    assert codes(page(session, QueueFilters(state=TicketState.PENDING))) == [pending.code]
    assert codes(page(session, QueueFilters(priority="alta"))) == [high.code]
    assert codes(page(session, QueueFilters(themes=frozenset({"reativacao-uasg"})))) == [uasg.code]
    assert codes(page(session, QueueFilters(requester="JOAO.pereira@"))) == [joao.code]
    assert codes(page(session, QueueFilters(requester="ministerio"))) == [joao.code]
    assert plain.code in codes(page(session, QueueFilters(state=TicketState.OPEN)))


def test_filters_combine(session: Session) -> None:
    add_ticket(session, priority="alta", theme="reativacao-uasg")
    wanted = add_ticket(session, priority="alta", theme="erro-siasg")
    add_ticket(session, priority="normal", theme="erro-siasg")

    filters = QueueFilters(themes=frozenset({"erro-siasg"}), priority="alta")
    assert codes(page(session, filters)) == [wanted.code]


def test_deadline_filter_lists_running_deadlines_only(session: Session) -> None:
    overdue = add_ticket(session, due=NOW - HOUR)
    soon = add_ticket(session, due=NOW + 5 * HOUR)
    add_ticket(session, due=NOW + 30 * HOUR)  # on time
    add_ticket(session, state=TicketState.RESOLVED, due=NOW - HOUR)  # answered: not running
    add_ticket(session, state=TicketState.PENDING, due=NOW + HOUR)  # waits on the requester

    assert codes(page(session, QueueFilters(deadline=DeadlineFilter.OVERDUE))) == [overdue.code]
    assert codes(page(session, QueueFilters(deadline=DeadlineFilter.DUE_SOON))) == [soon.code]


def test_scope_lists_only_the_tickets_of_the_staff_members_themes(session: Session) -> None:
    siasg = add_ticket(session, theme="erro-siasg")
    add_ticket(session, theme="reativacao-uasg")
    add_ticket(session, theme=None)

    assert codes(page(session, scope=frozenset({"erro-siasg"}))) == [siasg.code]
    assert page(session, scope=frozenset()).total == 0
    assert page(session).total == 3


def test_a_filter_cannot_widen_the_scope(session: Session) -> None:
    add_ticket(session, theme="reativacao-uasg")

    filters = QueueFilters(themes=frozenset({"reativacao-uasg"}))
    assert page(session, filters, scope=frozenset({"erro-siasg"})).rows == []


# -- search -------------------------------------------------------------------------------


def test_search_finds_a_word_of_a_message_body(session: Session) -> None:
    wanted = add_ticket(session, bodies=("Bom dia,", "O empenho não foi emitido."))
    add_ticket(session, bodies=("Outro assunto.",))

    assert found_by(session, "empenho") == {wanted.code}


def test_search_finds_a_word_of_the_subject(session: Session) -> None:
    wanted = add_ticket(session, "Reativação da UASG 123456")
    add_ticket(session, "Erro no SIASG")

    assert found_by(session, "uasg") == {wanted.code}


def test_search_finds_a_ticket_by_its_code(session: Session) -> None:
    wanted = add_ticket(session)
    add_ticket(session)

    assert found_by(session, f" {wanted.code} ") == {wanted.code}


def test_search_lists_a_ticket_once_however_many_messages_match(session: Session) -> None:
    wanted = add_ticket(session, "empenho", bodies=("empenho", "empenho de novo"))

    found = page(session, QueueFilters(text="empenho"))
    assert codes(found) == [wanted.code]
    assert found.total == 1


def test_search_and_filters_combine(session: Session) -> None:
    add_ticket(session, state=TicketState.RESOLVED, bodies=("empenho",))
    wanted = add_ticket(session, bodies=("empenho",))

    filters = QueueFilters(text="empenho", state=TicketState.OPEN)
    assert codes(page(session, filters)) == [wanted.code]


def test_search_on_postgresql_finds_other_forms_of_a_word(
    session: Session, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite matches the letters typed, not the word's stem")
    wanted = add_ticket(session, bodies=("Pedimos a publicação do aviso de licitação.",))
    add_ticket(session, bodies=("Nada a ver.",))

    # Portuguese stemming: the verb finds the noun, the plural the singular.
    assert found_by(session, "publicar") == {wanted.code}
    assert found_by(session, "avisos") == {wanted.code}
    # websearch syntax: a phrase in quotes, a word left out with "-".
    assert found_by(session, '"aviso de licitação"') == {wanted.code}
    assert found_by(session, "aviso -licitação") == set()


def test_search_on_sqlite_ignores_case_and_accents(session: Session, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's Portuguese dictionary keeps accents")
    wanted = add_ticket(session, "Publicação no DOU", bodies=("A emissão da NOTA de empenho",))
    add_ticket(session, bodies=("Nada a ver.",))

    assert found_by(session, "publicacao") == {wanted.code}
    assert found_by(session, "EMISSAO nota") == {wanted.code}
    assert found_by(session, "emissão") == {wanted.code}


def test_search_finds_the_texts_holding_every_word(session: Session) -> None:
    both = add_ticket(session, "Erro no SIASG", bodies=("O empenho falhou.",))
    add_ticket(session, "Erro no SIASG", bodies=("A nota falhou.",))
    add_ticket(session, "Dúvida", bodies=("O empenho saiu.",))

    assert found_by(session, "falhou empenho") == {both.code}
    # A subject and a message are searched each on its own (as the indexes hold them).
    assert found_by(session, "siasg empenho") == set()


def test_search_matches_whole_words_and_punctuated_runs_of_them(session: Session) -> None:
    wanted = add_ticket(session, bodies=("Processo 23080.012345/2026-11, UASG 160001.",))
    add_ticket(session, bodies=("Processo 23080.099999/2026-11.",))

    assert found_by(session, "23080.012345/2026-11") == {wanted.code}
    assert found_by(session, "160001") == {wanted.code}


# Searches a robot or a careless paste sends: SQL and tsquery syntax, LIKE's wildcards, a NUL,
# 10 KB (test_web_queue sends them through the page too).
HOSTILE_SEARCHES = [
    "'",
    '"',
    "\\",
    "%",
    "_",
    "a & b | !c <-> d:*",
    "((((",
    "' OR 1=1 --",
    "nul\x00byte",
    "x" * 10_000,
]


@pytest.mark.parametrize(
    "text",
    [
        *HOSTILE_SEARCHES,
        "\u202egnp.exe",
        # FTS5's query syntax (SQLite): each is read as the words it holds, or as none.
        "*",
        "-",
        "NEAR(empenho falhou)",
        "body_text:empenho",
        "subject : erro",
        '"""',
        '" OR "',
        "empenho AND NOT falhou",
    ],
)
def test_hostile_input_finds_nothing_and_breaks_nothing(session: Session, text: str) -> None:
    add_ticket(session, "Erro no SIASG", bodies=("O empenho falhou.",))

    assert page(session, QueueFilters(text=text)).rows == []
    assert page(session, QueueFilters(requester=text)).rows == []


def test_wildcards_are_searched_as_the_characters_they_are(session: Session) -> None:
    wanted = add_ticket(session, "Desconto de 100% no item", bodies=("campo_data",))
    add_ticket(session, "Desconto de 1000 no item", bodies=("campoXdata",))

    assert wanted.code in found_by(session, "100%")
    assert found_by(session, "campo_data") == {wanted.code}


def test_query_syntax_around_a_word_is_left_out(session: Session) -> None:
    wanted = add_ticket(session, bodies=("O empenho falhou.",))

    assert found_by(session, '^empenho* "falhou') == {wanted.code}


def test_fts5_query_quotes_every_word() -> None:
    assert fts5_query('a "b" NEAR(c) d*') == '"a" """b""" "NEAR(c)" "d*"'


def test_a_long_search_is_cut_to_its_first_characters() -> None:
    assert search_text("x" * 10_000) == "x" * MAX_SEARCH_LENGTH
    assert search_text("  a\x00b\nc  ") == "a b c"


def test_a_body_longer_than_the_index_takes_is_stored_and_searched(session: Session) -> None:
    # PostgreSQL's tsvector holds at most 1 MB of words: the index reads the first 64 K
    # characters of a text, so a huge body never fails to store.
    words = " ".join(f"palavra{n}" for n in range(150_000))
    wanted = add_ticket(session, bodies=(f"empenho {words}",))

    assert found_by(session, "empenho") == {wanted.code}


# -- the search follows the texts --------------------------------------------------------

ERASED_WORD = "xilografia"  # no other word of these tests begins with its first letter


def test_the_search_follows_changed_and_deleted_texts(session: Session) -> None:
    ticket = add_ticket(session, "Erro no SIASG", bodies=())
    message = add_message(session, ticket, "O empenho falhou.")

    message.body_text = "A nota saiu."
    ticket.subject = "Dúvida"
    assert found_by(session, "empenho") == found_by(session, "siasg") == set()
    assert found_by(session, "nota") == found_by(session, "Dúvida") == {ticket.code}

    session.delete(message)
    assert found_by(session, "nota") == set()


def test_an_erased_requesters_words_leave_the_search(engine: Engine, database_url: str) -> None:
    sessions = make_sessions(engine)
    with sessions.begin() as session:
        add_ticket(session, requester="ana.souza@orgao.gov.br", bodies=(f"Minha {ERASED_WORD}",))
        kept = add_ticket(session, bodies=("Minha dúvida",)).code
    sqlite = database_url.startswith("sqlite")
    assert not sqlite or index_holds(engine, ERASED_WORD)

    erase(sessions, "Ana.Souza@orgao.gov.br", dry_run=False)

    with sessions.begin() as session:
        assert found_by(session, ERASED_WORD) == set()
        assert found_by(session, "dúvida") == {kept}
    assert not sqlite or not index_holds(engine, ERASED_WORD)


def test_purged_bodies_leave_the_search(engine: Engine, database_url: str) -> None:
    sessions = make_sessions(engine)
    long_ago = NOW - timedelta(days=400)
    with sessions.begin() as session:
        closed = TicketState.RESOLVED
        purged = add_ticket(session, state=closed, created=long_ago, bodies=(ERASED_WORD,)).code

    purge(sessions, timedelta(days=365), dry_run=False, now=NOW)

    with sessions.begin() as session:
        assert found_by(session, ERASED_WORD) == set()
        assert found_by(session, "siasg") == {purged}  # a subject is masked, not emptied
    assert not database_url.startswith("sqlite") or not index_holds(engine, ERASED_WORD)


def index_holds(engine: Engine, word: str) -> bool:
    """Whether the pages of SQLite's index of message bodies hold ``word``: FTS5 keeps a
    deleted text's words there, unfound, until it merges them (retention.compact does)."""
    with engine.connect() as connection:
        blocks = connection.exec_driver_sql("SELECT block FROM message_search_data").scalars()
        return word.encode() in b"".join(block for block in blocks if isinstance(block, bytes))


def test_the_sqlite_migration_indexes_the_texts_already_stored(empty_database_url: str) -> None:
    if not empty_database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's indexes come from migration 0009")
    engine = make_engine(empty_database_url)
    config = Config()
    config.set_main_option("script_location", str(shipped_dir("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0009")
        with Session(bind=connection) as session:
            stored = add_ticket(session, "Publicação no DOU", bodies=("O empenho falhou.",)).code
            session.commit()

    upgrade(engine)

    with make_sessions(engine).begin() as session:
        assert found_by(session, "publicacao") == found_by(session, "empenho") == {stored}
    engine.dispose()


# -- pages and orders ---------------------------------------------------------------------


def test_pages_of_fifty(session: Session) -> None:
    for n in range(120):
        add_ticket(session, created=NOW - n * HOUR)

    first, third = page(session), page(session, number=3)

    assert (first.total, first.pages, len(first.rows)) == (120, 3, 50)
    assert (third.page, len(third.rows)) == (3, 20)
    assert set(codes(first)).isdisjoint(codes(third))


def test_a_page_out_of_range_is_the_nearest_page(session: Session) -> None:
    for _ in range(3):
        add_ticket(session)

    assert page(session, number=99, per_page=2).page == 2
    assert page(session, number=0, per_page=2).page == 1
    assert page(session, number=-5, per_page=2).page == 1


def test_a_search_page_out_of_range_is_its_last_page(session: Session) -> None:
    for _ in range(3):
        add_ticket(session, bodies=("empenho",))

    found = page(session, QueueFilters(text="empenho"), number=99, per_page=2)

    assert (found.page, found.pages, found.total, len(found.rows)) == (2, 2, 3, 1)


def test_an_empty_queue_is_one_empty_page(session: Session) -> None:
    found = page(session)

    assert (found.rows, found.total, found.page, found.pages) == ([], 0, 1, 1)


def test_orders(session: Session) -> None:
    old = add_ticket(session, created=NOW - 9 * HOUR, due=NOW + 9 * HOUR, updated=NOW)
    critical = add_ticket(session, created=NOW - 5 * HOUR, priority="critica", due=NOW + 20 * HOUR)
    new = add_ticket(session, created=NOW - HOUR, priority="baixa", due=NOW + HOUR)
    answered = add_ticket(
        session, created=NOW - 3 * HOUR, state=TicketState.RESOLVED, due=NOW - 50 * HOUR
    )

    def ordered(sort: QueueSort) -> list[str]:
        return codes(page(session, sort=sort))

    assert ordered(QueueSort.NEWEST) == [new.code, answered.code, critical.code, old.code]
    assert ordered(QueueSort.OLDEST) == [old.code, critical.code, answered.code, new.code]
    # Running deadlines first, soonest first; a resolved ticket's old deadline last.
    assert ordered(QueueSort.DEADLINE) == [new.code, old.code, critical.code, answered.code]
    assert ordered(QueueSort.PRIORITY)[0] == critical.code
    assert ordered(QueueSort.PRIORITY)[-1] == new.code
    assert ordered(QueueSort.UPDATED)[0] == old.code


@pytest.mark.parametrize("filters", [NO_FILTERS, QueueFilters(text="dois", priority="normal")])
def test_a_queue_page_reads_in_two_statements_at_most(
    session: Session, engine: Engine, filters: QueueFilters
) -> None:
    for _ in range(60):
        add_ticket(session, bodies=("um", "dois", "três"))
    selects: list[str] = []

    def keep(*args: object) -> None:
        if str(args[2]).lstrip().upper().startswith("SELECT"):
            selects.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        found = page(session, filters, number=2)
    finally:
        event.remove(engine, "before_cursor_execute", keep)

    assert (found.total, len(found.rows)) == (60, 10)
    assert len(selects) <= 2


# -- a ticket's deadline ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "due", "answered", "expected"),
    [
        (TicketState.OPEN, NOW + 48 * HOUR, None, Sla.ON_TIME),
        (TicketState.OPEN, NOW + 3 * HOUR, None, Sla.DUE_SOON),
        (TicketState.OPEN, NOW - HOUR, None, Sla.OVERDUE),
        (TicketState.OPEN, NOW - HOUR, NOW - 2 * HOUR, Sla.OVERDUE),  # answered, still open
        (TicketState.OPEN, None, None, Sla.NO_DEADLINE),
        (TicketState.RESOLVED, NOW - HOUR, NOW - 2 * HOUR, Sla.ANSWERED_IN_TIME),
        (TicketState.RESOLVED, NOW - 3 * HOUR, NOW - 2 * HOUR, Sla.ANSWERED_LATE),
        (TicketState.PENDING, NOW - HOUR, None, Sla.NOT_RUNNING),
        (TicketState.AWAITING_INFORMATION, None, None, Sla.NO_DEADLINE),
        (TicketState.CANCELLED, NOW + HOUR, None, Sla.NOT_RUNNING),
    ],
)
def test_sla(state: str, due: datetime | None, answered: datetime | None, expected: Sla) -> None:
    assert sla_of(state, due, answered, NOW) == expected


# -- a ticket's page and files ------------------------------------------------------------


def add_file(session: Session, message: m.Message, name: str, data: bytes | None) -> int:
    attachment = m.Attachment(
        message_id=message.id,
        filename=name,
        declared_type="text/html",
        detected_type="text/html",
        size=len(data or b""),
        sha256="0" * 64,
        data=data,
        inline=False,
    )
    session.add(attachment)
    session.flush()
    return attachment.id


def test_ticket_page_of_an_unknown_code_is_none(session: Session) -> None:
    assert ticket_page(session, "2026-999999", NOW) is None


def test_ticket_page_holds_the_conversation_files_and_removed_files(session: Session) -> None:
    ticket = add_ticket(session, state=TicketState.RESOLVED, due=NOW - HOUR, bodies=())
    first = add_message(session, ticket, "Bom dia")
    kept = add_file(session, first, "print.png", b"png")
    removed = add_file(session, first, "old.pdf", None)
    answer = add_message(session, ticket, "Resolvido.", sender="ana@suporte.gov.br")
    session.add(
        m.Event(ticket_id=ticket.id, message_id=answer.id, kind="answered",
                detail={"by": "ana@suporte.gov.br"}, created_at=NOW - 2 * HOUR)
    )  # fmt: skip
    session.add(m.Evaluation(ticket_id=ticket.id, score=5, comment="Ótimo", rater="x@y"))
    session.flush()
    session.expire_all()

    shown = ticket_page(session, ticket.code, NOW)

    assert shown is not None
    assert [msg.body_text for msg in shown.ticket.messages] == ["Bom dia", "Resolvido."]
    assert [a.id for a in shown.ticket.messages[0].attachments] == [kept, removed]
    assert shown.removed_files == {removed}
    assert shown.first_answer_at == NOW - 2 * HOUR
    assert shown.sla is Sla.ANSWERED_IN_TIME
    assert shown.evaluation is not None and shown.evaluation.score == 5


def test_ticket_file_belongs_to_its_ticket(session: Session) -> None:
    mine, other = add_ticket(session, bodies=()), add_ticket(session, bodies=())
    my_file = add_file(session, add_message(session, mine, "a"), "a.html", b"<b>a</b>")
    their_file = add_file(session, add_message(session, other, "b"), "b.html", b"<b>b</b>")

    found = ticket_file(session, mine.code, my_file)
    assert found is not None
    assert (found.filename, found.data, found.theme_id) == ("a.html", b"<b>a</b>", "erro-siasg")
    assert ticket_file(session, mine.code, their_file) is None
    assert ticket_file(session, "2026-999999", my_file) is None


@pytest.mark.parametrize("attachment_id", [0, -1, 2**63, 10**30])
def test_ticket_file_of_an_impossible_id_is_none(session: Session, attachment_id: int) -> None:
    ticket = add_ticket(session)

    assert ticket_file(session, ticket.code, attachment_id) is None


def test_the_search_reads_its_indexes_on_postgresql(session: Session, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite's plan is tested below")
    add_ticket(session, bodies=("empenho",))
    connection = session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # as on a table of thousands
    query = select(m.Ticket.id).where(m.Ticket.id.in_(matching_tickets("empenho", "postgresql")))
    sql = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})

    plan = "\n".join(connection.exec_driver_sql(f"EXPLAIN {sql}").scalars())

    assert "ix_tickets_subject_search" in plan
    assert "ix_messages_body_text_search" in plan


def test_the_search_reads_its_indexes_on_sqlite(session: Session, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's plan is tested above")
    query = select(m.Ticket.id).where(m.Ticket.id.in_(matching_tickets("empenho", "sqlite")))
    connection = session.connection()
    sql = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})

    plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]

    assert "SCAN ticket_search VIRTUAL TABLE INDEX 0:M0" in plan  # M: a full-text MATCH
    assert "SCAN message_search VIRTUAL TABLE INDEX 0:M0" in plan
    assert not [step for step in plan if step.startswith(("SCAN messages", "SCAN tickets"))]


def test_a_search_leaves_the_planner_as_it_was(session: Session, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's planner")
    add_ticket(session, bodies=("empenho",))

    page(session, QueueFilters(text="empenho"))

    assert session.connection().exec_driver_sql("SHOW enable_seqscan").scalar() == "on"
