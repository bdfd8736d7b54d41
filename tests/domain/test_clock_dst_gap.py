"""A window edge that falls in a spring-forward gap is the transition instant itself.

02:00-02:59 does not exist in Berlin on 2026-03-29 (CET 01:59:59 is followed by CEST 03:00,
i.e. 01:00 UTC). An opening or closing written inside the gap happens at that instant, to the
microsecond: the bisection in ``BusinessClock._to_utc`` must not stop a step early (mutation
testing, clock #141: a 2 µs stopping width lands 1 µs late for most minutes of the gap)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.clock import BusinessClock
from bot.domain.hours import parse_hours

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
DAY = datetime(2026, 3, 29, tzinfo=UTC) - timedelta(hours=1)  # Berlin's midnight, Sunday
TRANSITION = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("minute", range(60))
def test_an_opening_inside_the_gap_is_the_transition(minute: int) -> None:
    clock = BusinessClock(parse_hours(f"Sun 02:{minute:02d}-04:00"), BERLIN)
    assert list(clock.open_intervals(DAY, DAY + timedelta(days=1))) == [
        (TRANSITION, datetime(2026, 3, 29, 2, 0, tzinfo=UTC))  # 03:00-04:00 CEST
    ]
    assert clock.is_open(TRANSITION)
    assert not clock.is_open(TRANSITION - timedelta(microseconds=1))


@pytest.mark.parametrize("minute", range(1, 60))
def test_a_closing_inside_the_gap_is_the_transition(minute: int) -> None:
    clock = BusinessClock(parse_hours(f"Sun 01:00-02:{minute:02d}"), BERLIN)
    assert clock.elapsed(DAY, DAY + timedelta(days=1)) == timedelta(hours=1)  # 01:00-02:00 CET
    assert clock.add(DAY, timedelta(hours=1)) == TRANSITION


def test_new_yorks_gap_too() -> None:
    # 2026-03-08: 02:00 EST is followed by 03:00 EDT, 07:00 UTC; a window wholly inside
    # the gap has no real time.
    clock = BusinessClock(parse_hours("Sun 02:05-02:07, 02:11-05:00"), NEW_YORK)
    start = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # midnight EST
    assert list(clock.open_intervals(start, start + timedelta(days=1))) == [
        (datetime(2026, 3, 8, 7, 0, tzinfo=UTC), datetime(2026, 3, 8, 9, 0, tzinfo=UTC))
    ]


def test_a_window_wholly_inside_the_gap_is_never_the_next_opening() -> None:
    # Both ends of 02:10-02:40 map to the transition: no real time, so a zero-length add
    # (next_open) skips it to the next Sunday instead of returning the transition.
    clock = BusinessClock(parse_hours("Sun 02:10-02:40"), BERLIN)
    next_sunday = datetime(2026, 4, 5, 0, 10, tzinfo=UTC)  # 02:10 CEST
    assert clock.next_open(DAY) == next_sunday
    assert clock.add(DAY, timedelta(0)) == next_sunday
    assert clock.add(DAY, timedelta(minutes=30)) == next_sunday + timedelta(minutes=30)
