"""The web view in a real browser: Debian's Chromium, headless, driven by Playwright, on a
desk served by real processes (``mailproc web`` and ``mailproc run``, tests/web_server.py)
whose mail reaches a real SMTP listener. A person's paths, asserted by what they see: log in
through the mailed link, find a ticket, answer it and change its state (and the requester
gets the mail), follow the requester's link; and what a forger or a phone meets.

No browser is downloaded: Playwright drives /usr/bin/chromium (scripts/install-test-deps
installs it). Without it the module is skipped, and under CI it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from itertools import pairwise

import pytest
from playwright.sync_api import (
    Browser,
    Locator,
    Page,
    Playwright,
    StorageState,
    expect,
    sync_playwright,
)
from sqlalchemy.exc import DBAPIError

from tests.db_fixtures import postgres_unavailable, throwaway_postgres
from tests.test_requester_links import flipped_to
from tests.web_fixtures import AREA_STAFF, COORDINATOR, OTHER_STAFF
from tests.web_server import (
    ANSWERED,
    CHROMIUM,
    FOLLOWED,
    INCOMPLETE,
    PHONE,
    REACTIVATION,
    RESOLVED,
    SEARCHED,
    ServedDesk,
    launch,
    log_in,
    new_context,
    serve_desk,
    smtp_listener,
)

pytestmark = pytest.mark.servers


def require_chromium() -> None:
    """Skip without Debian's Chromium; fail under CI, where the set-up installs it."""
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = (
        f"no Chromium at {CHROMIUM} (scripts/install-test-deps installs Debian's chromium; "
        "MAILPROC_TEST_CHROMIUM names another)"
    )
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


