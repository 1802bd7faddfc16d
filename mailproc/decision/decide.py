"""The decision stage: one parsed message (and the ticket it replies to) in, one Decision out.

Pure: everything it needs is passed in, so every outcome is testable without a database.
The order in which a message is looked at is the tuple ``STAGES`` below: the first stage
that returns a Decision wins.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, tzinfo
from functools import cached_property

from mailproc.decision.commands import Command, CommandKind, asks_urgency, parse_command
from mailproc.decision.proofs import Proof
from mailproc.decision.ratings import read_rating
from mailproc.decision.settings import StrangerReply
from mailproc.decision.staff import read_staff_answer
from mailproc.decision.states import (
    CANCELLABLE,
    FOLLOWED_UP_BY_A_NEW_TICKET,
    URGENCY_ALLOWED,
    WAITING_FOR_REQUESTER,
    state_label,
)
from mailproc.decision.ticket_state import TicketState
from mailproc.decision.values import AuthFailure, Decision, Outcome, Request, Unproven
from mailproc.mail.addresses import is_own
from mailproc.mail.authresults import OnFailure, Verdict, verdict
from mailproc.mail.forwards import extract_forward
from mailproc.mail.machine import machine_reason
from mailproc.mail.message import Address, Attachment, InboundMessage
from mailproc.mail.subject_codes import DEFAULT_TAG_FORMAT, find_ticket_code
from mailproc.rules.requirements import check_message
from mailproc.rules.rulebook import Rulebook


@dataclass(frozen=True)
class Thread:
    """What the store knows of the ticket a message refers to (by code or headers).

    ``entitled``: the sender may update it (requester, participant or staff); ``requester``:
    the sender opened it; ``staff``: the sender is staff (and not its requester).
    """

    code: str
    state: str
    theme_id: str | None
    entitled: bool
    answers: dict[str, str]
    attachments: tuple[Attachment, ...]
    requester: bool = False
    staff: bool = False


@dataclass(frozen=True)
class Policy:
    """The parts of the configuration the decision depends on.

    ``authserv_id`` names our receiving server in Authentication-Results headers ("": sender
    authentication is not checked); ``on_auth_failure`` says what a failure does.
    """

    own_addresses: Collection[str]
    trusted_forwarders: Collection[str]
    default_theme: str | None
    max_message_bytes: int = 25 * 1024 * 1024
    code_tag: str = DEFAULT_TAG_FORMAT
    stranger_reply: StrangerReply = "new_ticket"
    authserv_id: str = ""
    on_auth_failure: OnFailure = "flag"
    timezone: tzinfo = UTC  # the desk's: "hoje às 9h" in a mail is read there


@dataclass(frozen=True)
class Facts:
    """The inputs of one decision. ``oversize`` is the message's full size when only its
    header was downloaded or kept because it is over ``policy.max_message_bytes``; ``proof``
    is what the message proves beyond its From (mailproc.decision.proofs); ``repeated_images``
    the digests of the message's images that its sender sent in earlier mail again and again
    (logos, not prints: mailproc.rules.screenshots)."""

    message: InboundMessage
    thread: Thread | None
    rulebook: Rulebook
    policy: Policy
    oversize: int | None = None
    proof: Proof = field(default_factory=Proof)
    repeated_images: frozenset[str] = frozenset()

    @cached_property
    def failed_authentication(self) -> Verdict | None:
        """Our server's verdict on the sender when it failed and the policy acts on that:
        our server checked the mail and did not vouch for its From (mail.authresults)."""
        policy = self.policy
        if not policy.authserv_id or policy.on_auth_failure == "ignore":
            return None
        found = verdict(self.message, policy.authserv_id)
        return found if found is not None and found.failed else None

    @cached_property
    def command(self) -> Command | None:
        """The command the sender wrote, if any, before it is checked against a ticket."""
        return parse_command(
            self.message.subject,
            self.message.fresh_text,
            in_thread=self.thread is not None,
            tag_format=self.policy.code_tag,
        )


def unparseable(facts: Facts) -> Decision | None:
    fatal = facts.message.fatal
    return Decision(Outcome.QUARANTINED, reason=fatal) if fatal else None


def from_a_machine(facts: Facts) -> Decision | None:
    """Auto-replies, bounces (often without a sender), lists, ourselves: never answered."""
    reason = machine_reason(facts.message, facts.policy.own_addresses)
    return Decision(Outcome.IGNORED, reason=reason) if reason else None


def without_sender(facts: Facts) -> Decision | None:
    if facts.message.sender is None or not facts.message.sender.email:
        return Decision(
            Outcome.QUARANTINED, reason="no usable sender address: From names no one, or several"
        )
    return None


def too_large(facts: Facts) -> Decision | None:
    """Over the size limit: recorded and quarantined, and the sender told the limit."""
    if facts.oversize is None:
        return None
    limit_mb = facts.policy.max_message_bytes / (1024 * 1024)
    return Decision(
        Outcome.QUARANTINED,
        reason=f"message of {facts.oversize} bytes is over the limit of "
        f"{facts.policy.max_message_bytes} bytes",
        request=_own_request(facts.message, text=""),
        notice=f"a mensagem tem {facts.oversize / (1024 * 1024):.1f} MB e excede o tamanho "
        f"máximo aceito, de {limit_mb:.0f} MB. Reenvie-a com anexos menores (por exemplo, "
        "imagens em PNG ou JPG) ou divida os anexos em mais de uma mensagem",
    )


def unverified_sender(facts: Facts) -> Decision | None:
    """With ``on_auth_failure = "block"``, a message whose sender authentication failed may
    not touch an existing ticket or run a command: quarantined, and the address it claims to
    come from told (the person whose own server failed learns why; the person whose address
    was forged learns that nothing changed). A new ticket is still opened: its code goes to
    that address, not to whoever forged it."""
    failed, thread = facts.failed_authentication, facts.thread
    if failed is None or facts.policy.on_auth_failure != "block":
        return None
    touched = thread.code if thread is not None and thread.entitled else None
    if touched is None and facts.command is None:
        return None
    target = f"ela não foi incluída no chamado {touched}" if touched else "ela não foi atendida"
    return Decision(
        Outcome.QUARANTINED,
        reason=f"sender authentication failed ({failed})",
        request=_own_request(facts.message, text=facts.message.fresh_text),
        ticket_code=touched,
        notice="não foi possível confirmar que ela partiu do seu endereço, porque a verificação "
        f"de autenticidade do remetente falhou ({failed}). Por segurança, {target}. Se foi você "
        "quem a enviou, peça à equipe de TI do seu órgão que verifique a configuração SPF, "
        "DKIM e DMARC do seu domínio; se não foi, alguém usou o seu endereço, e nada foi "
        "alterado",
        authentication=AuthFailure(str(failed), blocked=True),
    )


def requester_command(facts: Facts) -> Decision | None:
    """status / meus chamados / urgente / cancelar / an unknown #command (see commands)."""
    message, thread = facts.message, facts.thread
    text = facts.message.fresh_text
    if thread is not None and thread.staff and text.startswith("#"):
        return None  # a staff member's directives: staff_answer() reads them
    command = facts.command
    if command is None or _not_for_now(command, facts):
        return None
    checked = checked_command(command, thread)
    # A command bound to a ticket joins its history, even one refused (a help reply): the
    # sender takes part in that ticket, and the files they sent stay with it.
    return Decision(
        Outcome.COMMAND,
        request=_own_request(message, text=text),
        ticket_code=checked.code,
        command=checked,
    )


