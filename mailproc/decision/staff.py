"""Staff answers: the #directives opening a reply, read off the text that is relayed.

    #resolvido            the ticket is resolved (the requester is asked for a rating)
    #pendente             the ticket waits (on the requester, usually)
    #cancelado            the ticket is cancelled
    #aberto / #reaberto   back in service
    #prioridade alta      (baixa, normal, alta, critica): a new priority
    #nota                 the rest of the reply is an internal note: kept on the ticket for
                          staff, never relayed to the requester
    #tema erro-siasg      the ticket moves to that theme (its area gets the routing mail)

Directives are read from the first lines only, one or more per line ("#resolvido
#prioridade baixa"), and removed from the text relayed to the requester. A "#word" that is
no directive (a typo such as "#resolvdo", or a directive with the answer on its line) is
reported back to the staff member, and nothing is relayed: a typo must not reach the
servant in place of the state change. A "#tema" naming no theme of the rules is reported
back the same way (mailproc.tickets.conversation checks it against the rulebook).

The web view's staff actions (mailproc.tickets.acting) are StaffAnswers too, built from
their form's fields instead of read from a text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailproc.decision.ticket_state import TicketState
from mailproc.mail.textfold import fold
from mailproc.rules.rulebook import Priority

STATE_DIRECTIVES: dict[str, TicketState] = {
    "resolvido": TicketState.RESOLVED,
    "resolvida": TicketState.RESOLVED,
    "pendente": TicketState.PENDING,
    "cancelado": TicketState.CANCELLED,
    "cancelada": TicketState.CANCELLED,
    "aberto": TicketState.OPEN,
    "reaberto": TicketState.OPEN,
}
PRIORITY_DIRECTIVE = "prioridade"
NOTE_DIRECTIVE = "nota"
THEME_DIRECTIVE = "tema"
DIRECTIVE_WORDS = frozenset(
    {*STATE_DIRECTIVES, PRIORITY_DIRECTIVE, NOTE_DIRECTIVE, THEME_DIRECTIVE}
)

# A line of directives: "#word" items, each with at most one argument ("#prioridade alta").
_DIRECTIVE_LINE = re.compile(
    r"#[^\W\d_][\w-]*(?:\s+[^\s#]+)?(?:\s+#[^\W\d_][\w-]*(?:\s+[^\s#]+)?)*"
)
_ITEM = re.compile(r"#(?P<word>[^\W\d_][\w-]*)(?:\s+(?P<argument>[^\s#]+))?")
# Directive lines are short; a long line is someone's paragraph, whatever it starts with.
_DIRECTIVE_LINE_MAX = 200
_SHOWN_MAX = 80  # of a line not understood, quoted back to the staff member
# Any line opening like a directive; one that is not wholly directives is reported back.
_HASH_START = re.compile(r"#[^\W\d_]")


@dataclass(frozen=True)
class StaffAnswer:
    """A staff reply: the text to relay, and what its directives change.

    ``note`` is an internal note for staff (never relayed); ``theme_id`` the theme the ticket
    moves to, as written (not checked here: the rules are not); ``unknown`` holds the
    directive items that were not understood, as written.
    """

    text: str
    state: TicketState | None = None
    priority: Priority | None = None
    unknown: tuple[str, ...] = ()
    note: str = ""
    theme_id: str | None = None

    @property
    def answers(self) -> bool:
        """Whether it is an answer to the ticket (text or a change of state or priority), not
        only a note or a move to another theme, which the requester does not hear of."""
        has_directive = self.state is not None or self.priority is not None
        return bool(self.text) or has_directive or not (self.note or self.theme_id)


def read_staff_answer(text: str) -> StaffAnswer:
    """Split a staff reply's new text into its leading directives and the text to relay."""
    lines = text.strip().split("\n")
    state: TicketState | None = None
    priority: Priority | None = None
    theme_id: str | None = None
    note = False
    unknown: list[str] = []
    consumed = 0
    for line in lines:
        stripped = " ".join(line.split()).rstrip(".!")
        if not stripped:  # blank lines may separate directive lines
            consumed += 1
            continue
        if len(stripped) > _DIRECTIVE_LINE_MAX or not _DIRECTIVE_LINE.fullmatch(stripped):
            # "#resolvido, obrigado pela paciência" mixes a directive with the answer: the
            # staff member is asked to put directives on lines of their own.
            if _HASH_START.match(stripped):
                unknown.append(stripped[:_SHOWN_MAX])
            break
        consumed += 1
        for item in _ITEM.finditer(stripped):
            word, argument = fold(item.group("word")), fold(item.group("argument") or "")
            if word in STATE_DIRECTIVES and not argument:
                state = STATE_DIRECTIVES[word]
            elif word == PRIORITY_DIRECTIVE and argument in set(Priority):
                priority = Priority(argument)
            elif word == NOTE_DIRECTIVE and not argument:
                note = True
            elif word == THEME_DIRECTIVE and argument:
                theme_id = (item.group("argument") or "").lower()
            else:
                unknown.append(item.group())
    rest = "\n".join(lines[consumed:]).strip()
    if note:
        return StaffAnswer("", state, priority, tuple(unknown), note=rest, theme_id=theme_id)
    return StaffAnswer(rest, state, priority, tuple(unknown), theme_id=theme_id)
