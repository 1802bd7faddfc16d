"""The desk's business calendar: when it works, and deadlines counted in its working hours.

A theme promises an answer "em até 72 horas"; the desk's staff count those hours while the
desk is open (``[calendar]`` in the configuration: working hours, weekdays, holidays). A
theme may count every hour of the clock instead (``deadline_hours = "elapsed"`` in its rules
file): ``clock_for`` gives each theme its Clock.

Holidays come from the ``holidays`` library (national, the state's, and the federal "pontos
facultativos" such as Carnaval and Corpus Christi, on which federal offices close), plus the
desk's own closed dates. Every instant returned is aware and in UTC; the days and hours are
the desk's local ones, so a day on which summer time starts or ends has its real length.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Protocol
from zoneinfo import ZoneInfo

from mailproc.rules.rulebook import DeadlineHours, Theme

# Weekday names as the configuration may write them, pt-BR or English, Monday first.
WEEKDAY_NAMES: dict[str, int] = {
    **{name: day for day, name in enumerate(("seg", "ter", "qua", "qui", "sex", "sab", "dom"))},
    **{name: day for day, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    "sáb": 5,
}
MONDAY_TO_FRIDAY = frozenset(range(5))
_HOURS = re.compile(r"(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})")


class Clock(Protocol):
    """How a deadline's hours are counted: the business calendar, or the wall clock."""

    def add(self, start: datetime, span: timedelta) -> datetime:
        """The instant ``span`` of counted time after ``start``."""
        ...

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The counted time from ``start`` to ``end``; negative when ``end`` is earlier."""
        ...

    def is_open(self, moment: datetime) -> bool:
        """Whether time counts at ``moment``: when the desk's staff should hear of deadlines."""
        ...


@dataclass(frozen=True)
class ElapsedClock:
    """Every hour of the clock counts, night and holidays included."""

    def add(self, start: datetime, span: timedelta) -> datetime:
        return (start + span).astimezone(UTC)

    def between(self, start: datetime, end: datetime) -> timedelta:
        return end - start

    def is_open(self, moment: datetime) -> bool:
        return True


ELAPSED = ElapsedClock()


@dataclass(frozen=True)
class BusinessCalendar:
    """The desk's working time: from ``opens`` to ``closes`` (offsets from local midnight,
    ``closes`` up to 24 hours) on ``weekdays`` (0 is Monday) that are not holidays.

    The defaults are the seed's desk: Monday to Friday, 08:00 to 18:00, with Brazil's and
    Rio de Janeiro's holidays and the federal "pontos facultativos" (``optional_holidays``).
    ``country`` None: no holidays but ``extra_dates`` (one-off, "2026-12-24") and
    ``extra_yearly`` ((month, day) closed every year, such as the city of Rio's 20 January).
    """

    timezone: ZoneInfo
    opens: timedelta = timedelta(hours=8)
    closes: timedelta = timedelta(hours=18)
    weekdays: frozenset[int] = MONDAY_TO_FRIDAY
    country: str | None = "BR"
    subdivision: str | None = "RJ"
    optional_holidays: bool = True
    extra_dates: frozenset[date] = frozenset()
    extra_yearly: frozenset[tuple[int, int]] = frozenset()

    def __post_init__(self) -> None:
        # A calendar that never opens would make every deadline search endless.
        if not self.weekdays or not timedelta(0) <= self.opens < self.closes <= timedelta(days=1):
            raise ValueError("a business calendar needs a weekday and opening before closing")

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and not self.is_holiday(day)

    def is_holiday(self, day: date) -> bool:
        if day in self.extra_dates or (day.month, day.day) in self.extra_yearly:
            return True
        if self.country is None:
            return False
        return day in _holidays(self.country, self.subdivision, self.optional_holidays, day.year)

    def add(self, start: datetime, span: timedelta) -> datetime:
        """The instant when ``span`` of working time after ``start`` has passed: within
        working hours, or at a closing time when the span ends with a working day (a
        deadline "até as 18:00", not the next morning's opening)."""
        if span < timedelta(0):
            raise ValueError(f"cannot add a negative span ({span})")
        left = span
        for opens, closes in self._periods(start):
            begin = max(start, opens)
            if left <= closes - begin:
                return (begin + left).astimezone(UTC)
            left -= closes - begin
        raise AssertionError("unreachable: _periods never ends")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The working time from ``start`` to ``end``; negative when ``end`` is earlier."""
        if end < start:
            return -self.between(end, start)
        worked = timedelta(0)
        for opens, closes in self._periods(start):
            if opens >= end:
                break
            worked += min(closes, end) - max(opens, start)
        return worked

    def next_opening(self, moment: datetime) -> datetime:
        """``moment`` itself during working hours, else when the desk next opens."""
        return self.add(moment, timedelta(0))

    def is_open(self, moment: datetime) -> bool:
        opens, _ = next(self._periods(moment))
        return opens <= moment

    def _periods(self, since: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Each working period (opening, closing), in UTC and in order, from the one going
        on at ``since`` or the next. A period ends by its local midnight, so none that
        began on an earlier day can still be going on."""
        day = since.astimezone(self.timezone).date()
        while True:
            if self.is_working_day(day):
                opens, closes = self._period(day)
                if closes > since:
                    yield opens, closes
            day += timedelta(days=1)

    def _period(self, day: date) -> tuple[datetime, datetime]:
        # Offsets are added to local midnight as wall-clock time, then converted: a day on
        # which summer time starts or ends is an hour shorter or longer, as it really is.
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.timezone)
        return (midnight + self.opens).astimezone(UTC), (midnight + self.closes).astimezone(UTC)