def _not_for_now(command: Command, facts: Facts) -> bool:
    """A command in words the message is better read without: a status asked in a mail that
    brings files (not its signature's logos), or about a ticket waiting for the sender's
    information, is a reply (the answer says what is still missing); a cancellation by
    someone other than the requester is a reply for the area to read."""
    thread = facts.thread
    if not command.in_words or thread is None:
        return False
    if command.kind is CommandKind.STATUS:
        brought = any(not file.in_signature for file in facts.message.attachments)
        return brought or thread.state in WAITING_FOR_REQUESTER
    return command.kind is CommandKind.CANCEL and thread.entitled and not thread.requester


def staff_answer(facts: Facts) -> Decision | None:
    """Staff replying in a ticket's thread: relayed to the requester, directives applied."""
    thread = facts.thread
    if thread is None or not thread.staff:
        return None
    answer = read_staff_answer(facts.message.fresh_text)
    return Decision(
        Outcome.UPDATED,
        request=_own_request(facts.message, text=answer.text),
        ticket_code=thread.code,
        staff=answer,
    )


def rating(facts: Facts) -> Decision | None:
    """The requester's rating of a resolved ticket ("5", "Nota: 4", "avaliação 3 - bom")."""
    thread = facts.thread
    if thread is None or not thread.requester or thread.state != TicketState.RESOLVED:
        return None
    text = facts.message.fresh_text
    found = read_rating(text)
    if found is None:
        return None
    request = _own_request(facts.message, text=text)
    return Decision(Outcome.UPDATED, request=request, ticket_code=thread.code, rating=found)