# -- the desk, the browser, a person's session --------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    """Before anything is started: without the browser, nothing here can run."""
    require_chromium()


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDesk]:
    """One desk for the module: each test works on its own ticket (by subject)."""
    with smtp_listener() as smtp, serve_desk(tmp_path_factory.mktemp("web"), smtp) as served:
        yield served


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = launch(playwright)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh profile: nobody logged in."""
    context = new_context(browser)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def staff_session(browser: Browser, desk: ServedDesk) -> StorageState:
    """The cookies of the SIASG area's staff member, logged in once through the mailed link
    (links are rate-limited per address: each test's own login would run into it)."""
    return session_of(browser, desk, AREA_STAFF)


@pytest.fixture(scope="module")
def coordinator_session(browser: Browser, desk: ServedDesk) -> StorageState:
    return session_of(browser, desk, COORDINATOR)


def session_of(browser: Browser, desk: ServedDesk, email: str) -> StorageState:
    context = new_context(browser)
    log_in(context.new_page(), desk, email)
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def staff(browser: Browser, staff_session: StorageState) -> Iterator[Page]:
    """A page in a fresh profile of the logged-in SIASG staff member."""
    context = new_context(browser, storage_state=staff_session)
    yield context.new_page()
    context.close()


@pytest.fixture
def coordinator(browser: Browser, coordinator_session: StorageState) -> Iterator[Page]:
    """A page in a fresh profile of the logged-in coordinator (every ticket, the dashboard)."""
    context = new_context(browser, storage_state=coordinator_session)
    yield context.new_page()
    context.close()


def tracking_link(desk: ServedDesk, subject: str, address: str) -> str:
    """The "Acompanhe seu chamado" link of the newest mail ``address`` got about ``subject``
    (the acknowledgement, or a later notice: each carries it)."""
    mailed = desk.wait_for_mail(address, containing="Acompanhe seu chamado")
    assert desk.tickets[subject] in str(mailed["Subject"])
    return desk.link_in(mailed, "/acompanhar/")


# -- logging in ----------------------------------------------------------------------------


def test_staff_member_logs_in_through_the_mailed_link_and_sees_the_queue(
    page: Page, desk: ServedDesk
) -> None:
    log_in(page, desk, COORDINATOR)
    expect(page.get_by_role("heading", level=1)).to_have_text("Fila de chamados")
    expect(page.get_by_role("navigation", name="Menu da equipe")).to_contain_text(COORDINATOR)


def test_a_login_link_opens_one_session_only(browser: Browser, desk: ServedDesk) -> None:
    first = new_context(browser)
    link = log_in(first.new_page(), desk, OTHER_STAFF)
    first.close()
    # Someone who got hold of the mail afterwards, in another browser.
    second = new_context(browser)
    page = second.new_page()
    page.goto(link)
    page.get_by_role("button", name="Entrar").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Este link não é mais válido")
    page.goto(desk.url("/equipe/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Acesso da equipe")
    second.close()


# -- the requester's link ------------------------------------------------------------------


def test_requester_follows_the_mailed_link_and_asks_for_urgency(
    page: Page, desk: ServedDesk
) -> None:
    code = desk.tickets[FOLLOWED.subject]
    page.goto(tracking_link(desk, FOLLOWED.subject, FOLLOWED.address))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Chamado {code}")
    expect(page.get_by_text(FOLLOWED.subject).first).to_be_visible()
    reason = "O pregão será aberto amanhã às 10h."
    page.get_by_label("Motivo da urgência").fill(reason)
    page.get_by_role("button", name="Pedir urgência").click()
    expect(page.get_by_text("Pedido de urgência registrado.")).to_be_visible()
    expect(page.locator("dl.facts").first).to_contain_text("urgência pedida")
    # The mail command's answer, the same as to "urgente" by mail.
    confirmed = desk.wait_for_mail(FOLLOWED.address, containing=reason)
    assert str(confirmed["Subject"]).startswith(f"[#{code}] Pedido de urgência registrado")


def test_a_link_altered_to_name_another_ticket_shows_nothing_of_it(
    page: Page, desk: ServedDesk
) -> None:
    mine = tracking_link(desk, REACTIVATION.subject, REACTIVATION.address)
    other = desk.tickets[ANSWERED.subject]
    response = page.goto(with_code(mine, desk.tickets[REACTIVATION.subject], other))
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Página não encontrada")
    expect(page.locator("body")).not_to_contain_text(other)
    expect(page.locator("body")).not_to_contain_text(ANSWERED.subject)


def with_code(link: str, code: str, other: str) -> str:
    """``link`` with its token altered to name ``other`` in place of ``code``, as far as a
    forger without the key can: the token is encrypted, so they flip bits of its IV, which
    would flip the code in plain AES-CBC (tests/test_requester_links.flipped_to); the
    token's MAC, which covers the IV, is what stops it."""
    base, _, token = link.rpartition("/")
    return f"{base}/{flipped_to(token, code, other)}"


def test_a_form_posted_without_its_csrf_token_is_refused(page: Page, desk: ServedDesk) -> None:
    page.goto(tracking_link(desk, REACTIVATION.subject, REACTIVATION.address))
    form = page.locator("form", has=page.get_by_role("button", name="Pedir urgência"))
    form.locator("input[name=csrf_token]").evaluate("field => field.remove()")
    page.get_by_label("Motivo da urgência").fill("Sem o campo escondido do formulário.")
    with page.expect_response(lambda response: response.request.method == "POST") as posted:
        page.get_by_role("button", name="Pedir urgência").click()
    assert posted.value.status == 400
    expect(page.get_by_role("heading", level=1)).to_have_text("Pedido inválido")
    page.go_back()
    page.reload()
    expect(page.locator("dl.facts").first).not_to_contain_text("urgência pedida")


def test_a_staff_action_posted_from_elsewhere_is_refused(staff: Page, desk: ServedDesk) -> None:
    """Another site's form, posted with the staff member's cookies but without the token
    only the desk's pages hold."""
    code = desk.tickets[INCOMPLETE.subject]
    refused = staff.request.post(
        desk.url(f"/equipe/chamados/{code}/estado"), form={"estado": "cancelado"}
    )
    assert refused.status == 400
    assert "Pedido inválido" in refused.text()
    staff.goto(desk.url(f"/equipe/chamados/{code}"))
    expect(staff.locator("dl.facts").first).to_contain_text("aguardando informações")


# -- phones and keyboards ------------------------------------------------------------------


def fits_the_width(page: Page) -> bool:
    """No horizontal scroll: nothing is wider than the screen."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_the_requester_page_fits_a_phone(browser: Browser, desk: ServedDesk) -> None:
    context = new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(tracking_link(desk, RESOLVED.subject, RESOLVED.address))
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert fits_the_width(page)
    context.close()


def test_the_first_tab_reaches_the_skip_link_to_the_content(staff: Page, desk: ServedDesk) -> None:
    staff.goto(desk.url("/equipe/"))
    staff.keyboard.press("Tab")
    skip = staff.get_by_role("link", name="Ir para o conteúdo")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # hidden until focused, then seen
    staff.keyboard.press("Enter")
    expect(staff.get_by_role("main")).to_be_focused()
    # The next Tab goes on in the content, past the menu: the queue's search field.
    staff.keyboard.press("Tab")
    expect(staff.get_by_label("Buscar")).to_be_focused()


def unnamed_controls(page: Page) -> list[str]:
    """The visible form controls with no accessible name (no label, legend, aria-label...),
    as the browser computes it for a screen reader."""
    unnamed = []
    for control in page.locator("input:not([type=hidden]), select, textarea, button").all():
        if control.is_visible() and not accessible_name(control):
            unnamed.append(str(control.evaluate("control => control.outerHTML")))
    return unnamed


def accessible_name(control: Locator) -> str:
    # The snapshot's first line is the control itself: '- textbox "E-mail institucional"'
    # (a select's options follow on lines of their own).
    line = control.aria_snapshot().splitlines()[0]
    return line.partition('"')[2].rpartition('"')[0]


# -- the staff's day -----------------------------------------------------------------------


def test_staff_member_filters_the_queue_and_finds_a_ticket_by_a_word_of_its_mail(
    staff: Page, desk: ServedDesk
) -> None:
    find_by_filter_and_search(staff, desk)


def find_by_filter_and_search(staff: Page, desk: ServedDesk) -> None:
    """On the queue, filter by state, then search a word of a mail's text; open the one
    ticket found."""
    staff.goto(desk.url("/equipe/"))
    queue = staff.locator("table")
    # Only the tickets of the staff member's area: the UASG reactivation is another's.
    expect(queue).to_contain_text(INCOMPLETE.subject)
    expect(queue).not_to_contain_text(REACTIVATION.subject)
    staff.get_by_text("Mais filtros", exact=True).click()  # folded until one is in use
    staff.get_by_label("Situação").select_option(label="Em atendimento")
    staff.get_by_role("button", name="Filtrar").click()
    expect(queue).not_to_contain_text(INCOMPLETE.subject)
    expect(queue).to_contain_text(ANSWERED.subject)
    staff.get_by_label("Buscar").fill(SEARCHED)
    staff.get_by_role("button", name="Filtrar").click()
    expect(staff.get_by_text("1 chamado", exact=True)).to_be_visible()
    code = desk.tickets[ANSWERED.subject]
    staff.get_by_role("link", name=code).click()
    expect(staff.get_by_role("heading", level=1)).to_have_text(ANSWERED.subject)
    expect(staff.get_by_role("heading", name=f"Chamado {code}")).to_be_visible()


def test_staff_answer_reaches_the_requester_by_mail(staff: Page, desk: ServedDesk) -> None:
    staff.goto(desk.url(f"/equipe/chamados/{desk.tickets[ANSWERED.subject]}"))
    answer_on_the_page(staff, desk)


def answer_on_the_page(staff: Page, desk: ServedDesk) -> None:
    """Answer the open ticket's requester (ANSWERED's) and see the mail reach them."""
    answer = "Bom dia, Maria. Limpe o cache do navegador e publique o aviso de novo."
    staff.get_by_label("Resposta", exact=True).fill(answer)
    staff.get_by_role("button", name="Responder ao solicitante").click()
    expect(staff.get_by_text("Resposta enviada ao solicitante.")).to_be_visible()
    expect(staff.get_by_role("region", name="Conversa")).to_contain_text(answer)
    mailed = desk.wait_for_mail(ANSWERED.address, containing=answer)
    assert desk.tickets[ANSWERED.subject] in str(mailed["Subject"])


def test_staff_resolves_a_ticket_and_the_requester_rates_it_from_the_mailed_link(
    staff: Page, browser: Browser, desk: ServedDesk
) -> None:
    code = desk.tickets[RESOLVED.subject]
    link = tracking_link(desk, RESOLVED.subject, RESOLVED.address)
    mails_before = len(desk.mails_to(RESOLVED.address))
    staff.goto(desk.url(f"/equipe/chamados/{code}"))
    staff.get_by_label("Nova situação").select_option(label="Resolvido")
    staff.get_by_role("button", name="Alterar a situação").click()
    expect(staff.get_by_text("O chamado agora está resolvido.")).to_be_visible()
    expect(staff.locator("dl.facts").first).to_contain_text("resolvido")
    told = desk.wait_for_mail(RESOLVED.address, newer_than=mails_before)
    assert code in str(told["Subject"])
    # The requester, in their own browser: no staff session.
    context = new_context(browser)
    requester = context.new_page()
    requester.goto(link)
    expect(requester.locator("dl.facts").first).to_contain_text("resolvido")
    requester.get_by_role("radio", name="5").check()
    requester.get_by_label("Comentário (opcional)").fill("Resolvido no mesmo dia, obrigado.")
    requester.get_by_role("button", name="Avaliar o atendimento").click()
    expect(requester.get_by_text("Obrigado pela avaliação.")).to_be_visible()
    context.close()
    staff.reload()
    expect(staff.get_by_role("region", name="Avaliação do solicitante")).to_contain_text("5 de 5")


def test_the_queue_fits_a_phone(
    browser: Browser, staff_session: StorageState, desk: ServedDesk
) -> None:
    context = new_context(
        browser, viewport=PHONE, is_mobile=True, has_touch=True, storage_state=staff_session
    )
    page = context.new_page()
    page.goto(desk.url("/equipe/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Fila de chamados")
    assert fits_the_width(page)
    context.close()


def test_the_main_pages_name_every_control_and_keep_their_headings_in_order(
    page: Page, coordinator: Page, desk: ServedDesk
) -> None:
    requester = tracking_link(desk, INCOMPLETE.subject, INCOMPLETE.address)
    public = [desk.url("/entrar"), desk.url("/meus-chamados"), requester]
    code = desk.tickets[INCOMPLETE.subject]
    staff = [desk.url(p) for p in ("/equipe/", f"/equipe/chamados/{code}", "/equipe/painel/")]
    for person, urls in ((page, public), (coordinator, staff)):
        for url in urls:
            person.goto(url)
            expect(person.get_by_role("heading", level=1)).to_be_visible()
            assert unnamed_controls(person) == [], url
            levels = heading_levels(person)
            assert levels.count(1) == 1 and levels[0] == 1, (url, levels)
            assert all(b <= a + 1 for a, b in pairwise(levels)), (url, levels)


def heading_levels(page: Page) -> list[int]:
    """The levels of the page's headings, in the order a screen reader lists them."""
    found = page.evaluate("[...document.querySelectorAll('h1, h2, h3, h4, h5, h6')]"
                          ".map(heading => Number(heading.tagName[1]))")  # fmt: skip
    return [int(level) for level in found]


# -- the same on PostgreSQL ------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDesk]:
    """The desk on PostgreSQL, where the queue's search is the full-text index's."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_postgres("mailproc_web"))
        except DBAPIError as exc:
            postgres_unavailable(str(exc.orig))
        smtp = stack.enter_context(smtp_listener())
        yield stack.enter_context(serve_desk(tmp_path_factory.mktemp("web_pg"), smtp, url))


def test_on_postgresql_staff_log_in_find_a_ticket_by_a_word_and_answer_it(
    browser: Browser, postgres_desk: ServedDesk
) -> None:
    context = new_context(browser)
    staff = context.new_page()
    log_in(staff, postgres_desk, AREA_STAFF)
    expect(staff.get_by_role("heading", level=1)).to_have_text("Fila de chamados")
    find_by_filter_and_search(staff, postgres_desk)
    answer_on_the_page(staff, postgres_desk)
    context.close()
