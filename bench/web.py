"""The web view's page times on a desk of N tickets (50,000 by default), on SQLite and on
PostgreSQL: the staff queue, searches, filters and a ticket's page.

    python -m bench.web                                  # N = 50,000, both backends
    python -m bench.web --n 2000 --backends sqlite --json web.json
    MAILPROC_BENCH_POSTGRES_URL=postgresql://... python -m bench.web --backends postgresql

The desk is seeded in bulk (SQLAlchemy Core, executemany in chunks, explicit ids) into the
real tables at the newest schema (mailproc.storage.schema.upgrade), not through the pipeline
(65 mails/s would take a quarter of an hour per backend): tickets of the shipped themes over
the last 365 days, most resolved or closed, some open, pending or incomplete; 2-4 mails each
(the request in pt-BR, 500-3,000 characters, staff answers, the requester's replies), file
metadata, participants, history and ratings; 5,000 requesters, a few of whom write often.
Every choice comes from one seeded generator: the same --seed gives the same desk, dated back
from today. Two words are planted in the requests to give searches a known selectivity:
RARE_WORD in ~1 % of tickets, COMMON_WORD in ~20 %; the run counts and prints the share that
has each. PostgreSQL's tables are vacuumed and analyzed after seeding, as autovacuum soon
would be; SQLite is not analyzed, as the desk never runs ANALYZE on it.

Pages are requested through Flask's test client of the real application (create_app on the
desk's App): a figure is the server's work for one request in this process (routing, session,
queries, template rendering), without HTTP, waitress or a browser. Staff are logged in by
their session, as the login sets it (access.sign_in). Each page is requested --warmup times
first; then each of --requests rounds requests every page once, in turn, so that the
machine's noise falls on all alike; median and p95 (nearest rank) per page, and the SQL
statements per request. The baseline is the login form (GET /entrar) in the same rounds:
"x /entrar" is a page's median over the baseline's.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import math
import os
import random
import statistics
import string
import sys
import tempfile
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, Table, event, func, insert, make_url, select, text

from mailproc.config import load_config
from mailproc.decision.states import PRIORITY_LEVELS
from mailproc.decision.ticket_state import TicketState as S
from mailproc.resources import shipped_dir
from mailproc.rules.rulebook import Rulebook, Theme, load_rulebook
from mailproc.service.app import App
from mailproc.storage import models as m
from mailproc.storage.db import make_engine, utcnow
from mailproc.storage.schema import upgrade
from mailproc.web import create_app
from mailproc.web.access import sign_in

POSTGRES_ADMIN_URL = os.environ.get(
    "MAILPROC_BENCH_POSTGRES_URL",
    "postgresql://mailproc_test:mailproc_test@127.0.0.1:5432/mailproc_test?connect_timeout=5",
)
TARGET_MS = 200.0
CHUNK = 1000  # tickets per executemany round: their mails are ~4 MB of text
REQUESTERS = 5000

# The desk's people: the coordinator sees every ticket; the area member works in the SIASG
# support area only (the erro-siasg theme's routing address). Each area has three members.
COORDINATOR = "coordenacao@suporte.example.gov.br"
AREA_STAFF = "ana.souza@suporte.example.gov.br"
SIASG_AREA = "suporte-siasg@example.gov.br"
STAFF_DOMAIN = "suporte.example.gov.br"
STAFF_NAMES = ("bruno.lima", "carla.mendes", "diego.alves", "elisa.rocha", "fabio.nunes",
               "gabriela.pinto", "heitor.ramos", "isabel.costa", "joao.teixeira")  # fmt: skip
FORWARDER = "redecompras@planejamento.rj.gov.br"

CONFIG = """\
[desk]
name = "Central de Atendimento – Compras.gov.br RJ"
address = "suporte@compras.example.gov.br"
trusted_forwarders = ["{forwarder}"]
staff_domains = ["{staff_domain}"]
[database]
url = "{url}"
[delivery]
outbox_maildir = "outbox"
[web]
public_url = "http://127.0.0.1:8080"
scope = "area"
coordinators = ["{coordinator}"]
[web.areas]
{areas}
"""

RARE_WORD, RARE_SHARE = "contingenciamento", 0.01
COMMON_WORD, COMMON_SHARE = "empenho", 0.20

# Shares of the tickets by theme id (a theme of the rules not named here weighs 10).
THEME_WEIGHTS = {
    "erro-siasg": 35, "duvidas-compras": 25, "cadastro": 15, "reativacao-uasg": 15,
    "melhorias-siasg": 10,
}  # fmt: skip
# States by the ticket's age in days: recent tickets are in hand, old ones settled.
STATES_BY_AGE: tuple[tuple[float, dict[S, int]], ...] = (
    (3, {S.OPEN: 55, S.AWAITING_INFORMATION: 20, S.PENDING: 5, S.RESOLVED: 15, S.CANCELLED: 5}),
    (30, {S.OPEN: 15, S.PENDING: 12, S.AWAITING_INFORMATION: 6, S.RESOLVED: 50,
          S.CLOSED_UNANSWERED: 7, S.CLOSED_UNTREATED: 6, S.CANCELLED: 4}),
    (math.inf, {S.OPEN: 1, S.PENDING: 1, S.RESOLVED: 75, S.CLOSED_UNANSWERED: 10,
                S.CLOSED_UNTREATED: 9, S.CANCELLED: 4}),
)  # fmt: skip
# The requester never completed these: no one answered them.
NEVER_ANSWERED = frozenset({S.AWAITING_INFORMATION, S.CLOSED_UNTREATED})
CLOSING_EVENTS = {
    S.CLOSED_UNANSWERED: "closed_unanswered",
    S.CLOSED_UNTREATED: "closed_incomplete",
    S.CANCELLED: "cancelled",
}

# The words of the mails; neither planted word may appear in any of them.
FIRST_NAMES = (
    "Maria", "José", "Ana", "João", "Francisca", "Antônio", "Adriana", "Carlos", "Juliana",
    "Paulo", "Márcia", "Pedro", "Fernanda", "Lucas", "Patrícia", "Marcos", "Aline", "Rafael",
    "Sandra", "Luiz", "Camila", "Bruno", "Cláudia", "Rodrigo", "Vanessa", "Eduardo", "Simone",
    "Felipe", "Renata", "Gustavo", "Daniela", "Ricardo", "Tatiana", "André", "Cristina",
    "Fábio", "Luciana", "Marcelo", "Débora", "Thiago",
)  # fmt: skip
LAST_NAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
    "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares",
    "Fernandes", "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade", "Moreira",
    "Nunes", "Marques", "Machado", "Mendes", "Freitas", "Cardoso", "Ramos",
)  # fmt: skip
DOMAINS = (
    "saude.rj.gov.br", "educacao.rj.gov.br", "fazenda.rj.gov.br", "seplag.rj.gov.br",
    "detran.rj.gov.br", "pm.rj.gov.br", "cbmerj.rj.gov.br", "uerj.br", "cedae.com.br",
    "defensoria.rj.def.br", "mprj.mp.br", "tjrj.jus.br", "alerj.rj.gov.br", "inea.rj.gov.br",
    "cultura.rj.gov.br", "transportes.rj.gov.br", "seap.rj.gov.br", "faetec.rj.gov.br",
)  # fmt: skip
WORDS: dict[str, tuple[str, ...]] = {
    "organ": (
        "Secretaria de Estado de Saúde", "Secretaria de Estado de Educação",
        "Secretaria de Estado de Fazenda", "Departamento de Trânsito", "Polícia Militar",
        "Universidade do Estado do Rio de Janeiro", "Fundação Saúde", "Defensoria Pública",
        "Instituto Estadual do Ambiente", "Secretaria de Estado de Cultura",
        "Fundação de Apoio à Escola Técnica", "Corpo de Bombeiros Militar",
    ),
    "module": (
        "Divulgação de Compras", "Contratos", "Gestão de Atas", "Catálogo de Materiais",
        "Fase Interna", "Sessão Pública", "SICAF", "Plano de Contratações Anual", "ETP Digital",
        "TR Digital", "Dispensa Eletrônica", "Cotação Eletrônica",
    ),
    "action": (
        "incluir os itens", "publicar o aviso", "homologar o resultado", "adjudicar o item",
        "registrar a ata", "cadastrar o fornecedor", "alterar o gestor do contrato",
        "anexar o termo de referência", "consultar o catálogo", "assinar o documento",
        "enviar para a autoridade competente", "abrir a sessão pública", "gerar o relatório",
        "incluir o aditivo", "encerrar o processo",
    ),
    "error": (
        "Erro interno no servidor (código 500)", "Sessão expirada, faça login novamente",
        "Operação não permitida para o perfil do usuário", "Tempo de resposta excedido",
        "Registro não encontrado", "Falha na comunicação com o serviço",
        "CPF sem vínculo com a UASG", "O campo data de abertura é obrigatório",
        "Documento já assinado por outro usuário",
    ),
    "when": (
        "ontem à tarde", "hoje pela manhã", "segunda-feira", "a semana passada",
        "o início do mês", "a última atualização do sistema", "sexta-feira",
    ),
    "browser": ("Chrome", "Firefox", "Edge", "navegador da repartição"),
    "profile": (
        "cadastrador", "gestor de compras", "ordenador de despesa", "autoridade competente",
        "agente de contratação", "fiscal de contrato", "consulta",
    ),
    "topic": (
        "o prazo de publicação do aviso", "a inclusão de itens no catálogo",
        "a vigência da ata de registro de preços", "o cadastro de fornecedor estrangeiro",
        "a adesão a uma ata de outro órgão", "a publicação no portal nacional",
        "o credenciamento de novos usuários", "a alteração do ordenador de despesa",
        "o reajuste contratual", "a designação da equipe de apoio",
    ),
    "stage": ("abertura", "conclusão", "instrução", "publicação"),
}  # fmt: skip
REQUEST_SENTENCES = (
    'Ao tentar {action} no módulo {module}, o sistema exibe a mensagem "{error}".',
    "O problema ocorre desde {when}, tanto no {browser} quanto em outro computador.",
    "Já limpei o cache do navegador e tentei novamente, sem sucesso.",
    "A UASG {uasg} é vinculada à {organ}.",
    "O pregão eletrônico nº {number}/{year} tem a sessão pública marcada para {date}.",
    "Segue em anexo a captura de tela com a mensagem.",
    "Gostaria de uma orientação sobre {topic}.",
    "Precisamos {action} até {date} para não perder o prazo do processo SEI-{process}.",
    "O CNPJ da unidade é {cnpj}.",
    "O usuário de CPF {cpf} não consegue acessar com o perfil de {profile}.",
    "Outros colegas da {organ} relatam a mesma situação.",
    "Conforme orientação recebida anteriormente, refiz o procedimento passo a passo.",
    "O processo de compra tem valor estimado de R$ {money} e atende a {organ}.",
    "Não encontramos no manual do módulo {module} a informação sobre {topic}.",
    "A tela fica carregando por vários minutos e depois volta para o início.",
    "A unidade mudou de endereço e o telefone agora é (21) {phone}.",
    "Solicito a gentileza de verificar com urgência, pois o prazo legal está correndo.",
    "Desde {when}, o botão para {action} desapareceu da tela.",
)
STAFF_SENTENCES = (
    "Verificamos o registro da UASG {uasg} e o perfil de {profile} está ativo.",
    "O erro foi corrigido na versão publicada esta semana; por favor, tente novamente.",
    "Para {action}, acesse o módulo {module} com o perfil de {profile}.",
    "Encaminhamos a situação à equipe técnica, que já identificou a causa.",
    "Recomendamos consultar o manual do módulo {module}, na parte sobre {topic}.",
    "A alteração cadastral foi concluída e já pode ser conferida no sistema.",
    "Pedimos que envie a captura de tela completa, com a data e a hora visíveis.",
    "O prazo para {action} segue o calendário publicado pela unidade gestora.",
    "Caso o problema persista, responda a este e-mail informando o horário da tentativa.",
)
FOLLOW_UP_SENTENCES = (
    "Obrigado pelo retorno.",
    "Fiz o procedimento indicado e funcionou.",
    'Ainda não consegui {action}; a mensagem "{error}" continua aparecendo.',
    "Segue a informação solicitada: UASG {uasg}, módulo {module}.",
    "Peço desculpas pela demora em responder.",
    "Aguardo a solução.",
)
PLANTED = (
    (RARE_SHARE, f"O {RARE_WORD} do orçamento atrasou a {{stage}} do processo SEI-{{process}}."),
    (COMMON_SHARE, f"Preciso emitir a nota de {COMMON_WORD} do processo SEI-{{process}} hoje."),
)
ANSWER_LABELS = {
    "uasg": "UASG", "modulo": "Módulo", "data_hora": "Data e hora",
    "mensagem_erro": "Mensagem de erro", "passo_a_passo": "Passo a passo", "cpf": "CPF",
    "cnpj": "CNPJ", "orgao": "Órgão/Entidade", "endereco": "Endereço", "telefone": "Telefone",
    "motivo": "Motivo", "descricao": "Descrição", "pergunta": "Pergunta",
}  # fmt: skip
GREETINGS = ("Bom dia,", "Boa tarde,", "Prezados,", "Senhores,", "Olá,")
TABLES = ("tickets", "messages", "attachments", "participants", "events", "evaluations")


def digits(r: random.Random, *widths: int) -> list[str]:
    """Random numbers of these many digits each (a CPF's groups, a CNPJ's)."""
    return [f"{r.randrange(10**w):0{w}d}" for w in widths]


# The blanks of the sentences that are numbers, each drawn by its function.
NUMBERS: dict[str, Callable[[random.Random], object]] = {
    "uasg": lambda r: r.randrange(150000, 990000),
    "number": lambda r: r.randrange(1, 100000),
    "year": lambda r: r.choice((2025, 2026)),
    "date": lambda r: f"{r.randrange(1, 29):02d}/{r.randrange(1, 13):02d}",
    "process": lambda r: "{}/{}/".format(*digits(r, 2, 6)) + str(r.choice((2025, 2026))),
    "cnpj": lambda r: "{}.{}.{}/0001-{}".format(*digits(r, 2, 3, 3, 2)),
    "cpf": lambda r: "{}.{}.{}-{}".format(*digits(r, 3, 3, 3, 2)),
    "money": lambda r: "{}.{},00".format(r.randrange(1, 1000), *digits(r, 3)),
    "phone": lambda r: "{}-{}".format(r.randrange(2000, 4000), *digits(r, 4)),
}


@functools.cache
def blanks(template: str) -> tuple[str, ...]:
    """The names of ``template``'s blanks ({name})."""
    return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)