def reply_to_ticket(facts: Facts) -> Decision | None:
    """A reply by someone entitled updates its ticket; an incomplete one is checked again.
    A reply to a cancelled ticket is a new request referring to it (new_request)."""
    thread = facts.thread
    if thread is None or not thread.entitled or thread.state in FOLLOWED_UP_BY_A_NEW_TICKET:
        return None
    request = _own_request(facts.message, text=facts.message.fresh_text)
    theme = facts.rulebook.get(thread.theme_id) if thread.theme_id else None
    if thread.state not in WAITING_FOR_REQUESTER or theme is None:
        return Decision(Outcome.UPDATED, request=request, ticket_code=thread.code)
    result = check_message(
        theme,
        request.text,
        (*thread.attachments, *request.attachments),
        earlier_answers=thread.answers,
        sent=facts.message.date,
        zone=facts.policy.timezone,
        repeated_images=facts.repeated_images,
    )
    return Decision(
        Outcome.UPDATED,
        request=request,
        theme_id=theme.id,
        ticket_code=thread.code,
        missing=result.missing,
        answers=result.answers,
        completed=not result.missing,
        read_as=result.how,
    )


def stranger_quoting_a_code(facts: Facts) -> Decision | None:
    """Someone outside a ticket quoting its code, where the desk answers them with a notice
    (``stranger_reply = "notice"``); by default they open their own ticket (new_request).

    A code that names no ticket gets the same notice: were it answered otherwise (a new
    ticket), quoting codes would tell a stranger which tickets exist."""
    thread, policy = facts.thread, facts.policy
    if policy.stranger_reply != "notice" or (thread is not None and thread.entitled):
        return None
    quoted = thread.code if thread else find_ticket_code(facts.message.subject, policy.code_tag)
    if quoted is None:
        return None
    return Decision(
        Outcome.REJECTED,
        reason="the sender takes no part in the ticket whose code they quoted",
        request=_own_request(facts.message, text=facts.message.fresh_text),
        quoted_code=quoted,
    )


def new_request(facts: Facts) -> Decision:
    """Anything else opens a ticket: themed and checked, or answered with the theme list."""
    request = _request(facts)
    quoted = facts.thread.code if facts.thread else None
    text, body, attachments = _read_text(facts, request)
    found = facts.rulebook.classify(request.subject, body)
    default = facts.policy.default_theme
    theme = found.theme or (facts.rulebook.get(default) if default else None)
    if theme is None:
        # Not sure, or two themes alike: the desk asks rather than guesses.
        return Decision(
            Outcome.NO_THEME,
            request=request,
            quoted_code=quoted,
            likely=tuple(t.id for t in found.likely),
            classified=found,
            asked_urgency=asks_urgency(request.subject, body),
        )
    result = check_message(
        theme,
        text,
        attachments,
        sent=facts.message.date,
        zone=facts.policy.timezone,
        repeated_images=facts.repeated_images,
    )
    return Decision(
        Outcome.INCOMPLETE if result.missing else Outcome.CREATED,
        request=request,
        theme_id=theme.id,
        missing=result.missing,
        answers=result.answers,
        quoted_code=quoted,
        classified=found,
        read_as=result.how,
    )


