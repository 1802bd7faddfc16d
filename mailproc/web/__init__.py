"""The web view of the desk (``mailproc web``): staff see the queue and answer, requesters
follow their tickets. E-mail stays the desk's way in; every action here is one an e-mail can
also take, applied by the same code (mailproc.tickets.acting).

    staff.py        the queue, a ticket's page, its files          /equipe/...
    actions.py      staff actions on a ticket (POST)               /equipe/chamados/CODE/...
    dashboard.py    the coordinator's charts (charts.py draws SVG) /equipe/painel
    login.py        staff login by mailed link or SSO header       /entrar, /sair
    requester.py    a requester's ticket and "Meus chamados"       /acompanhar/..., /meus-chamados
    access.py       who is logged in, and which tickets they may see
    security.py     session, CSRF, rate limits and response headers

Flask was chosen because it renders with Jinja2 (the desk's mail templates already do) and
runs plain synchronous SQLAlchemy sessions, like the rest of the desk: an asynchronous
framework would need a second way to reach the store. waitress serves it (mailproc.web.server).
"""

from __future__ import annotations

from flask import Flask, redirect, render_template, url_for
from jinja2 import FileSystemLoader
from werkzeug.wrappers import Response

from mailproc.web import access, filters, security
from mailproc.web.desk import DESK, Desk


def create_app(desk: Desk) -> Flask:
    """The web application of ``desk``: its templates are ``templates/web`` of the desk's
    templates folder, so that an operator who restyles the mail restyles the pages too."""
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.jinja_loader = FileSystemLoader(str(desk.config.templates_dir / "web"))
    # Flask escapes only templates named *.html; ours are *.html.j2, and every one is HTML.
    app.jinja_env.autoescape = True
    app.extensions[DESK] = desk
    security.install(app, desk)
    filters.install(app, desk.config.desk)
    access.install(app)
    _register_views(app)
    _register_errors(app)
    return app


def _register_views(app: Flask) -> None:
    from mailproc.web import actions, dashboard, login, requester, staff

    for module in (staff, actions, dashboard, login, requester):
        app.register_blueprint(module.blueprint)

    @app.get("/")
    def home() -> Response:
        target = "staff.queue" if access.current_staff() else "requester.ask_my_tickets"
        return redirect(url_for(target))


# Each refusal as a page in pt-BR that says what happened and what to do.
ERRORS: dict[int, tuple[str, str]] = {
    400: (
        "Pedido inválido",
        "O formulário expirou ou não veio desta página. Volte, recarregue "
        "a página e envie de novo.",
    ),
    403: ("Acesso negado", "Esta página não está disponível para o seu acesso."),
    404: (
        "Página não encontrada",
        "O endereço não existe, ou o link expirou. Links de "
        'acompanhamento chegam por e-mail; peça um novo em "Meus chamados".',
    ),
    405: ("Pedido inválido", "Esta página não aceita esse tipo de pedido."),
    413: (
        "Texto longo demais",
        "O que foi enviado passa do tamanho que esta página aceita. Encurte o texto; arquivos "
        "podem ser enviados por e-mail, respondendo à mensagem do chamado.",
    ),
    429: (
        "Muitas tentativas",
        "Foram muitos pedidos em pouco tempo. Espere alguns minutos e tente de novo.",
    ),
}


def _register_errors(app: Flask) -> None:
    for status, (title, explanation) in ERRORS.items():

        def page(error: Exception, title: str = title, explanation: str = explanation,
                 status: int = status) -> tuple[str, int]:  # fmt: skip
            return render_template("error.html.j2", title=title, explanation=explanation), status

        app.register_error_handler(status, page)
