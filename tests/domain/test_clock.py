from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.clock import BusinessClock, _weekday_segments, holiday_calendar
from bot.domain.hours import ALWAYS, WeeklyHours, parse_hours

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
OFFICE = parse_hours("Mon-Fri 09:00-17:30")
NIGHT = parse_hours("Mon-Sun 22:00-06:00")
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def at(tz: ZoneInfo, text: str) -> datetime:
    """A local wall time (fold=0) as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- weekdays, weekends, midnight -------------------------------------------------------------


def test_within_the_same_day() -> None:
    clock = BusinessClock(OFFICE, BERLIN)
    assert clock.add(at(BERLIN, "2026-06-05 17:00"), 15 * MIN) == at(BERLIN, "2026-06-05 17:15")


def test_friday_evening_rolls_over_the_weekend() -> None:
    clock = BusinessClock(OFFICE, BERLIN)
    due = clock.add(at(BERLIN, "2026-06-05 17:20"), 15 * MIN)
    assert due == at(BERLIN, "2026-06-08 09:05")
    assert due.tzinfo is UTC
    assert clock.elapsed(at(BERLIN, "2026-06-05 17:20"), due) == 15 * MIN


def test_start_outside_hours_starts_at_next_opening() -> None:
    clock = BusinessClock(OFFICE, BERLIN)
    assert clock.add(at(BERLIN, "2026-06-06 12:00"), 15 * MIN) == at(BERLIN, "2026-06-08 09:15")
    assert clock.add(at(BERLIN, "2026-06-08 06:00"), 0 * MIN) == at(BERLIN, "2026-06-08 09:00")


def test_zero_duration_and_window_end() -> None:
    clock = BusinessClock(OFFICE, BERLIN)
    inside = at(BERLIN, "2026-06-08 10:00")
    assert clock.next_open(inside) == inside
    # The end of a window is closed (half-open intervals), so the next opening is tomorrow.
    assert clock.next_open(at(BERLIN, "2026-06-08 17:30")) == at(BERLIN, "2026-06-09 09:00")
    # Using up exactly the rest of a window ends at its end, not at the next opening.
    assert clock.add(at(BERLIN, "2026-06-08 17:00"), 30 * MIN) == at(BERLIN, "2026-06-08 17:30")


def test_night_window_across_midnight() -> None:
    clock = BusinessClock(NIGHT, BERLIN)
    assert clock.is_open(at(BERLIN, "2026-06-08 23:00"))
    assert clock.is_open(at(BERLIN, "2026-06-09 03:00"))
    assert not clock.is_open(at(BERLIN, "2026-06-09 12:00"))
    assert clock.add(at(BERLIN, "2026-06-09 05:50"), 20 * MIN) == at(BERLIN, "2026-06-09 22:10")
    assert clock.elapsed(at(BERLIN, "2026-06-08 21:00"), at(BERLIN, "2026-06-09 07:00")) == 8 * HOUR
    # Monday's 22:00-24:00 and Tuesday's 00:00-06:00 are one interval.
    assert list(
        clock.open_intervals(at(BERLIN, "2026-06-08 12:00"), at(BERLIN, "2026-06-09 12:00"))
    ) == [(at(BERLIN, "2026-06-08 22:00"), at(BERLIN, "2026-06-09 06:00"))]


def test_open_intervals_are_clipped_and_merged() -> None:
    clock = BusinessClock(parse_hours("Mon 00:00-24:00; Tue 00:00-12:00, 12:00-13:00"), BERLIN)
    start, end = at(BERLIN, "2026-06-07 00:00"), at(BERLIN, "2026-06-09 12:30")
    assert list(clock.open_intervals(start, end)) == [(at(BERLIN, "2026-06-08 00:00"), end)]
    assert list(clock.open_intervals(end, start)) == []


def test_always_open_when_hours_is_none() -> None:
    clock = BusinessClock(None, BERLIN)
    s = at(BERLIN, "2026-06-05 17:20")
    assert clock.next_open(s) == s
    assert clock.add(s, timedelta(days=3, seconds=7)) == s + timedelta(days=3, seconds=7)
    assert clock.elapsed(s, s + timedelta(days=10)) == timedelta(days=10)
    assert clock.elapsed(s, s - HOUR) == timedelta(0)
    assert list(clock.open_intervals(s, s + timedelta(weeks=2))) == [(s, s + timedelta(weeks=2))]
    # Long durations are fine: the give-up bound is on closed time, not on the duration.
    assert clock.add(s, timedelta(days=5 * 365)) == s + timedelta(days=5 * 365)


# --- holidays ---------------------------------------------------------------------------------


def test_german_christmas_is_closed() -> None:
    clock = BusinessClock(OFFICE, BERLIN, "DE")
    assert not clock.is_open(at(BERLIN, "2026-12-25 10:00"))
    # Thu 24th 17:20 -> Fri 25th and Sat 26th holidays, Sunday closed -> Monday.
    assert clock.add(at(BERLIN, "2026-12-24 17:20"), 15 * MIN) == at(BERLIN, "2026-12-28 09:05")
    always = BusinessClock(None, BERLIN, "DE")
    assert not always.is_open(at(BERLIN, "2026-12-26 10:00"))
    span = (at(BERLIN, "2026-12-24 00:00"), at(BERLIN, "2026-12-28 00:00"))
    assert always.elapsed(*span) == timedelta(days=2)


def test_holiday_closes_its_local_date_only_for_a_night_window() -> None:
    clock = BusinessClock(NIGHT, BERLIN, "DE")
    span = (at(BERLIN, "2026-12-24 12:00"), at(BERLIN, "2026-12-27 12:00"))
    assert list(clock.open_intervals(*span)) == [
        (at(BERLIN, "2026-12-24 22:00"), at(BERLIN, "2026-12-25 00:00")),
        (at(BERLIN, "2026-12-27 00:00"), at(BERLIN, "2026-12-27 06:00")),
    ]


def test_berlin_womens_day_is_a_state_holiday() -> None:
    assert "2026-03-08" in holiday_calendar("DE-BE")
    assert "2026-03-08" not in holiday_calendar("DE")
    noon = at(BERLIN, "2026-03-08 12:00")
    all_week = parse_hours("Mon-Sun 09:00-17:00")
    assert BusinessClock(all_week, BERLIN, "DE").is_open(noon)
    assert not BusinessClock(all_week, BERLIN, "DE-BE").is_open(noon)
    assert BusinessClock(all_week, BERLIN, "de-be").next_open(noon) == at(
        BERLIN, "2026-03-09 09:00"
    )


def test_california_holidays() -> None:
    clock = BusinessClock(parse_hours("Mon-Fri 09:00-17:00"), LOS_ANGELES, "US-CA")
    # Cesar Chavez Day (Tue 31 March) is a California holiday.
    assert clock.add(at(LOS_ANGELES, "2026-03-30 16:50"), 20 * MIN) == at(
        LOS_ANGELES, "2026-04-01 09:10"
    )
    # Independence Day falls on a Saturday; the observed Friday is closed too.
    assert clock.next_open(at(LOS_ANGELES, "2026-07-02 18:00")) == at(
        LOS_ANGELES, "2026-07-06 09:00"
    )


def test_unknown_holiday_calendar_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown holiday calendar 'XX'"):
        BusinessClock(OFFICE, BERLIN, "XX")
    with pytest.raises(ValueError, match="DE-ZZ"):
        BusinessClock(OFFICE, BERLIN, "DE-ZZ")


def test_holiday_calendar_is_cached() -> None:
    assert holiday_calendar("DE-BE") is holiday_calendar("DE-BE")


# --- DST --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "day", "hours"),
    [
        (BERLIN, "2026-03-29", 23),
        (BERLIN, "2026-10-25", 25),
        (NEW_YORK, "2026-03-08", 23),
        (NEW_YORK, "2026-11-01", 25),
        (NEW_YORK, "2026-06-01", 24),
    ],
)
def test_always_open_counts_real_time_on_dst_days(tz: ZoneInfo, day: str, hours: int) -> None:
    clock = BusinessClock(None, tz)
    start = at(tz, f"{day} 00:00")
    end = at(tz, f"{day} 00:00") + timedelta(days=1)  # aware arithmetic: next local midnight
    assert clock.elapsed(start, end) == hours * HOUR
    assert clock.add(start, hours * HOUR) == end


def test_berlin_spring_forward() -> None:
    sunday = BusinessClock(parse_hours("Sun 01:30-03:30"), BERLIN)
    s = at(BERLIN, "2026-03-29 00:00")
    # 01:30 CET -> 03:30 CEST is one real hour.
    assert sunday.elapsed(s, s + timedelta(days=1)) == HOUR
    assert sunday.add(s, 30 * MIN) == utc("2026-03-29 01:00")  # 03:00 CEST
    in_gap = BusinessClock(parse_hours("Sun 02:00-02:30"), BERLIN)
    assert in_gap.elapsed(s, s + timedelta(days=1)) == timedelta(0)
    assert not in_gap.is_open(utc("2026-03-29 01:00"))
    # The night Sat 22:00 CET -> Sun 06:00 CEST has 7 real hours.
    night = BusinessClock(NIGHT, BERLIN)
    assert night.elapsed(at(BERLIN, "2026-03-28 12:00"), at(BERLIN, "2026-03-29 12:00")) == 7 * HOUR
    office = BusinessClock(OFFICE, BERLIN)
    assert office.add(at(BERLIN, "2026-03-27 17:20"), 15 * MIN) == utc("2026-03-30 07:05")


def test_berlin_fall_back() -> None:
    s = at(BERLIN, "2026-10-25 00:00")
    # 01:30 CEST -> 03:30 CET is three real hours.
    assert (
        BusinessClock(parse_hours("Sun 01:30-03:30"), BERLIN).elapsed(s, s + HOUR * 25) == 3 * HOUR
    )
    # An ambiguous boundary is its first occurrence: 00:00-02:30 ends at 02:30 CEST.
    early = BusinessClock(parse_hours("Sun 00:00-02:30"), BERLIN)
    assert list(early.open_intervals(s, s + HOUR * 25)) == [
        (utc("2026-10-24 22:00"), utc("2026-10-25 00:30"))
    ]
    # ... so the second 02:15 (CET) is closed although the wall clock reads 02:15.
    assert early.is_open(utc("2026-10-25 00:15"))
    assert not early.is_open(utc("2026-10-25 01:15"))
    office = BusinessClock(OFFICE, BERLIN)
    assert office.add(at(BERLIN, "2026-10-23 17:20"), 15 * MIN) == utc("2026-10-26 08:05")


def test_new_york_dst() -> None:
    sunday = BusinessClock(parse_hours("Sun 01:00-04:00"), NEW_YORK)
    s = at(NEW_YORK, "2026-03-08 00:00")
    assert sunday.elapsed(s, s + timedelta(days=1)) == 2 * HOUR
    assert sunday.add(at(NEW_YORK, "2026-03-08 01:30"), HOUR) == utc("2026-03-08 07:30")
    # A window starting inside the gap opens when the gap ends, 03:00 EDT.
    gap_start = BusinessClock(parse_hours("Sun 02:30-05:00"), NEW_YORK)
    assert gap_start.next_open(s) == utc("2026-03-08 07:00")
    fall = at(NEW_YORK, "2026-11-01 00:00")
    assert sunday.elapsed(fall, fall + timedelta(days=1)) == 4 * HOUR


# --- bounds and validation --------------------------------------------------------------------


def test_never_open_clock_raises_instead_of_looping() -> None:
    never = BusinessClock(WeeklyHours(()), BERLIN)
    s = at(BERLIN, "2026-06-05 12:00")
    with pytest.raises(ValueError, match="no open time in the 1098 days"):
        never.add(s, MIN)
    assert not never.is_open(s)
    assert never.elapsed(s, s + timedelta(days=5000)) == timedelta(0)


def test_rejects_naive_times_and_negative_durations() -> None:
    clock = BusinessClock(OFFICE, BERLIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.is_open(datetime(2026, 6, 5, 12))
    with pytest.raises(ValueError, match="negative"):
        clock.add(at(BERLIN, "2026-06-05 12:00"), -MIN)


# --- properties -------------------------------------------------------------------------------

CLOCKS = [
    BusinessClock(OFFICE, BERLIN, "DE"),
    BusinessClock(NIGHT, BERLIN, "DE-BE"),
    BusinessClock(None, NEW_YORK),
    BusinessClock(parse_hours("Mon-Fri 09:00-12:00, 13:00-18:00; Sat 10:00-14:00"), NEW_YORK, "US"),
    BusinessClock(parse_hours("Sun 01:30-03:30; Wed 23:00-02:15"), BERLIN),
    BusinessClock(parse_hours("Mon-Fri 09:00-17:00"), LOS_ANGELES, "US-CA"),
]
clocks = st.sampled_from(CLOCKS)
instants = st.datetimes(datetime(2025, 1, 1), datetime(2028, 1, 1), timezones=st.just(UTC))
durations = st.timedeltas(timedelta(0), timedelta(days=20))


@settings(deadline=None)
@given(clocks, instants, durations)
def test_add_then_elapsed_round_trips(clock: BusinessClock, s: datetime, d: timedelta) -> None:
    r = clock.add(s, d)
    assert r >= s
    assert clock.elapsed(s, r) == d
    if d > timedelta(0):
        # Inside an open interval or at its end: the instant just before is open.
        assert clock.is_open(r - timedelta(microseconds=1))
    else:
        assert clock.is_open(r)


@settings(deadline=None)
@given(clocks, instants, durations, durations)
def test_add_is_monotonic(clock: BusinessClock, s: datetime, d1: timedelta, d2: timedelta) -> None:
    d1, d2 = sorted((d1, d2))
    assert clock.add(s, d1) <= clock.add(s, d2)


@settings(deadline=None)
@given(clocks, instants, st.lists(durations, min_size=2, max_size=2))
def test_elapsed_is_additive(clock: BusinessClock, s: datetime, gaps: list[timedelta]) -> None:
    m, e = s + gaps[0], s + gaps[0] + gaps[1]
    assert clock.elapsed(s, m) + clock.elapsed(m, e) == clock.elapsed(s, e)
    intervals = list(clock.open_intervals(s, e))
    assert all(s <= a < b <= e for a, b in intervals)
    assert all(b < a2 for (_, b), (a2, _) in pairwise(intervals))


@settings(deadline=None)
@given(clocks, instants)
def test_is_open_matches_wall_clock_hours(clock: BusinessClock, moment: datetime) -> None:
    local = moment.astimezone(clock.tz)
    naive = local.replace(tzinfo=None)
    unambiguous = all(
        naive.replace(tzinfo=clock.tz, fold=f).astimezone(UTC) == moment for f in (0, 1)
    )
    if clock.hours is None or not unambiguous:
        return  # the reference below cannot tell the repeated fall-back hour apart
    holiday = clock.holidays is not None and local.date() in holiday_calendar(clock.holidays)
    assert clock.is_open(moment) == (clock.hours.contains(naive) and not holiday)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=0, max_value=60 * 24 * 30),
    zone=st.sampled_from([BERLIN, NEW_YORK, LOS_ANGELES, ZoneInfo("Australia/Lord_Howe")]),
)
def test_a_clock_without_hours_adds_like_one_open_all_week(
    start: datetime, minutes: int, zone: ZoneInfo
) -> None:
    """No hours and no holidays take a shortcut (plain UTC arithmetic); it must agree with
    the day walk over explicit Mon-Sun 00:00-24:00 hours, across DST changes included."""
    duration = timedelta(minutes=minutes)
    walked = BusinessClock(ALWAYS, zone).add(start.astimezone(zone), duration)
    assert BusinessClock(None, zone).add(start.astimezone(zone), duration) == walked


# --- boundaries the properties above do not pin (found by `make mutation ONLY=clock`) ---------


def test_a_window_is_open_from_its_first_instant_to_just_before_its_end() -> None:
    clock = BusinessClock(OFFICE, BERLIN)
    opening, closing = at(BERLIN, "2026-06-08 09:00"), at(BERLIN, "2026-06-08 17:30")
    tick = timedelta(microseconds=1)
    assert [clock.is_open(t) for t in (opening - tick, opening, closing - tick, closing)] == [
        False, True, True, False,
    ]  # fmt: skip
    night = BusinessClock(NIGHT, BERLIN)
    assert not night.is_open(at(BERLIN, "2026-06-09 06:00"))
    assert night.is_open(at(BERLIN, "2026-06-09 06:00") - tick)


class _NoOffset(tzinfo):
    """A tzinfo that does not know its offset: ``datetime`` calls such a value naive."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> None:
        return None


