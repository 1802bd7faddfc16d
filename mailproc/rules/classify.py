"""Theme scoring: which themes a mail's subject and own text point to, and by which words.

Pure and cheap. Each theme's ``[match]`` compiles into signals (keywords and phrases on word
stems, regexes); a signal found in the subject earns SUBJECT_POINTS, in the sender's own
text BODY_POINTS. The themes are then ranked, and the verdict says whether the desk may take
the first one (``sure``), must ask between the likeliest (``close``, ``unsure``) or has no
idea (``none``). Every point is a Hit that names the words that earned it, so a decision
can be explained (``mailproc rules test``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, cached_property, lru_cache
from typing import Final, Generic, Protocol, TypeVar

from mailproc.mail.subject_codes import strip_reply_prefixes
from mailproc.mail.textfold import fold
from mailproc.rules.answers import extract_answers, own_text

# -- How much a signal weighs, and what the totals mean ------------------------------------

# A subject is written to name the request; a body tells a story that brushes against many
# words. One signal in the subject outweighs three in the body.
SUBJECT_POINTS: Final = 3
BODY_POINTS: Final = 1
# The body's points for one theme stop here: a long story cannot outvote a subject that
# names another theme three to one, and resending with a suggested theme's example subject
# (what the no-theme notice asks) always settles it.
BODY_CAP: Final = 4
# Sure: the subject names the theme, or the sender's own text gives two distinct signals
# of it ("não deixa" and "erro"; "Como ...?" is "como" and "?"), with no other theme close.
# The body decides where the subject is vague or names nothing, as an attendant would read
# it; one common word ("erro", "acesso") never decides alone.
SURE_SCORE: Final = 2 * BODY_POINTS
# Worth naming as a possibility in the reply: one signal.
LIKELY_SCORE: Final = BODY_POINTS
# Close: the runner-up has at least three quarters of the leader's score (3 against 4, 4
# against 5): one more word is no reason to choose. When every close theme is named by the
# subject itself, the rules files' precedence decides, as the operator wrote it.
CLOSE_NUMERATOR: Final = 3
CLOSE_DENOMINATOR: Final = 4
# Words of a phrase may have this many other words between them ("não consigo mais
# publicar", "reativação da nossa UASG"); small words (SMALL_WORDS) do not count.
PHRASE_GAP: Final = 2
# Only the start of the sender's own text (and of the subject) is read: what a mail is
# about is said early, and a 100 KB body of distinct words must cost no more than a page.
BODY_CHARS: Final = 4000


def _word_set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Subjects that say nothing of the theme: when the subject holds only these words, it is
# read as the first line of the body (its words earn body points) and the body decides.
VAGUE_WORDS: Final = _word_set(
    "ajuda ajudem socorro urgente urgentissimo urgencia problema problemas duvida duvidas "
    "solicitacao solicitacoes pedido informacao informacoes importante atencao assunto "
    "sem bom dia boa tarde noite ola prezados prezado prezada senhores caros oi favor "
    "por re res enc fw fwd"
)
# Articles, prepositions, contractions and possessives: skipped in keywords and in text,
# so that "cadastro de usuário" and "cadastro do usuário" are the same phrase. "não" is
# not one of them: "não consigo" means something.
SMALL_WORDS: Final = _word_set(
    "a o as os um uma uns umas de da do das dos em na no nas nos ao aos por pelo pela "
    "pelos pelas para pra com e ou que se me te lhe meu minha meus minhas seu sua seus "
    "suas nosso nossa nossos nossas este esta estes estas esse essa esses essas isso isto "
    "aquele aquela la lo ja mais muito sobre"
)

_WORD: Final = re.compile(r"[^\W_]+\*?")
# Folded endings that lost their accent, given it back before stemming so that
# "REATIVACAO" and "reativação" share the stem of "reativar".
_ACCENTED_ENDINGS: Final = (("coes", "ções"), ("cao", "ção"), ("soes", "sões"), ("sao", "são"))


class Place(StrEnum):
    SUBJECT = "assunto"
    BODY = "corpo"


class Verdict(StrEnum):
    SURE = "sure"  # take the first theme
    CLOSE = "close"  # two or more themes about as likely: ask which
    UNSURE = "unsure"  # one theme is likely but the evidence is thin: ask to confirm
    NONE = "none"  # nothing points to any theme


# -- Words and stems ----------------------------------------------------------------------


_stem_lock = threading.Lock()


@cache
def _stemmer() -> Callable[[str], str]:
    import snowballstemmer  # lazy: loaded with the rules, never by `mailproc --help`

    return snowballstemmer.stemmer("portuguese").stemWord  # type: ignore[no-any-return]


@lru_cache(maxsize=16384)
def word_key(word: str) -> str:
    """The stem a folded word is compared by: pt-BR Snowball, accents folded, a plural "s"
    that Snowball leaves on short words ("erros") dropped. Cached: mail repeats its words."""
    if len(word) < 4 or not word.isalpha():
        return word
    for plain, accented in _ACCENTED_ENDINGS:
        if word.endswith(plain) and len(word) > len(plain) + 1:
            word = word[: -len(plain)] + accented
            break
    with _stem_lock:  # the stemmer keeps its state in the object
        stem = fold(_stemmer()(word))
    return stem[:-1] if len(stem) > 3 and stem.endswith("s") else stem


@dataclass(frozen=True)
class Text:
    """A folded text as signals read it: its lines (for regexes) and its words."""

    folded: str
    words: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        found = _WORD.findall(self.folded.replace("*", " "))
        object.__setattr__(self, "words", tuple(w for w in found if w not in SMALL_WORDS))

    @cached_property
    def lines(self) -> tuple[str, ...]:
        return tuple(line.strip() for line in self.folded.split("\n") if line.strip())

    @cached_property
    def _positions(self) -> dict[str, list[int]]:
        index: dict[str, list[int]] = {}
        for number, word in enumerate(self.words):
            index.setdefault(word_key(word), []).append(number)
        return index

    def positions(self, key: str) -> list[int]:
        """Where a word of this stem stands; a key ending in "*" is a prefix of the word."""
        if key.endswith("*"):
            prefix = key[:-1]
            return [n for n, word in enumerate(self.words) if word.startswith(prefix)]
        return self._positions.get(key, [])


def read_text(text: str, *, lines: bool = False) -> Text:
    """``text`` folded for the signals; ``lines`` keeps its line breaks (a body)."""
    if not lines:
        return Text(fold(text))
    return Text("\n".join(fold(line) for line in text.splitlines()))


# -- Signals -------------------------------------------------------------------------------


class Signal(Protocol):
    """One thing a rules file says a theme's mail holds; ``label`` as the file writes it."""

    @property
    def label(self) -> str: ...

    def found_in(self, text: Text) -> bool: ...