STAGES: tuple[Callable[[Facts], Decision | None], ...] = (
    unparseable,
    from_a_machine,
    without_sender,
    too_large,
    unverified_sender,
    requester_command,
    staff_answer,
    rating,
    reply_to_ticket,
    stranger_quoting_a_code,
)


def decide(facts: Facts) -> Decision:
    """The first stage's decision (else a new request), held back when it needs a proof the
    message lacks, with the people it adds to its ticket, noting a failed sender
    authentication that the policy acts on."""
    first = _first_decision(facts)
    decision = _unproven(facts, first) or replace(first, copied=_copied(facts, first))
    failed = facts.failed_authentication
    if failed is None or decision.authentication is not None:
        return decision
    # Not blocked: the message goes ahead, flagged, so that the ticket's history shows it.
    return replace(decision, authentication=AuthFailure(str(failed), blocked=False))


# What needs a proof, in words for the sender's notice ("para cancelar o chamado X"):
# everything that changes a ticket beyond adding to it, or that the desk relays to the
# requester.
_ACTIONS: dict[CommandKind, str] = {
    CommandKind.CANCEL: "cancelar o chamado",
    CommandKind.URGENT: "pedir urgência para o chamado",
}
# A mail names so many people at most to join its ticket: a reply copying fifty addresses
# is a list, not a conversation, and would send the next answer to all of them.
MAX_COPIED = 10


def _needed_proof(decision: Decision) -> Unproven | None:
    """The action of ``decision`` that needs a proof, and the role it needs one for."""
    command = decision.command
    if decision.staff is not None:
        return Unproven("responder em nome da equipe ao chamado", "staff")
    if decision.rating is not None:
        return Unproven("avaliar o atendimento do chamado", "requester")
    if command is not None and command.code and command.kind in _ACTIONS:
        return Unproven(_ACTIONS[command.kind], "requester")
    return None


def _unproven(facts: Facts, decision: Decision) -> Decision | None:
    """``decision`` held back, when it needs a proof (proofs.Proof) the message lacks: the
    ticket stays as it was, records the attempt, and the address in From is told how to do
    it (the notice goes there, not to whoever wrote the mail)."""
    needed, code = _needed_proof(decision), decision.ticket_code
    if needed is None or code is None or facts.proof.holds(code, needed.role):
        return None
    return Decision(
        Outcome.QUARANTINED,
        reason=f"{needed.role} action on {code} without proof: no signed reply address of "
        "the ticket, no authentic From",
        request=decision.request,
        ticket_code=code,
        unproven=needed,
    )


def _copied(facts: Facts, decision: Decision) -> tuple[str, ...]:
    """The people a message copies who join its ticket: only from a mail proven to come from
    the requester's side (a new ticket: an authentic From), never ourselves, at most
    MAX_COPIED. A staff member's copies got their answer from them and do not join."""
    message, own = facts.message, facts.policy.own_addresses
    if decision.outcome not in (Outcome.CREATED, Outcome.INCOMPLETE, Outcome.UPDATED):
        return ()
    code = decision.ticket_code
    proven = facts.proof.holds(code, "requester") if code else bool(facts.proof.authentic_from)
    if decision.staff is not None or not proven:
        return ()
    addresses = (a.email for a in (*message.to, *message.cc))
    joining = [e for e in dict.fromkeys(addresses) if e and not is_own(e, own)]
    return tuple(joining[:MAX_COPIED])


def _first_decision(facts: Facts) -> Decision:
    for stage in STAGES:
        decision = stage(facts)
        if decision is not None:
            return decision
    return new_request(facts)


def _request(facts: Facts) -> Request:
    """The message's own request, or the original one inside a trusted forward. A forwarder is
    trusted only with an authentic From: anyone can write a forwarder's address in From."""
    message = facts.message
    assert message.sender is not None  # without_sender() ran first
    trusted = message.sender.email in facts.policy.trusted_forwarders
    if trusted and facts.proof.authentic_from:
        original = extract_forward(message)
        sender = original.sender if original else None
        # A forward of our own mail is the forwarder's own message, not someone's request.
        if original is not None and sender and not is_own(sender.email, facts.policy.own_addresses):
            return Request(
                requester=sender,
                subject=original.subject or message.subject,
                text=original.text,
                attachments=original.attachments,
                forwarder=message.sender.email,
            )
    return _own_request(message, text=message.text)