def clock_for(theme: Theme | None, calendar: BusinessCalendar) -> Clock:
    """How ``theme``'s deadlines are counted: the calendar's working hours unless the theme
    asks for elapsed hours. A ticket whose theme is gone keeps the desk's calendar."""
    if theme is not None and theme.deadline_hours is DeadlineHours.ELAPSED:
        return ELAPSED
    return calendar


@cache
def _holidays(country: str, subdivision: str | None, optional: bool, year: int) -> frozenset[date]:
    """The holidays of one year, computed once (the library is imported on first use: a
    command that computes no deadline does not load it)."""
    import holidays

    categories = (holidays.PUBLIC, holidays.OPTIONAL) if optional else (holidays.PUBLIC,)
    found = holidays.country_holidays(
        country, subdiv=subdivision, years=year, categories=categories
    )
    return frozenset(found)


# -- reading the configuration's values ------------------------------------------------------


def parse_hours(text: str) -> tuple[timedelta, timedelta]:
    """ "08:00-18:00" -> (opening, closing) as offsets from midnight; ValueError if not a
    working day ("24:00" closes at midnight)."""
    found = _HOURS.fullmatch(text.strip())
    if found:
        oh, om, ch, cm = map(int, found.groups())
        opens, closes = timedelta(hours=oh, minutes=om), timedelta(hours=ch, minutes=cm)
        if om < 60 and cm < 60 and opens < closes <= timedelta(days=1):
            return opens, closes
    raise ValueError(f"{text!r} is not an opening and a later closing time, HH:MM-HH:MM")


def parse_weekdays(names: Iterable[str]) -> frozenset[int]:
    """Weekday names ("seg".."dom", or "mon".."sun") -> weekday numbers, 0 for Monday."""
    days = set()
    for name in names:
        day = WEEKDAY_NAMES.get(name.strip().lower())
        if day is None:
            raise ValueError(f"{name!r} is not a weekday: use seg, ter, qua, qui, sex, sab, dom")
        days.add(day)
    if not days:
        raise ValueError("at least one weekday is needed")
    return frozenset(days)


def region_problem(country: str, subdivision: str | None) -> str | None:
    """Why the ``holidays`` library has no calendar for the region, or None when it has."""
    import holidays

    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as error:
        return str(error)
    return None