class Scorable(Protocol):
    """What scoring reads of a theme (rulebook.Theme): kept as a protocol, so that this
    module does not import the rulebook that compiles its signals."""

    @property
    def id(self) -> str: ...

    @property
    def precedence(self) -> int: ...

    @property
    def signals(self) -> tuple[Signal, ...]: ...

    @property
    def answer_labels(self) -> Mapping[str, Sequence[str]]: ...


T = TypeVar("T", bound=Scorable)


@dataclass(frozen=True)
class Keyword:
    """A word or phrase of ``keywords``: its words by stem, in order, a few words apart at
    most (PHRASE_GAP); a word written with a final ``*`` is a prefix of the folded word."""

    label: str
    keys: tuple[str, ...]

    def found_in(self, text: Text) -> bool:
        reached = set(text.positions(self.keys[0]))
        for key in self.keys[1:]:
            if not reached:
                return False
            reached = {n for n in text.positions(key) if any(n - d in reached for d in _STEPS)}
        return bool(reached)


_STEPS: Final = range(1, PHRASE_GAP + 2)


@dataclass(frozen=True)
class Pattern:
    """A regex of ``regexes``, searched in the folded subject and in each folded line of
    the body."""

    label: str
    regex: re.Pattern[str]

    def found_in(self, text: Text) -> bool:
        return any(self.regex.search(line) for line in text.lines)


def keyword_keys(keyword: str) -> tuple[str, ...] | str:
    """The stems of a keyword, or why it cannot be one (in English, for RulesError)."""
    words = fold(keyword).split()
    keys: list[str] = []
    for word in words:
        bare = word.rstrip("*")
        if "*" in bare or (word.endswith("*") and not bare) or word.count("*") > 1:
            return "'*' is allowed only at the end of a word"
        for part in _WORD.findall(word):
            starred = part.endswith("*")
            part = part.rstrip("*")
            if part in SMALL_WORDS:
                continue
            keys.append(part + "*" if starred else word_key(part))
    if not keys:
        return "has no word to look for (small words such as 'de' and 'o' are skipped)"
    return tuple(keys)


def distinct(signals: Iterable[Keyword]) -> tuple[Keyword, ...]:
    """Keywords without those that read the same once stemmed ("erro", "Erro", "dúvida",
    "duvidas"): a variant is one signal, not two."""
    seen: dict[tuple[str, ...], Keyword] = {}
    for keyword in signals:
        seen.setdefault(keyword.keys, keyword)
    return tuple(seen.values())


# -- Scoring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """A signal found, where, and the points it earned."""

    signal: str
    place: Place
    points: int


@dataclass(frozen=True)
class Score(Generic[T]):
    """One theme's total and the hits that made it. ``named`` says that the subject itself
    (not a vague one) holds a signal of it."""

    theme: T
    points: int
    hits: tuple[Hit, ...]

    @property
    def named(self) -> bool:
        return any(hit.place is Place.SUBJECT for hit in self.hits)