def _read_text(facts: Facts, request: Request) -> tuple[str, str, tuple[Attachment, ...]]:
    """(text, body, files): what a new request's questionnaire and files are read from, and
    the text its theme is scored on. For the sender's own mail that is its new text: a mail
    that quotes the desk's notice (all the themes' words) must not score on them. Someone
    who forwards a report on their own behalf (a chief, a colleague: not a trusted
    forwarder) stays its requester, but the facts are in what they forward, under their
    short comment and its closing: the forwarded report is read, with the files of an
    attached original too. A forward's original holds no quote of ours."""
    if request.forwarder:
        return request.text, request.text, request.attachments
    original = extract_forward(facts.message)
    if original is None:
        return request.text, facts.message.fresh_text, request.attachments
    files = (
        request.attachments if original.inline else (*request.attachments, *original.attachments)
    )
    return original.text, original.text, files


def checked_command(command: Command, thread: Thread | None) -> Command:
    """The command bound to the ticket it names, or a help command saying why it cannot be
    (bound to the ticket only when the sender takes part in it).

    A code that does not exist and a ticket the sender takes no part in get the same
    answer: a stranger learns nothing about other people's tickets.
    """
    kind = command.kind
    if kind in (CommandKind.HELP, CommandKind.MY_TICKETS):
        return replace(command, code=None)  # "#xyz 2026-000123" binds no ticket
    code = command.code or (thread.code if thread else None)
    if code is None:
        return _help(f"Informe o código do chamado, por exemplo: “{kind.value} 2026-000123”.")
    if thread is None or thread.code != code or not thread.entitled:
        return _help(
            f"Não encontramos o chamado {code} entre os chamados em que você é solicitante "
            "ou participante."
        )
    problem = _refusal(kind, code, thread, command.reason)
    if problem:
        return _help(problem, code)
    if kind is CommandKind.CANCEL and command.in_words:
        return _confirm_cancel(code)  # nothing is cancelled on a reading of a sentence
    return replace(command, code=code)


def _refusal(kind: CommandKind, code: str, thread: Thread, reason: str) -> str:
    """Why this command cannot be carried out on this ticket, or "" when it can."""
    label = state_label(thread.state)
    if kind is CommandKind.CANCEL:
        if not thread.requester:
            return f"Somente quem abriu o chamado {code} pode cancelá-lo."
        if thread.state not in CANCELLABLE:
            return f"O chamado {code} está {label} e não pode mais ser cancelado."
    if kind is CommandKind.URGENT:
        if thread.state in WAITING_FOR_REQUESTER:
            return (
                f"O chamado {code} ainda aguarda informações; ele entra em atendimento assim "
                "que elas forem enviadas, em resposta à mensagem que as solicitou."
            )
        if thread.state not in URGENCY_ALLOWED:
            return f"O chamado {code} está {label}; não é possível pedir urgência para ele."
        if not reason:
            return (
                "Informe o motivo da urgência, por exemplo: “urgente 2026-000123: o pregão "
                "será aberto amanhã”."
            )
    return ""


def _help(problem: str, code: str | None = None) -> Command:
    return Command(
        CommandKind.HELP, code, problem=f"Não foi possível atender ao seu pedido. {problem}"
    )


def _confirm_cancel(code: str) -> Command:
    """The answer to "podem cancelar" in the requester's mail: what to send to confirm."""
    return Command(
        CommandKind.HELP,
        code,
        problem=f"Entendemos que você deseja cancelar o chamado {code}. Nada foi alterado: "
        f"para confirmar o cancelamento, responda a esta mensagem com a linha “cancelar "
        f"{code}” (se quiser, acrescente o motivo: “cancelar {code}: resolvido”).",
    )


def _own_request(message: InboundMessage, text: str) -> Request:
    sender = message.sender or Address("")
    return Request(sender, message.subject, text, message.attachments)