Row = dict[str, Any]


# --- Seeding --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    email: str
    name: str


@dataclass
class Rows:
    """One chunk's rows by table, inserted in TABLES' order (the foreign keys' order)."""

    tables: dict[str, list[Row]] = field(default_factory=lambda: {t: [] for t in TABLES})
    # The last id given in each table: rows carry their ids, so that a chunk's rows name
    # each other without reading anything back.
    last_ids: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))

    def add(self, table: str, **values: Any) -> int:
        self.last_ids[table] += 1
        self.tables[table].append({"id": self.last_ids[table], **values})
        return self.last_ids[table]

    def take(self) -> Iterator[tuple[Table, list[Row]]]:
        """The rows gathered so far, by table; they are forgotten (the ids go on)."""
        for name in TABLES:
            if self.tables[name]:
                yield m.Base.metadata.tables[name], self.tables[name]
            self.tables[name] = []


def plain(words: str) -> str:
    """``words`` in lower-case ASCII, as the local part of an address."""
    return unicodedata.normalize("NFKD", words).encode("ascii", "ignore").decode().lower()


class Seeder:
    """Makes one ticket's rows at a time: its mails, files, participants and history."""

    def __init__(self, rulebook: Rulebook, staff: dict[str, list[str]], seed: int,
                 now: datetime) -> None:  # fmt: skip
        self.rng = random.Random(seed)
        self.now = now
        self.rows = Rows()
        self.codes: dict[int, int] = {}
        self.themes = list(rulebook.themes)
        self.theme_weights = [THEME_WEIGHTS.get(t.id, 10) for t in self.themes]
        self.staff = staff
        self.requesters = self._requesters(REQUESTERS)
        # A few requesters write often: the k-th most frequent weighs 1/k^0.8.
        self.requester_weights = list(
            itertools.accumulate(k**-0.8 for k in range(1, 1 + REQUESTERS))
        )

    def _requesters(self, count: int) -> list[Person]:
        people: dict[str, Person] = {}
        while len(people) < count:
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            email = f"{plain(first)}.{plain(last)}{len(people)}@{self.rng.choice(DOMAINS)}"
            people[email] = Person(email, f"{first} {last}")
        return list(people.values())

    def requester(self) -> Person:
        return self.rng.choices(self.requesters, cum_weights=self.requester_weights)[0]

    def fill(self, template: str) -> str:
        """``template`` with its blanks filled: words from WORDS, numbers from NUMBERS."""
        r = self.rng
        return template.format(
            **{b: r.choice(WORDS[b]) if b in WORDS else NUMBERS[b](r) for b in blanks(template)}
        )

    def prose(self, sentences: Sequence[str], low: int, high: int) -> list[str]:
        """Sentences drawn from ``sentences`` up to a length between ``low`` and ``high``."""
        target = self.rng.randint(low, high)
        chosen: list[str] = []
        while target > 0:
            chosen.append(self.fill(self.rng.choice(sentences)))
            target -= len(chosen[-1]) + 1
        return chosen

    def answers(self, theme: Theme) -> dict[str, str]:
        """The theme's questionnaire, answered."""
        r = self.rng
        known = {
            "uasg": str(r.randint(150000, 989999)), "modulo": r.choice(WORDS["module"]),
            "mensagem_erro": r.choice(WORDS["error"]), "orgao": r.choice(WORDS["organ"]),
            "data_hora": f"{NUMBERS['date'](r)}/2026 {r.randrange(8, 19)}:{r.randrange(60):02d}",
        }  # fmt: skip
        return {
            a.key: known.get(a.key) or self.fill(r.choice(REQUEST_SENTENCES)) for a in theme.answers
        }

    def request(self, person: Person, answers: dict[str, str]) -> str:
        """The opening mail: 500-3,000 characters, the planted words in some."""
        story = self.prose(REQUEST_SENTENCES, 380, 2300)
        for share, sentence in PLANTED:
            if self.rng.random() < share:
                story.insert(self.rng.randrange(len(story) + 1), self.fill(sentence))
        form = "\n".join(f"{ANSWER_LABELS.get(k, k)}: {v}" for k, v in answers.items())
        return (
            f"{self.rng.choice(GREETINGS)}\n\n{' '.join(story)}\n\n{form}\n\n"
            f"Atenciosamente,\n{person.name}\n{self.rng.choice(WORDS['organ'])}\n"
        )

    def answer(self, person: Person) -> str:
        staff = " ".join(self.prose(STAFF_SENTENCES, 150, 1200))
        return f"Prezado(a) {person.name},\n\n{staff}\n\nAtenciosamente,\nEquipe de Atendimento\n"

    def follow_up(self, person: Person) -> str:
        return f"{' '.join(self.prose(FOLLOW_UP_SENTENCES, 60, 700))}\n\n{person.name}\n"

    def ticket(self, created: datetime) -> None:
        """One ticket opened at ``created``, in a state that suits its age."""
        r = self.rng
        theme = r.choices(self.themes, weights=self.theme_weights)[0]
        age_days = (self.now - created).total_seconds() / 86400
        weights = next(states for limit, states in STATES_BY_AGE if age_days < limit)
        state = r.choices(list(weights), weights=list(weights.values()))[0]
        person = self.requester()
        answers = self.answers(theme)
        incomplete = state in NEVER_ANSWERED
        urgent = not incomplete and r.random() < 0.05
        priority = theme.priority
        if urgent:
            priority = PRIORITY_LEVELS[
                min(PRIORITY_LEVELS.index(priority) + 1, len(PRIORITY_LEVELS) - 1)
            ]
        subject = r.choice(
            (theme.example_subject, theme.name, f"{theme.name} – UASG {r.randint(150000, 989999)}")
        )
        self.codes[created.year] = self.codes.get(created.year, 0) + 1
        ticket = self.rows.add(
            "tickets", code=f"{created.year}-{self.codes[created.year]:06d}", theme_id=theme.id,
            state=state, priority=priority, requester_email=person.email,
            requester_name=person.name, subject=subject, answers={} if incomplete else answers,
            created_at=created, updated_at=created, reminded_at=None, escalated_at=None,
            due_at=None if incomplete else created + timedelta(hours=theme.response_hours),
            incomplete_until=created + timedelta(days=7) if incomplete else None,
        )  # fmt: skip
        thread = self.thread(ticket, theme, person, subject, answers, state, created)
        last = thread[-1]["created_at"]
        self.rows.tables["tickets"][-1].update(updated_at=last, urgent_at=last if urgent else None)
        self.participants(ticket, person, theme, created)
        self.history(ticket, theme, person, state, thread, urgent)

    def thread(self, ticket: int, theme: Theme, person: Person, subject: str,
               answers: dict[str, str], state: S, created: datetime) -> list[Row]:  # fmt: skip
        """The ticket's 2-4 mails: the request, then staff and requester in turn (the requester
        alone when no one answered), hours apart, none after now."""
        r = self.rng
        answered = state not in NEVER_ANSWERED
        staff = self.staff[theme.routing.address]
        when = created
        messages: list[Row] = []
        for index in range(r.choices((2, 3, 4), weights=(45, 35, 20))[0]):
            by_staff = answered and index % 2 == 1
            sender = Person(r.choice(staff), "Equipe de Atendimento") if by_staff else person
            if index == 0:
                body, outcome = (
                    self.request(person, answers),
                    "created" if answered else "incomplete",
                )
            else:
                body, outcome = (
                    self.answer(person) if by_staff else self.follow_up(person),
                    "updated",
                )
                when = min(self.now, when + timedelta(hours=r.expovariate(1 / 20)))
            number = self.rows.last_ids["messages"] + 1
            self.rows.add(
                "messages", raw_id=None, dedup_key=f"bench:{number}", ticket_id=ticket,
                outcome=outcome, theme_id=theme.id, sender=sender.email,
                sender_name=sender.name, subject=f"Re: {subject}" if index else subject,
                message_id=f"{number}.bench@{sender.email.partition('@')[2]}",
                in_reply_to=messages[-1]["message_id"] if messages else None,
                references=[x["message_id"] for x in messages[-3:]], body_text=body,
                body_html=None, created_at=when,
            )  # fmt: skip
            messages.append(self.rows.tables["messages"][-1])
        self.files(messages[0]["id"], theme)
        return messages

    def files(self, message: int, theme: Theme) -> None:
        """The request's screenshots and a document: metadata of real sizes, a few bytes."""
        if self.rng.random() >= (0.85 if theme.attachments else 0.35):
            return
        for index in range(self.rng.choice((1, 1, 1, 2))):
            pdf = index == 1
            kind = "application/pdf" if pdf else "image/png"
            self.rows.add(
                "attachments", message_id=message, declared_type=kind, detected_type=kind,
                filename="documento.pdf" if pdf else "print-erro.png",
                size=int(self.rng.lognormvariate(11, 1)),
                sha256=f"{self.rng.getrandbits(256):064x}",
                data=b"%PDF-1.4\n" if pdf else b"\x89PNG\r\n\x1a\n", inline=False,
            )  # fmt: skip

    def participants(self, ticket: int, person: Person, theme: Theme, created: datetime) -> None:
        joining = {person.email: "requester"}
        if self.rng.random() < 0.10:
            joining.setdefault(self.requester().email, "cc")
        if theme.id == "duvidas-compras" and self.rng.random() < 0.2:
            joining[FORWARDER] = "forwarder"
        for email, role in joining.items():
            self.rows.add(
                "participants", ticket_id=ticket, email=email, role=role, added_at=created
            )

    def history(self, ticket: int, theme: Theme, person: Person, state: S, thread: list[Row],
                urgent: bool) -> None:  # fmt: skip
        """The events the desk would have written for this thread and final state."""
        first, last = thread[0], thread[-1]

        def add(kind: str, message: Row, linked: bool = True, **detail: object) -> None:
            """An event at ``message``'s time, about it if ``linked``; None values left out."""
            self.rows.add(
                "events", ticket_id=ticket, message_id=message["id"] if linked else None,
                kind=kind, detail={k: v for k, v in detail.items() if v is not None},
                created_at=message["created_at"],
            )  # fmt: skip

        if state in NEVER_ANSWERED:
            add("incomplete", first, missing=["uasg"])
        else:
            add("created", first, missing=[])
            add("routed", first, linked=False, to=theme.routing.address)
        for message in thread[1:]:
            if message["sender"] == person.email:
                add("updated", message, completed=[], resumed=False)
                continue
            changed = message is last and state in (S.RESOLVED, S.PENDING)
            add("answered", message, by=message["sender"], state=state if changed else None)
        if urgent:
            add("urgent", last, linked=False, by=person.email)
        if state in CLOSING_EVENTS:
            add(CLOSING_EVENTS[state], last, linked=False, by=person.email)
        if state == S.RESOLVED and self.rng.random() < 0.35:
            score = self.rng.choices((5, 4, 3, 2, 1), weights=(50, 25, 10, 7, 8))[0]
            comment = self.rng.choice(("", "", "Atendimento rápido, obrigado.", "Resolveu."))
            self.rows.add(
                "evaluations", ticket_id=ticket, score=score, comment=comment, rater=person.email,
                message_id=None, created_at=last["created_at"], updated_at=last["created_at"],
            )  # fmt: skip
            add("rated", last, linked=False, score=score)


