"""Rotation edges the property tests rarely hit (found by ``make mutation ONLY=rotation``):
a hand-off inside the spring-forward gap or the repeated fall-back hour, turns swallowed by
the gap, windows far from the first turn, and the exact MAX_TURNS limit. Every expected turn
follows from the module's rules: turn k starts at local ``first + k * shift`` read with
``fold=0``; a start in the gap is normalised through UTC and clamped to the next real start."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.rotation import MAX_TURNS, Override, WeeklyRotation
from bot.domain.turns import RotationError, Turn

BERLIN = ZoneInfo("Europe/Berlin")
DAY = timedelta(days=1)
MIN = timedelta(minutes=1)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def daily_0230(start: date) -> WeeklyRotation:
    return WeeklyRotation("r", ("a", "b"), DAY, None, time(2, 30), start, BERLIN)


def test_a_handoff_in_the_gap_leaves_the_pager_with_the_last_member_until_it_happens() -> None:
    # Sat 28 March 02:30 CET (01:30 UTC): a. Sunday's 02:30 does not exist: it is 03:30 CEST
    # (01:30 UTC), so at 03:10 CEST (01:10 UTC) a still holds the pager.
    rotation = daily_0230(date(2026, 3, 28))
    saturday = Turn("a", utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30))
    sunday = Turn("b", utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30))
    assert rotation.on_call(utc(2026, 3, 29, 1, 10)) == saturday
    assert rotation.on_call(utc(2026, 3, 29, 1, 0)) == saturday
    assert rotation.on_call(utc(2026, 3, 29, 1, 30)) == sunday
    assert rotation.turns(utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 40)) == [saturday, sunday]


def test_in_the_repeated_hour_the_handoff_has_already_happened() -> None:
    # Sun 25 October: 02:30 CEST (00:30 UTC, fold=0) hands to b; at 02:10 CET, the second
    # 02:10 of the night (01:10 UTC), b holds the pager although the wall clock is before 02:30.
    rotation = daily_0230(date(2026, 10, 24))
    saturday = Turn("a", utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30))
    sunday = Turn("b", utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30))
    assert rotation.on_call(utc(2026, 10, 25, 1, 10)) == sunday
    assert rotation.on_call(utc(2026, 10, 25, 0, 20)) == saturday
    assert rotation.turns(utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 1, 40)) == [saturday, sunday]


def test_a_rotation_starting_on_the_fall_back_night() -> None:
    # The first turn is 02:30 CEST (00:30 UTC); at 02:10 CET (01:10 UTC) it has begun.
    rotation = daily_0230(date(2026, 10, 25))
    first = Turn("a", utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30))
    assert rotation.on_call(utc(2026, 10, 25, 1, 10)) == first
    assert rotation.on_call(utc(2026, 10, 25, 0, 29)) is None


def test_turns_swallowed_by_the_gap_hold_no_time() -> None:
    # 15-minute turns from Sun 29 March 00:00 CET: turn k starts at 00:00 + k * 15min local.
    # 02:00, 02:15, 02:30, 02:45 (k = 8..11) do not exist; each would start at or after
    # 03:00 CEST (01:00 UTC), where turn 12 starts, so they are empty and skipped.
    members = tuple("abcdefghijklm")  # 13: every k below has its own person
    rotation = WeeklyRotation("r", members, 15 * MIN, None, time(0), date(2026, 3, 29), BERLIN)
    assert rotation.turns(utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1, 30)) == [
        Turn("h", utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1, 0)),  # k = 7, 01:45 CET
        Turn("m", utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 15)),  # k = 12, 03:00 CEST
        Turn("a", utc(2026, 3, 29, 1, 15), utc(2026, 3, 29, 1, 30)),  # k = 13
    ]
    assert rotation.next_turn(utc(2026, 3, 29, 0, 50)) == Turn(
        "m", utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 15)
    )


def test_a_window_years_after_the_first_turn() -> None:
    # Hourly turns: three years later is ~26,000 turns past the first, more than a window may
    # hold; the window itself starts from the turn it is in, not from the first.
    rotation = WeeklyRotation("r", ("a", "b", "c"), timedelta(hours=1), None, time(0),
                              date(2026, 1, 1), ZoneInfo("UTC"))  # fmt: skip
    start = utc(2029, 1, 1, 0, 30)  # 26,304 hours after the first turn: 26,304 % 3 == 0
    assert rotation.turns(start, start + timedelta(hours=2)) == [
        Turn("a", utc(2029, 1, 1, 0), utc(2029, 1, 1, 1)),
        Turn("b", utc(2029, 1, 1, 1), utc(2029, 1, 1, 2)),
        Turn("c", utc(2029, 1, 1, 2), utc(2029, 1, 1, 3)),
    ]
    assert rotation.on_call(start) == Turn("a", utc(2029, 1, 1, 0), utc(2029, 1, 1, 1))


def test_a_window_of_exactly_max_turns_turns_is_allowed() -> None:
    rotation = WeeklyRotation("r", ("a", "b"), timedelta(seconds=1), None, time(0),
                              date(2026, 1, 1), ZoneInfo("UTC"))  # fmt: skip
    start = utc(2026, 1, 1)
    turns = rotation.turns(start, start + timedelta(seconds=MAX_TURNS))
    assert len(turns) == MAX_TURNS == 20_000
    with pytest.raises(RotationError, match="more than 20000 turns"):
        rotation.turns(start, start + timedelta(seconds=MAX_TURNS + 1))
    # An override inside the window is one more span, not one more turn: still allowed.
    cover = Override("c", start + MIN, start + 2 * MIN)
    covered = WeeklyRotation("r", ("a", "b"), timedelta(seconds=1), None, time(0),
                             date(2026, 1, 1), ZoneInfo("UTC"), (cover,))  # fmt: skip
    turns = covered.turns(start, start + timedelta(seconds=MAX_TURNS))
    assert Turn("c", start + MIN, start + 2 * MIN, override=True) in turns
    assert len(turns) == MAX_TURNS - 60 + 1


def test_on_call_a_year_into_a_one_second_rotation_is_found_directly() -> None:
    # 31,536,000 turns after the first: found from the local clock, not by walking turns.
    rotation = WeeklyRotation("r", ("a", "b", "c"), timedelta(seconds=1), None, time(0),
                              date(2026, 1, 1), ZoneInfo("UTC"))  # fmt: skip
    at = utc(2027, 1, 1, 0, 0, 1)  # 31,536,001 % 3 == 1
    assert rotation.on_call(at) == Turn("b", at, at + timedelta(seconds=1))


def test_one_second_turns_through_the_repeated_hour() -> None:
    # From Sun 25 October 00:00 CEST, turn k starts at local 00:00 + k s (fold=0). At 02:10
    # CET (01:10 UTC, the second 02:10) every turn up to 02:59:59 CEST has begun and the next
    # one, 03:00 CET, has not: turn 10,799 (02:59:59 CEST = 00:59:59 UTC) holds the pager.
    rotation = WeeklyRotation("r", ("a", "b"), timedelta(seconds=1), None, time(0),
                              date(2026, 10, 25), BERLIN)  # fmt: skip
    assert rotation.on_call(utc(2026, 10, 25, 1, 10)) == Turn(
        "b", utc(2026, 10, 25, 0, 59, 59), utc(2026, 10, 25, 2, 0)
    )


def test_next_turn_of_a_one_second_rotation_finds_an_override_a_day_away() -> None:
    # The search walks a day of one-second turns in chunks; no chunk may hold more turns
    # than a window is allowed (MAX_TURNS).
    start = utc(2026, 1, 1)
    cover = Override("b", start + DAY, start + DAY + MIN)
    rotation = WeeklyRotation("r", ("a",), timedelta(seconds=1), None, time(0),
                              date(2026, 1, 1), ZoneInfo("UTC"), (cover,))  # fmt: skip
    assert rotation.next_turn(start) == Turn("b", start + DAY, start + DAY + MIN, override=True)


def test_next_turn_waits_a_cycle_of_shifts_longer_than_the_reach() -> None:
    # a, a, b with 300-day shifts: b's turn starts 600 days on, past the 400 days a turn is
    # otherwise followed, so the search must look a whole cycle ahead, not just that far.
    start = utc(2026, 1, 1)
    long = timedelta(days=300)
    rotation = WeeklyRotation("r", ("a", "a", "b"), long, None, time(0),
                              date(2026, 1, 1), ZoneInfo("UTC"))  # fmt: skip
    assert rotation.next_turn(start) == Turn("b", start + 2 * long, start + 3 * long)
    assert rotation.next_turn(start + 2 * long - MIN) == Turn(
        "b", start + 2 * long, start + 3 * long
    )


def test_turns_swallowed_by_the_gap_do_not_count_toward_max_turns() -> None:
    # Five-minute turns across the spring-forward night: the twelve wall-clock turns 02:00 to
    # 02:55 hold no time, so a window of 19,995 turns' length holds 19,995 turns, not 20,007.
    shift = timedelta(minutes=5)
    rotation = WeeklyRotation("r", ("a", "b"), shift, None, time(0), date(2026, 3, 1), BERLIN)
    start = utc(2026, 2, 28, 23)  # the first turn, 00:00 in Berlin
    turns = rotation.turns(start, start + 19_995 * shift)
    assert len(turns) == 19_995
    assert turns[-1].end == start + 19_995 * shift


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/Berlin"])
def test_an_instant_near_the_start_of_the_calendar_is_before_the_first_turn(tz: str) -> None:
    rotation = WeeklyRotation("r", ("a", "b"), DAY, None, time(9), date(2026, 1, 1), ZoneInfo(tz))
    at = utc(1, 1, 1, 0, 30)
    assert rotation.on_call(at) is None
    first = rotation.on_call(datetime(2026, 1, 1, 12, tzinfo=ZoneInfo(tz)))
    assert first is not None and first.person == "a"
    assert rotation.next_turn(at) == first