def test_a_time_whose_zone_has_no_offset_is_naive() -> None:
    clock = BusinessClock(OFFICE, BERLIN)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.is_open(datetime(2026, 6, 8, 10, tzinfo=_NoOffset()))


def test_long_durations_on_a_clock_with_hours() -> None:
    """The give-up bound counts consecutive closed days only: 1200 days of open time on
    explicit all-week hours (no 24/7 shortcut) is real time, DST changes included."""
    s = at(BERLIN, "2026-06-05 17:20")
    assert BusinessClock(ALWAYS, BERLIN).add(s, timedelta(days=1200)) == s + timedelta(days=1200)


def test_never_open_error_names_the_clock() -> None:
    s = at(BERLIN, "2026-06-05 12:00")
    with pytest.raises(ValueError) as caught:
        BusinessClock(WeeklyHours(()), BERLIN, "DE").add(s, MIN)
    assert str(caught.value).startswith(
        "business clock (0 windows in Europe/Berlin, holidays DE) has no open time in the 1098 "
    )
    with pytest.raises(ValueError) as caught:
        BusinessClock(WeeklyHours((), "closed"), BERLIN).add(s, MIN)
    assert str(caught.value).startswith("business clock (closed in Europe/Berlin) has no open")


def test_a_single_night_spills_into_the_next_morning_only() -> None:
    clock = BusinessClock(parse_hours("Fri 22:00-00:01"), BERLIN)
    assert clock.is_open(at(BERLIN, "2026-06-06 00:00"))  # Saturday's first minute
    assert not clock.is_open(at(BERLIN, "2026-06-06 00:01"))
    assert not clock.is_open(at(BERLIN, "2026-06-05 00:00"))  # not Friday's (nor Thursday's)
    assert not clock.is_open(at(BERLIN, "2026-06-04 00:00"))
    friday = (at(BERLIN, "2026-06-05 00:00"), at(BERLIN, "2026-06-07 00:00"))
    assert clock.elapsed(*friday) == 2 * HOUR + MIN