@contextlib.contextmanager
def indexes_built_after(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, the seeded tables' plain indexes (not those of keys or constraints)
    dropped while the rows go in, and built again after with the definitions the migrations
    gave them: one build costs far less than updating them row by row (the search's GIN
    indexes most of all)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    plain_indexes = text(
        "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
        " WHERE indrelid::regclass::text = ANY(:tables) AND NOT indisprimary AND NOT indisunique"
    )
    with engine.begin() as connection:
        indexes = list(connection.execute(plain_indexes, {"tables": list(TABLES)}))
        for name, _ in indexes:
            connection.execute(text(f"DROP INDEX {name}"))
    yield
    with engine.begin() as connection:
        for _, definition in indexes:
            connection.execute(text(definition))


def seed(engine: Engine, seeder: Seeder, count: int) -> dict[str, int]:
    """``count`` tickets opened over the year before ``seeder.now``; the rows per table."""
    year = 365 * 86400
    opened = sorted(
        seeder.now - timedelta(seconds=seeder.rng.uniform(0, year)) for _ in range(count)
    )
    with indexes_built_after(engine):
        for start in range(0, count, CHUNK):
            for created in opened[start : start + CHUNK]:
                seeder.ticket(created)
            with engine.begin() as connection:
                for table, rows in seeder.rows.take():
                    connection.execute(insert(table), rows)
    with engine.begin() as connection:
        counters = [{"year": y, "last_value": v} for y, v in seeder.codes.items()]
        connection.execute(insert(m.CodeCounter), counters)
        if engine.dialect.name == "postgresql":
            for name in TABLES:  # the desk's next rows take the ids after ours
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT max(id) FROM {name}))"
                ))  # fmt: skip
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after a load: statistics for the planner, and the
        # visibility map that lets a count read an index alone.
        with engine.connect() as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.execute(text(f"VACUUM (ANALYZE) {', '.join(TABLES)}"))
    return dict(seeder.rows.last_ids)