@dataclass(frozen=True)
class Classification(Generic[T]):
    """The themes a mail points to, best first, and what the desk may do with that.

    ``theme`` is the theme to take (``sure``), else None; ``likely`` the one or two themes
    to offer when asking; ``vague_subject`` says that the subject named nothing (the body
    decided)."""

    ranked: tuple[Score[T], ...]
    verdict: Verdict
    theme: T | None
    likely: tuple[T, ...]
    vague_subject: bool

    def explain(self) -> list[str]:
        """One line per theme with points, best first, in English: "cadastro 5: senha
        (corpo +1), ..."."""
        return [
            f"{s.theme.id} {s.points}: "
            + ", ".join(f"{h.signal} ({h.place.value} +{h.points})" for h in s.hits)
            for s in self.ranked
        ]


def is_vague(subject: str) -> bool:
    """A subject whose words say nothing of a theme ("Urgente!!!", "RES: Ajuda", none)."""
    words = _WORD.findall(fold(strip_reply_prefixes(subject)))
    return all(w in VAGUE_WORDS or w in SMALL_WORDS or w.isdigit() for w in words)


def classify(themes: Sequence[T], subject: str, body: str) -> Classification[T]:
    """Score every theme on the subject and the sender's own text of ``body``, and judge
    the result. ``body`` is the mail's new text (InboundMessage.fresh_text: quoted replies
    already cut); what follows a closing or a "> " quote is left out here too."""
    written = own_text(body)[:BODY_CHARS]
    subject = subject[:BODY_CHARS]  # a subject is a line; a longer one is an attack
    vague = is_vague(subject)
    # A vague subject's words count as the body's first line (but never as a label over
    # the body: "Pedido" is no questionnaire).
    own = f"{subject}\n{written}" if vague else written
    subject_text = None if vague else read_text(strip_reply_prefixes(subject))
    body_text = read_text(own, lines=True)
    scores = [_score(theme, subject_text, body_text, written) for theme in themes]
    ranked = sorted(
        (s for s in scores if s.points > 0), key=lambda s: (-s.points, s.theme.precedence)
    )
    return _judge(tuple(ranked), vague)


def _score(theme: T, subject: Text | None, body: Text, own: str) -> Score[T]:
    """The theme's hits. The subject names a theme or not: its first signal earns
    SUBJECT_POINTS, the others are listed at 0 (so that between two themes a subject names
    alike, the precedence decides rather than how many variants a file lists). In the body,
    one phrase is one signal: "sem acesso" found, "acesso" earns nothing more. The theme's
    questionnaire answered with its labels ("Mensagem de erro: ...") is a signal per label:
    who fills in a theme's form is writing about it."""
    hits: list[Hit] = []
    if subject is not None:
        named = [signal for signal in theme.signals if signal.found_in(subject)]
        hits += [
            Hit(s.label, Place.SUBJECT, 0 if n else SUBJECT_POINTS) for n, s in enumerate(named)
        ]
    found = [signal for signal in theme.signals if signal.found_in(body)]
    labels = theme.answer_labels
    answered = [f"{labels[key][0]}:" for key in extract_answers(own, labels)] if own else []
    signals = [s.label for s in found if not _inside_another(s, found)] + answered
    hits += [Hit(label, Place.BODY, BODY_POINTS) for label in signals[: BODY_CAP // BODY_POINTS]]
    return Score(theme, sum(hit.points for hit in hits), tuple(hits))


def _inside_another(signal: Signal, found: Sequence[Signal]) -> bool:
    """A keyword whose words all belong to a longer keyword found in the same text."""
    if not isinstance(signal, Keyword):
        return False
    words = set(signal.keys)
    return any(isinstance(other, Keyword) and words < set(other.keys) for other in found)


def _close(leader: Score[T], other: Score[T]) -> bool:
    return other.points * CLOSE_DENOMINATOR >= leader.points * CLOSE_NUMERATOR


def _judge(ranked: tuple[Score[T], ...], vague: bool) -> Classification[T]:
    if not ranked or ranked[0].points < LIKELY_SCORE:
        return Classification(ranked, Verdict.NONE, None, (), vague)
    leader = ranked[0]
    contenders = [s for s in ranked if _close(leader, s)]
    if len(contenders) > 1 and all(s.named for s in contenders):
        # The subject names them all: the operator's precedence decides, as documented.
        first = min(contenders, key=lambda s: s.theme.precedence)
        return Classification(ranked, Verdict.SURE, first.theme, (first.theme,), vague)
    if len(contenders) > 1:
        likely = tuple(s.theme for s in contenders[:2])
        return Classification(ranked, Verdict.CLOSE, None, likely, vague)
    if leader.points >= SURE_SCORE:
        return Classification(ranked, Verdict.SURE, leader.theme, (leader.theme,), vague)
    return Classification(ranked, Verdict.UNSURE, None, (leader.theme,), vague)
