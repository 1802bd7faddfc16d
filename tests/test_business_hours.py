"""The business calendar (mailproc.decision.business_hours): working hours, holidays of Brazil
and Rio de Janeiro, and the arithmetic of deadlines counted in them. Pure: no server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailproc.decision.business_hours import (
    ELAPSED,
    BusinessCalendar,
    parse_hours,
    parse_weekdays,
    region_problem,
)

RIO = ZoneInfo("America/Sao_Paulo")
H = timedelta(hours=1)

# The seed's desk: Monday to Friday, 08:00-18:00 in Rio, national, RJ and optional holidays.
DESK = BusinessCalendar(timezone=RIO)


def rio(*args: int) -> datetime:
    return datetime(*args, tzinfo=RIO)  # type: ignore[misc]


def local(moment: datetime) -> datetime:
    return moment.astimezone(RIO)


# -- named examples ---------------------------------------------------------------------------


def test_monday_night_plus_72_working_hours_is_the_second_wednesday_at_ten() -> None:
    # The ticket: opened Monday 00:58, counted from the 08:00 opening, 10 hours a day:
    # five days (50 h), Monday and Tuesday (70 h), two hours on Wednesday.
    due = DESK.add(rio(2026, 12, 7, 0, 58), 72 * H)

    assert local(due) == rio(2026, 12, 16, 10, 0)
    assert due.tzinfo is UTC  # stored in UTC


def test_friday_afternoon_plus_two_hours_is_monday_at_nine() -> None:
    assert local(DESK.add(rio(2026, 12, 4, 17, 0), 2 * H)) == rio(2026, 12, 7, 9, 0)


def test_a_deadline_that_ends_with_the_day_is_at_closing_time_not_the_next_opening() -> None:
    assert local(DESK.add(rio(2026, 12, 4, 17, 0), H)) == rio(2026, 12, 4, 18, 0)


@pytest.mark.parametrize(
    ("start", "due", "why"),
    [
        # Carnaval 2027: Monday and Ash Wednesday are federal "pontos facultativos", Tuesday
        # is a Rio de Janeiro state holiday.
        (rio(2027, 2, 5, 17, 0), rio(2027, 2, 11, 9, 0), "Carnaval"),
        # Christmas Eve (ponto facultativo) and Christmas (national).
        (rio(2026, 12, 23, 17, 0), rio(2026, 12, 28, 9, 0), "Natal"),
        # Consciência Negra, national since 2024: Friday 20 November 2026.
        (rio(2026, 11, 19, 17, 0), rio(2026, 11, 23, 9, 0), "Consciência Negra"),
        # São Jorge, a Rio de Janeiro state holiday: Thursday 23 April 2026.
        (rio(2026, 4, 22, 17, 0), rio(2026, 4, 24, 9, 0), "São Jorge"),
        # Corpus Christi (ponto facultativo): Thursday 4 June 2026.
        (rio(2026, 6, 3, 17, 0), rio(2026, 6, 5, 9, 0), "Corpus Christi"),
    ],
)
def test_holidays_of_the_desk_are_closed(start: datetime, due: datetime, why: str) -> None:
    assert local(DESK.add(start, 2 * H)) == due, why


def test_without_optional_holidays_only_the_public_ones_close() -> None:
    public_only = BusinessCalendar(timezone=RIO, optional_holidays=False)

    # Carnaval Monday is worked; the Tuesday, a state holiday, is not.
    assert local(public_only.add(rio(2027, 2, 5, 17, 0), 2 * H)) == rio(2027, 2, 8, 9, 0)
    assert local(public_only.add(rio(2027, 2, 8, 17, 0), 2 * H)) == rio(2027, 2, 10, 9, 0)


def test_a_national_calendar_works_on_rio_de_janeiros_own_holiday() -> None:
    national = BusinessCalendar(timezone=RIO, subdivision=None)

    assert local(national.add(rio(2026, 4, 22, 17, 0), 2 * H)) == rio(2026, 4, 23, 9, 0)


def test_extra_holidays_close_a_date_or_a_day_of_every_year() -> None:
    # 8 December 2026 (a one-off closing) and São Sebastião, the city of Rio's 20 January.
    closed = BusinessCalendar(
        timezone=RIO, extra_dates=frozenset({date(2026, 12, 8)}), extra_yearly=frozenset({(1, 20)})
    )

    assert local(closed.add(rio(2026, 12, 7, 17, 0), 2 * H)) == rio(2026, 12, 9, 9, 0)
    assert local(closed.add(rio(2028, 1, 19, 17, 0), 2 * H)) == rio(2028, 1, 21, 9, 0)
    assert closed.is_working_day(date(2027, 12, 8))  # the one-off date is not yearly


def test_working_hours_between_two_instants() -> None:
    # Friday 17:00 to Monday 09:00: one hour on Friday, one on Monday.
    assert DESK.between(rio(2026, 12, 4, 17, 0), rio(2026, 12, 7, 9, 0)) == 2 * H
    # Backwards is negative: how long ago a deadline passed.
    assert DESK.between(rio(2026, 12, 7, 9, 0), rio(2026, 12, 4, 17, 0)) == -2 * H
    assert DESK.between(rio(2026, 12, 5, 10, 0), rio(2026, 12, 6, 15, 0)) == timedelta(0)


def test_next_opening() -> None:
    assert local(DESK.next_opening(rio(2026, 12, 4, 18, 0))) == rio(2026, 12, 7, 8, 0)
    assert local(DESK.next_opening(rio(2026, 12, 7, 7, 59))) == rio(2026, 12, 7, 8, 0)
    inside = rio(2026, 12, 7, 10, 30)
    assert DESK.next_opening(inside) == inside
    assert DESK.is_open(inside) and not DESK.is_open(rio(2026, 12, 7, 18, 0))


def test_the_wall_clock_counts_every_hour() -> None:
    start = rio(2026, 12, 4, 17, 0)
    assert ELAPSED.add(start, 2 * H) == start + 2 * H
    assert ELAPSED.between(start, start + 50 * H) == 50 * H
    assert ELAPSED.is_open(rio(2026, 12, 6, 3, 0))


def test_daylight_saving_days_have_their_real_length() -> None:
    # Brazil kept summer time until 2019: on 4 November 2018 Rio's clocks went from 00:00
    # to 01:00, on 17 February 2019 from 00:00 back to 23:00 of the 16th.
    always = BusinessCalendar(
        timezone=RIO, opens=timedelta(0), closes=24 * H, weekdays=frozenset(range(7)),
        country=None,
    )  # fmt: skip
    spring = rio(2018, 11, 3, 23, 0)
    assert always.add(spring, 2 * H) == spring.astimezone(UTC) + 2 * H
    autumn = rio(2019, 2, 16, 22, 0)
    assert always.between(autumn, rio(2019, 2, 17, 1, 0)) == 4 * H  # 23:00 came twice


# -- configuration values ---------------------------------------------------------------------


def test_hours_and_weekdays_are_read_from_their_config_text() -> None:
    assert parse_hours("08:00-18:00") == (8 * H, 18 * H)
    assert parse_hours(" 7:30 – 24:00 ") == (timedelta(hours=7, minutes=30), 24 * H)
    assert parse_weekdays(["seg", "ter", "Qua", "qui", "sex", "sáb"]) == frozenset(range(6))
    assert parse_weekdays(["mon", "sun"]) == frozenset({0, 6})


@pytest.mark.parametrize("text", ["18:00-08:00", "08:00", "8h-18h", "08:00-25:00", "09:60-10:00"])
def test_hours_that_are_no_working_day_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        parse_hours(text)


def test_unknown_weekdays_and_regions_are_named() -> None:
    with pytest.raises(ValueError, match="'sexta'"):
        parse_weekdays(["seg", "sexta"])
    with pytest.raises(ValueError, match="at least one"):
        parse_weekdays([])
    assert region_problem("BR", "RJ") is None
    assert "XX" in (region_problem("BR", "XX") or "")
    assert "ZZ" in (region_problem("ZZ", None) or "")


# -- properties -------------------------------------------------------------------------------

ZONES = st.sampled_from(["America/Sao_Paulo", "America/New_York", "Europe/Lisbon", "UTC"])
MOMENTS = st.datetimes(min_value=datetime(2016, 1, 1), max_value=datetime(2030, 12, 31),
                       timezones=st.just(UTC))  # fmt: skip
SPANS = st.integers(min_value=1, max_value=300 * 3600 * 10**6).map(
    lambda us: timedelta(microseconds=us)
)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    """Any working day (at least an hour, up to the whole day), any weekdays, any zone,
    including zones whose summer time moves the clock inside the working day."""
    opens = draw(st.integers(min_value=0, max_value=23 * 60 - 1))
    closes = draw(st.integers(min_value=opens + 60, max_value=24 * 60))
    return BusinessCalendar(
        timezone=ZoneInfo(draw(ZONES)),
        opens=timedelta(minutes=opens),
        closes=timedelta(minutes=closes),
        weekdays=frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
        subdivision=draw(st.sampled_from([None, "RJ", "SP"])),
        optional_holidays=draw(st.booleans()),
    )


@settings(max_examples=300, deadline=None)
@given(calendars(), MOMENTS, SPANS)
def test_measuring_what_was_added_gives_it_back(
    calendar: BusinessCalendar, start: datetime, span: timedelta
) -> None:
    assert calendar.between(start, calendar.add(start, span)) == span


@settings(max_examples=300, deadline=None)
@given(calendars(), MOMENTS, SPANS)
def test_a_deadline_falls_in_working_hours_or_at_a_closing_time(
    calendar: BusinessCalendar, start: datetime, span: timedelta
) -> None:
    due = calendar.add(start, span)
    assert due.tzinfo is UTC and due > start
    assert calendar.is_open(due) or calendar.is_open(due - timedelta(microseconds=1))


@settings(max_examples=200, deadline=None)
@given(calendars(), MOMENTS, MOMENTS, SPANS, SPANS)
def test_later_starts_and_longer_spans_never_give_earlier_deadlines(
    calendar: BusinessCalendar, a: datetime, b: datetime, x: timedelta, y: timedelta
) -> None:
    (a, b), (x, y) = sorted((a, b)), sorted((x, y))
    assert calendar.add(a, x) <= calendar.add(b, x)
    assert calendar.add(a, x) <= calendar.add(a, y)


@settings(max_examples=200, deadline=None)
@given(calendars(), MOMENTS, MOMENTS, MOMENTS)
def test_working_time_adds_up_and_never_exceeds_the_clocks(
    calendar: BusinessCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    a, b, c = sorted((a, b, c))
    assert calendar.between(a, b) + calendar.between(b, c) == calendar.between(a, c)
    assert timedelta(0) <= calendar.between(a, c) <= c - a


@settings(max_examples=200, deadline=None)
@given(calendars(), MOMENTS)
def test_the_next_opening_is_open_and_nothing_is_worked_before_it(
    calendar: BusinessCalendar, moment: datetime
) -> None:
    opening = calendar.next_opening(moment)
    assert opening >= moment and calendar.is_open(opening)
    assert calendar.between(moment, opening) == timedelta(0)


@settings(max_examples=200, deadline=None)
@given(ZONES, MOMENTS, SPANS)
def test_a_desk_open_around_the_clock_counts_as_the_wall_clock(
    zone: str, start: datetime, span: timedelta
) -> None:
    always = BusinessCalendar(
        timezone=ZoneInfo(zone), opens=timedelta(0), closes=24 * H,
        weekdays=frozenset(range(7)), country=None,
    )  # fmt: skip
    assert always.add(start, span) == ELAPSED.add(start, span)
    assert always.between(start, start + span) == span