# --- The desk -------------------------------------------------------------------------------


def area_staff(rulebook: Rulebook) -> dict[str, list[str]]:
    """Three staff members per area (routing address); AREA_STAFF works in SIASG_AREA."""
    areas = sorted({t.routing.address for t in rulebook.themes})
    names = itertools.cycle(STAFF_NAMES)
    staff = {area: [f"{next(names)}@{STAFF_DOMAIN}" for _ in range(3)] for area in areas}
    staff[SIASG_AREA][0] = AREA_STAFF
    return staff


def write_config(folder: Path, url: str, staff: dict[str, list[str]]) -> Path:
    areas = "\n".join(f'"{area}" = {json.dumps(members)}' for area, members in staff.items())
    config = folder / "config.toml"
    config.write_text(
        CONFIG.format(url=url, forwarder=FORWARDER, staff_domain=STAFF_DOMAIN,
                      coordinator=COORDINATOR, areas=areas),
        encoding="utf-8",
    )  # fmt: skip
    return config


@contextlib.contextmanager
def database(backend: str, folder: Path, keep: bool) -> Iterator[str]:
    """The URL of an empty database: a SQLite file in ``folder``, or a new PostgreSQL
    database on the server of POSTGRES_ADMIN_URL, dropped afterwards unless ``keep``."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'mailproc.sqlite3'}"
        return
    name = f"mailproc_bench_web_{uuid.uuid4().hex[:8]}"
    admin = make_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def share_mentioning(engine: Engine, word: str) -> float:
    """The share of tickets with a mail whose text holds ``word``."""
    messages = m.Message.__table__.c
    with engine.connect() as connection:
        found = connection.scalar(
            select(func.count(messages.ticket_id.distinct())).where(
                messages.body_text.like(f"%{word}%")
            )
        )
        tickets = connection.scalar(select(func.count()).select_from(m.Ticket.__table__))
    return (found or 0) / tickets if tickets else 0.0


def ticket_with_four_mails(engine: Engine) -> str:
    """The code of the newest SIASG-error ticket with four mails (the area member sees it)."""
    tickets, messages = m.Ticket.__table__.c, m.Message.__table__.c
    query = (
        select(tickets.code)
        .join_from(m.Ticket.__table__, m.Message.__table__, messages.ticket_id == tickets.id)
        .where(tickets.theme_id == "erro-siasg")
        .group_by(tickets.id, tickets.code)
        .having(func.count() == 4)
        .order_by(tickets.id.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        code = connection.scalar(query)
    if code is None:
        raise SystemExit("no SIASG-error ticket with four mails: seed more tickets (--n)")
    return str(code)


# --- Timing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    label: str
    path: str
    who: str | None  # the logged-in staff member; None: nobody


@dataclass(frozen=True)
class Timing:
    label: str
    path: str
    status: int
    median_ms: float
    p95_ms: float
    ratio: float  # median over the baseline's median
    statements: float  # SQL statements per request
    kilobytes: float


def pages(code: str) -> list[Page]:
    """What is timed, the baseline first."""
    return [
        Page("login form (baseline)", "/entrar", None),
        Page("queue, coordinator", "/equipe/", COORDINATOR),
        Page("queue, area member", "/equipe/", AREA_STAFF),
        Page(f"search ~1% ({RARE_WORD})", f"/equipe/?q={RARE_WORD}", COORDINATOR),
        Page(f"search ~20% ({COMMON_WORD})", f"/equipe/?q={COMMON_WORD}", COORDINATOR),
        Page("filter aberto + erro-siasg", "/equipe/?estado=aberto&tema=erro-siasg", COORDINATOR),
        Page("queue by deadline (ordenar=prazo)", "/equipe/?ordenar=prazo", COORDINATOR),
        Page("ticket page (4 mails)", f"/equipe/chamados/{code}", COORDINATOR),
    ]


def client(app: Flask, who: str | None) -> FlaskClient:
    """A test client, logged in as ``who`` the way the login does it: by the session."""
    browser = app.test_client()
    if who is not None:
        with browser.session_transaction() as session:
            sign_in(session, who, utcnow())
    return browser


def nearest_rank(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def time_pages(
    app: Flask, engine: Engine, timed: list[Page], warmup: int, rounds: int
) -> list[Timing]:
    """Each page ``warmup`` times, then ``rounds`` rounds of every page once."""
    clients = {page.who: client(app, page.who) for page in timed}
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    for page in timed:
        for _ in range(warmup):
            clients[page.who].get(page.path).close()
    samples: dict[Page, list[float]] = {page: [] for page in timed}
    sent = dict.fromkeys(timed, 0)
    last: dict[Page, tuple[int, int]] = {}
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(rounds):
            for page in timed:
                before = statements[0]
                began = time.perf_counter()
                response = clients[page.who].get(page.path)
                body = response.get_data()  # the whole page, made within the timing
                samples[page].append(time.perf_counter() - began)
                sent[page] += statements[0] - before
                last[page] = (response.status_code, len(body))
                response.close()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    baseline = statistics.median(samples[timed[0]])
    return [
        Timing(
            page.label, page.path, last[page][0],
            median_ms=statistics.median(samples[page]) * 1000,
            p95_ms=nearest_rank(samples[page], 0.95) * 1000,
            ratio=statistics.median(samples[page]) / baseline,
            statements=sent[page] / rounds, kilobytes=last[page][1] / 1024,
        )
        for page in timed
    ]  # fmt: skip


# --- The run --------------------------------------------------------------------------------


@dataclass
class BackendRun:
    backend: str
    tickets: int
    seed_seconds: float
    rows: dict[str, int]
    shares: dict[str, float]
    ticket_code: str
    timings: list[Timing]


def run_backend(backend: str, url: str, folder: Path, args: argparse.Namespace) -> BackendRun:
    rulebook = load_rulebook(shipped_dir("rules"))
    staff = area_staff(rulebook)
    engine = make_engine(url)
    try:
        upgrade(engine)
        began = time.perf_counter()
        rows = seed(engine, Seeder(rulebook, staff, args.seed, datetime.now(UTC)), args.n)
        seconds = time.perf_counter() - began
        shares = {word: share_mentioning(engine, word) for word in (RARE_WORD, COMMON_WORD)}
        code = ticket_with_four_mails(engine)
    finally:
        engine.dispose()
    desk = App(load_config(write_config(folder, url, staff))).start()
    try:
        app = create_app(desk)
        app.config["TESTING"] = True  # an error in a page stops the bench with its traceback
        timings = time_pages(app, desk.engine, pages(code), args.warmup, args.requests)
    finally:
        desk.engine.dispose()
    return BackendRun(backend, args.n, seconds, rows, shares, code, timings)


def report(run: BackendRun) -> str:
    rows = ", ".join(f"{count:,} {table}" for table, count in run.rows.items())
    shares = ", ".join(f"{word} in {share:.1%}" for word, share in run.shares.items())
    lines = [
        f"{run.backend}, {run.tickets:,} tickets: seeded in {run.seed_seconds:.1f} s ({rows})",
        f"  tickets whose mail holds {shares}; ticket page: {run.ticket_code}",
        f"  {'page':34s} {'median ms':>9s} {'p95 ms':>8s} {'x /entrar':>9s} {'SQL':>5s}"
        f" {'KB':>6s} {'status':>6s}",
    ]  # fmt: skip
    for t in run.timings:
        over = "  over target" if t.median_ms > TARGET_MS or t.p95_ms > TARGET_MS else ""
        lines.append(
            f"  {t.label:34s} {t.median_ms:9.1f} {t.p95_ms:8.1f} {t.ratio:9.1f} "
            f"{t.statements:5.1f} {t.kilobytes:6.1f} {t.status:6d}{over}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.web", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--n", type=int, default=50_000, help="tickets (default 50,000)")
    parser.add_argument("--backends", nargs="+", choices=("sqlite", "postgresql"),
                        default=["sqlite", "postgresql"])  # fmt: skip
    parser.add_argument("--requests", type=int, default=15, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per page first")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--keep", action="store_true",
                        help="keep the databases (URLs printed) to look into them")  # fmt: skip
    args = parser.parse_args(argv)
    print(f"target: under {TARGET_MS:.0f} ms a page; in-process Flask test client, "
          f"{args.requests} requests per page after {args.warmup} untimed", flush=True)  # fmt: skip
    runs: list[BackendRun] = []
    with tempfile.TemporaryDirectory(prefix="mailproc-bench-web-") as work:
        for backend in args.backends:
            folder = Path(tempfile.mkdtemp(prefix=f"{backend}-", dir=None if args.keep else work))
            with database(backend, folder, args.keep) as url:
                runs.append(run_backend(backend, url, folder, args))
                if args.keep:
                    print(f"kept: {make_url(url).render_as_string(hide_password=True)}")
            print(report(runs[-1]), flush=True)
    if args.json:
        figures = {"tickets": args.n, "seed": args.seed, "requests": args.requests,
                   "warmup": args.warmup, "target_ms": TARGET_MS,
                   "backends": {run.backend: asdict(run) for run in runs}}  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    failed = [
        f"{r.backend} {t.path}: {t.status}" for r in runs for t in r.timings if t.status != 200
    ]
    if failed:
        print("pages that did not answer 200: " + "; ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