def test_a_clock_is_a_value() -> None:
    """Frozen (the domain's rule for dataclasses): config hands one clock to many callers."""
    clock = BusinessClock(OFFICE, BERLIN, "DE")
    with pytest.raises(FrozenInstanceError):
        clock.holidays = None  # type: ignore[misc]
    assert hash(clock) == hash(BusinessClock(OFFICE, BERLIN, "DE"))


def test_a_clock_without_hours_but_with_holidays_adds_around_them() -> None:
    always = BusinessClock(None, BERLIN, "DE")
    # Thu 24th 23:00 + 2h open: one hour on the 24th, then the 25th and 26th are holidays.
    assert always.add(at(BERLIN, "2026-12-24 23:00"), 2 * HOUR) == at(BERLIN, "2026-12-27 01:00")
    assert always.next_open(at(BERLIN, "2026-12-25 12:00")) == at(BERLIN, "2026-12-27 00:00")


def test_each_weekdays_segments_exactly() -> None:
    """The per-day table the clock walks: seven days, touching and overlapping windows merged
    into one, a night's spill on the next day, and nothing spilled by a window ending at 24:00."""
    hours = parse_hours(
        "Mon 09:00-12:00, 12:00-17:00, 16:00-18:00; Tue 20:00-24:00; Sun 22:00-02:00"
    )
    assert _weekday_segments(hours) == (
        ((0, 120), (540, 1080)),  # Monday: Sunday night's spill, then three windows as one
        ((1200, 1440),),  # Tuesday, to midnight
        (),  # Wednesday: Tuesday's 24:00 spills nothing
        (),
        (),
        (),
        ((1320, 1440),),  # Sunday, to midnight; the rest is Monday's
    )
