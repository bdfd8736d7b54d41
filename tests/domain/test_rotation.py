from __future__ import annotations

import time as clock
from collections import Counter
from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.rotation import Override, WeeklyRotation, parse_handoff
from bot.domain.turns import RotationError, Schedule, Turn

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = [BERLIN, NEW_YORK, ZoneInfo("Asia/Kolkata"), ZoneInfo("Australia/Sydney"), ZoneInfo("UTC")]
WEEK = timedelta(weeks=1)
TEAM = {"alice", "bob", "carol", "dave"}


def berlin(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def support(*overrides: Override) -> WeeklyRotation:
    """The DESIGN.md example: alice then bob, weekly from Mon 2026-11-02 09:00 Berlin."""
    return WeeklyRotation.build(
        "support",
        members=["alice", "bob"],
        shift="1w",
        handoff="Mon 09:00",
        start=date(2026, 11, 2),
        tz="Europe/Berlin",
        overrides=overrides,
        known=TEAM,
    )


def local_expected(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The documented rule for a hand-off instant: fold=0, normalised through UTC."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def assert_tiles(turns: list[Turn], start: datetime, end: datetime) -> None:
    assert turns[0].start <= start and turns[-1].end >= end
    for a, b in pairwise(turns):
        assert a.end == b.start
    for t in turns:
        assert t.start < t.end
        assert t.start.utcoffset() == timedelta(0) and t.end.utcoffset() == timedelta(0)


# --- hand-off text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mon 09:00", (0, time(9))),
        ("monday 09:00", (0, time(9))),
        ("SUN 23:59", (6, time(23, 59))),
        ("thurs 7:30", (3, time(7, 30))),
        ("09:00", (None, time(9))),
        ("  0:00 ", (None, time(0))),
    ],
)
def test_parse_handoff(text: str, expected: tuple[int | None, time]) -> None:
    assert parse_handoff(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Funday 25:00", "'Funday' is not a day of the week"),
        ("Mon 25:00", "25:00 is not a time of day"),
        ("Mon 09:75", "9:75 is not a time of day"),
        ("9am", "not a hand-off time"),
        ("", "not a hand-off time"),
        ("t 09:00", "'t' is not a day"),
        ("Mon 24:00", "24:00 is not a time of day"),
        ("09:60", "9:60 is not a time of day"),
    ],
)
def test_parse_handoff_rejects_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(RotationError, match=message) as info:
        parse_handoff(text)
    assert "Mon 09:00" in str(info.value) or "00:00-23:59" in str(info.value)


# --- bad rotations ---------------------------------------------------------------------------


def build(**changes: object) -> WeeklyRotation:
    values: dict[str, object] = {
        "members": ["alice", "bob"],
        "shift": "1w",
        "handoff": "Mon 09:00",
        "start": date(2026, 11, 2),
        "tz": "Europe/Berlin",
        "known": TEAM,
    }
    values.update(changes)
    return WeeklyRotation.build("support", **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"members": ["alice", "zed"]},
            "rotation 'support': unknown person 'zed'; "
            "known team members: alice, bob, carol, dave$",
        ),
        ({"members": []}, "rotation 'support': members is empty"),
        ({"members": ["alice", " "]}, "empty name"),
        ({"shift": "0s"}, "shift must be at least 1s"),
        ({"shift": timedelta(hours=-1)}, "shift must be at least 1s"),
        ({"shift": "a week"}, "shift: 'a week' is not a duration"),
        ({"handoff": "Funday 25:00"}, "'Funday' is not a day of the week"),
        ({"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        (
            {"overrides": [Override("zed", berlin(2026, 12, 1), berlin(2026, 12, 2))]},
            "unknown person 'zed'",
        ),
    ],
)
def test_bad_rotation_is_refused_clearly(changes: dict[str, object], message: str) -> None:
    with pytest.raises(RotationError, match=message):
        build(**changes)


def test_bad_overrides_are_refused_clearly() -> None:
    with pytest.raises(RotationError, match="must be after 'from'"):
        Override("bob", berlin(2026, 12, 2), berlin(2026, 12, 1))
    with pytest.raises(RotationError, match="must carry a time zone"):
        Override("bob", datetime(2026, 12, 1), datetime(2026, 12, 2))
    with pytest.raises(RotationError, match="needs a person"):
        Override("", berlin(2026, 12, 1), berlin(2026, 12, 2))


def test_an_override_with_one_naive_end_or_no_length_is_refused() -> None:
    # Each end is checked on its own (either naive is enough), and an empty span is no span.
    with pytest.raises(RotationError, match="must carry a time zone"):
        Override("bob", berlin(2026, 12, 1), datetime(2026, 12, 2))
    with pytest.raises(RotationError, match="must carry a time zone"):
        Override("bob", datetime(2026, 12, 1), berlin(2026, 12, 2))
    with pytest.raises(RotationError, match="must be after 'from'"):
        Override("bob", berlin(2026, 12, 1), berlin(2026, 12, 1))


def test_an_override_is_a_value() -> None:
    cover = Override("bob", berlin(2026, 12, 1), berlin(2026, 12, 2))
    with pytest.raises(FrozenInstanceError):
        cover.who = "carol"  # type: ignore[misc]


def test_an_override_without_created_seq_counts_as_created_first() -> None:
    # The default is 0: an explicit created_seq=0 ties with it, and on a tie the later in
    # ``overrides`` wins, so dave (listed second) holds the overlap.
    first = Override("carol", berlin(2026, 12, 22), berlin(2026, 12, 25))
    second = Override("dave", berlin(2026, 12, 24), berlin(2026, 12, 26), created_seq=0)
    assert first.created_seq == 0
    assert support(first, second).on_call(berlin(2026, 12, 24, 12)).person == "dave"  # type: ignore[union-attr]


def test_a_turn_longer_than_the_reach_is_reported_up_to_400_days_past_the_window() -> None:
    rotation = build(shift=timedelta(days=2000))
    start, end = utc(2027, 6, 1), utc(2027, 6, 2)
    [turn] = rotation.turns(start, end)
    assert turn.person == "alice"
    assert turn.start == utc(2026, 11, 2, 8)  # within reach: whole
    assert turn.end == end + timedelta(days=400)  # the real end is years later: cut at reach


def test_a_rotation_is_a_value_shown_by_its_config() -> None:
    rotation = support()
    with pytest.raises(FrozenInstanceError):
        rotation.members = ("bob",)  # type: ignore[misc]
    # The derived first hand-off is neither shown nor a constructor argument.
    assert "_first" not in repr(rotation)
    assert rotation == support() and rotation != build(handoff="Tue 09:00")


@pytest.mark.parametrize("weekday", [-1, 7])
def test_a_weekday_number_outside_monday_to_sunday_is_refused(weekday: int) -> None:
    with pytest.raises(RotationError, match=r"weekday must be 0 \(Mon\) to 6 \(Sun\)"):
        WeeklyRotation("r", ("alice",), WEEK, weekday, time(9), date(2026, 11, 2), BERLIN)
    assert WeeklyRotation("r", ("alice",), WEEK, 6, time(9), date(2026, 11, 2), BERLIN)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(RotationError, match="no time zone"):
        support().on_call(datetime(2026, 11, 3))


def test_a_window_with_too_many_turns_is_refused_fast() -> None:
    rotation = build(shift="1s", handoff="00:00")
    began = clock.monotonic()
    with pytest.raises(RotationError, match="more than 20000 turns"):
        rotation.turns(utc(2026, 11, 2), utc(2027, 11, 2))
    assert clock.monotonic() - began < 2


# --- the design example ----------------------------------------------------------------------


def test_nobody_is_on_call_before_the_first_turn() -> None:
    rotation = support()
    assert rotation.on_call(berlin(2026, 11, 2, 8, 59)) is None
    [gap, first] = rotation.turns(berlin(2026, 11, 1), berlin(2026, 11, 2, 10))
    assert gap == Turn(None, berlin(2026, 11, 1).astimezone(UTC), utc(2026, 11, 2, 8))
    assert first.person == "alice"


def test_members_take_weekly_turns_in_order() -> None:
    rotation = support()
    first = rotation.on_call(berlin(2026, 11, 2, 9))
    assert first == Turn("alice", utc(2026, 11, 2, 8), utc(2026, 11, 9, 8), False)
    assert rotation.on_call(berlin(2026, 11, 9, 9)) == Turn(
        "bob", utc(2026, 11, 9, 8), utc(2026, 11, 16, 8), False
    )
    assert rotation.on_call(berlin(2026, 11, 16, 8, 59)) == Turn(
        "bob", utc(2026, 11, 9, 8), utc(2026, 11, 16, 8), False
    )
    assert rotation.on_call(berlin(2026, 11, 16, 9)).person == "alice"  # type: ignore[union-attr]


def test_the_first_turn_waits_for_the_first_handoff_on_or_after_start() -> None:
    rotation = build(start=date(2026, 11, 4))  # a Wednesday: first Monday is the 9th
    assert rotation.on_call(berlin(2026, 11, 8, 12)) is None
    assert rotation.on_call(berlin(2026, 11, 9, 9)).person == "alice"  # type: ignore[union-attr]


def test_next_turn_is_the_next_different_person() -> None:
    rotation = support()
    assert rotation.next_turn(berlin(2026, 11, 3)) == Turn(
        "bob", utc(2026, 11, 9, 8), utc(2026, 11, 16, 8), False
    )
    assert rotation.next_turn(berlin(2026, 10, 1)).person == "alice"  # type: ignore[union-attr]
    assert build(members=["alice"]).next_turn(berlin(2026, 11, 3)) is None


def test_a_lone_member_hands_over_only_to_an_override() -> None:
    cover = Override("bob", berlin(2026, 12, 1), berlin(2026, 12, 2))
    lone = build(members=["alice"], overrides=[cover])
    assert lone.next_turn(berlin(2026, 11, 20)) == Turn(
        "bob", utc(2026, 11, 30, 23), utc(2026, 12, 1, 23), True
    )
    assert lone.next_turn(berlin(2026, 12, 3)) is None


def test_next_turn_finds_a_change_two_short_shifts_ahead() -> None:
    # Hourly shifts, alice twice then bob: from alice's first hour, bob is two hours away.
    hourly = build(members=["alice", "alice", "bob"], shift="1h", handoff="09:00")
    assert hourly.next_turn(berlin(2026, 11, 2, 9)) == Turn(
        "bob", utc(2026, 11, 2, 10), utc(2026, 11, 2, 11), False
    )


def test_an_override_splits_the_regular_turn() -> None:
    cover = Override("alice", berlin(2026, 12, 24), berlin(2026, 12, 27), 0)
    rotation = support(cover)
    turns = rotation.turns(berlin(2026, 12, 21, 9), berlin(2026, 12, 28, 9))
    assert turns == [
        Turn("bob", utc(2026, 12, 21, 8), utc(2026, 12, 23, 23), False),
        Turn("alice", utc(2026, 12, 23, 23), utc(2026, 12, 26, 23), True),
        Turn("bob", utc(2026, 12, 26, 23), utc(2026, 12, 28, 8), False),
    ]
    assert rotation.on_call(berlin(2026, 12, 25, 12)) == turns[1]
    assert rotation.on_call(berlin(2026, 12, 22)) == turns[0]
    assert rotation.next_turn(berlin(2026, 12, 22)) == turns[1]
    assert rotation.next_turn(berlin(2026, 12, 25)) == turns[2]


def test_the_latest_created_override_wins_where_they_overlap() -> None:
    early = Override("carol", berlin(2026, 12, 22), berlin(2026, 12, 25), created_seq=1)
    late = Override("dave", berlin(2026, 12, 24), berlin(2026, 12, 26), created_seq=2)
    people = [
        t.person for t in support(early, late).turns(berlin(2026, 12, 21, 9), berlin(2026, 12, 28))
    ]
    assert people == ["bob", "carol", "dave", "bob"]
    # Created in the other order, carol's later override covers dave's on the overlap.
    early2 = Override("dave", late.start, late.end, created_seq=1)
    late2 = Override("carol", early.start, early.end, created_seq=2)
    turns = support(early2, late2).turns(berlin(2026, 12, 21, 9), berlin(2026, 12, 28))
    assert [(t.person, t.end) for t in turns[1:3]] == [
        ("carol", berlin(2026, 12, 25).astimezone(UTC)),
        ("dave", berlin(2026, 12, 26).astimezone(UTC)),
    ]


def test_an_override_before_the_rotation_starts_still_counts() -> None:
    rotation = support(Override("carol", berlin(2026, 10, 1), berlin(2026, 10, 2)))
    assert rotation.on_call(berlin(2026, 10, 1, 12)).person == "carol"  # type: ignore[union-attr]
    assert rotation.on_call(berlin(2026, 10, 2, 12)) is None


def test_it_is_a_schedule() -> None:
    schedule: Schedule = support()
    assert schedule.on_call(berlin(2026, 11, 2, 10)) is not None


# --- DST -----------------------------------------------------------------------------------

DST_DAYS = [
    (BERLIN, date(2026, 3, 29)),
    (BERLIN, date(2026, 10, 25)),
    (NEW_YORK, date(2026, 3, 8)),
    (NEW_YORK, date(2026, 11, 1)),
]


@pytest.mark.parametrize(("tz", "day"), DST_DAYS)
@given(
    at=st.times().map(lambda t: t.replace(microsecond=0, fold=0)), weekday=st.sampled_from([0, 6])
)
@settings(max_examples=40, deadline=None)
def test_weekly_handoffs_keep_local_time_across_dst(
    tz: ZoneInfo, day: date, at: time, weekday: int
) -> None:
    start = day - timedelta(days=21)
    rotation = WeeklyRotation("r", ("a", "b", "c"), WEEK, weekday, at, start, tz)
    turns = rotation.turns(
        local_expected(day, time(), tz) - 2 * WEEK, local_expected(day, time(), tz) + 2 * WEEK
    )
    first = start + timedelta(days=(weekday - start.weekday()) % 7)
    for turn in turns:
        k = round((turn.start - local_expected(first, at, tz)) / WEEK)
        assert turn.start == local_expected(first + k * WEEK, at, tz)
        local = turn.start.astimezone(tz)
        assert local.weekday() == weekday
        if local.time() != at:  # only a hand-off in the skipped hour moves (to fold=0's reading)
            naive = datetime.combine(local.date(), at)
            assert naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).time() != at
    lengths = {t.end - t.start for t in turns}
    assert lengths <= {WEEK - timedelta(hours=1), WEEK, WEEK + timedelta(hours=1)}


@pytest.mark.parametrize(("tz", "day"), DST_DAYS)
def test_half_day_shifts_hand_off_at_the_same_wall_clock_times(tz: ZoneInfo, day: date) -> None:
    rotation = WeeklyRotation(
        "r", ("a", "b"), timedelta(hours=12), None, time(9), day - timedelta(3), tz
    )
    turns = rotation.turns(
        local_expected(day, time(), tz) - timedelta(2),
        local_expected(day, time(), tz) + timedelta(2),
    )
    assert {t.start.astimezone(tz).time() for t in turns} == {time(9), time(21)}
    assert all(a.person != b.person for a, b in pairwise(turns))
    assert_tiles(turns, turns[0].start, turns[-1].end)


def test_a_handoff_in_the_skipped_hour_resolves_with_fold_0() -> None:
    rotation = WeeklyRotation(
        "r", ("a", "b"), timedelta(days=1), None, time(2, 30), date(2026, 3, 28), BERLIN
    )
    spring = rotation.on_call(utc(2026, 3, 29, 6))
    assert spring is not None
    assert spring.start == utc(2026, 3, 29, 1, 30)  # 02:30 CET read as 03:30 CEST
    assert spring.start.astimezone(BERLIN).time() == time(3, 30)


def test_shifts_shorter_than_the_dst_jump_never_overlap() -> None:
    rotation = WeeklyRotation(
        "r", ("a", "b", "c"), timedelta(minutes=20), None, time(0), date(2026, 3, 29), BERLIN
    )
    start, end = utc(2026, 3, 28, 23), utc(2026, 3, 29, 3)
    turns = rotation.turns(start, end)
    assert_tiles(turns, start, end)
    for t in turns:
        assert rotation.on_call(t.start) == t


# --- properties ----------------------------------------------------------------------------

zones = st.sampled_from(ZONES)
handoff_times = st.times().map(lambda t: t.replace(second=0, microsecond=0, fold=0))
start_days = st.dates(date(2000, 1, 1), date(2040, 12, 31))
shifts = st.sampled_from(
    [timedelta(hours=8), timedelta(hours=12), timedelta(days=1), timedelta(days=2), WEEK]
)


@given(
    tz=zones,
    at=handoff_times,
    start=start_days,
    weekday=st.none() | st.integers(0, 6),
    shift=shifts,
    skip=st.integers(0, 96),
)
@settings(max_examples=150, deadline=None)
def test_every_member_gets_four_of_any_twelve_consecutive_shifts(
    tz: ZoneInfo, at: time, start: date, weekday: int | None, shift: timedelta, skip: int
) -> None:
    rotation = WeeklyRotation("r", ("a", "b", "c"), shift, weekday, at, start, tz)
    day = start if weekday is None else start + timedelta(days=(weekday - start.weekday()) % 7)
    begins = local_expected(day, at, tz)
    assert rotation.on_call(begins - timedelta(microseconds=1)) is None
    turn = rotation.on_call(begins)
    assert turn is not None and turn.person == "a" and turn.start == begins
    for _ in range(skip):
        turn = rotation.on_call(turn.end)
        assert turn is not None
    twelve = [turn]
    while len(twelve) < 12:
        following = rotation.on_call(twelve[-1].end)
        assert following is not None and following.start == twelve[-1].end
        twelve.append(following)
    assert Counter(t.person for t in twelve) == {"a": 4, "b": 4, "c": 4}


@given(
    tz=zones,
    at=handoff_times,
    start=st.dates(date(2025, 1, 1), date(2027, 12, 31)),
    weekday=st.none() | st.integers(0, 6),
    shift=shifts,
    offset=st.integers(-20 * 24 * 60, 400 * 24 * 60),
    length=st.integers(1, 30 * 24 * 60),
)
@settings(max_examples=150, deadline=None)
def test_turns_tile_time_without_gap_or_overlap(
    tz: ZoneInfo,
    at: time,
    start: date,
    weekday: int | None,
    shift: timedelta,
    offset: int,
    length: int,
) -> None:
    rotation = WeeklyRotation("r", ("a", "b", "c"), shift, weekday, at, start, tz)
    begin = datetime.combine(start, time(), tzinfo=UTC) + timedelta(minutes=offset)
    end = begin + timedelta(minutes=length)
    turns = rotation.turns(begin, end)
    assert_tiles(turns, begin, end)
    people = [t.person for t in turns if t.person is not None]
    for a, b in pairwise(people):
        assert (a, b) in {("a", "b"), ("b", "c"), ("c", "a")}
    for t in turns:
        found = rotation.on_call(max(t.start, begin))
        assert found == (t if t.person is not None else None)


overrides = st.lists(
    st.tuples(
        st.sampled_from(["carol", "dave", "erin"]), st.integers(0, 40 * 24), st.integers(1, 10 * 24)
    ),
    max_size=6,
)


@given(
    tz=zones,
    spec=overrides,
    probes=st.lists(st.integers(0, 50 * 24 * 60), min_size=1, max_size=20),
    data=st.data(),
)
@settings(max_examples=120, deadline=None)
def test_overrides_win_and_the_latest_created_wins_on_overlap(
    tz: ZoneInfo, spec: list[tuple[str, int, int]], probes: list[int], data: st.DataObject
) -> None:
    origin = datetime(2026, 3, 1, tzinfo=tz)
    seqs = data.draw(st.permutations(range(len(spec))))
    made = tuple(
        Override(who, origin + timedelta(hours=h), origin + timedelta(hours=h + n), seq)
        for (who, h, n), seq in zip(spec, seqs, strict=True)
    )
    plain = WeeklyRotation("r", ("a", "b", "c"), WEEK, 0, time(9), date(2026, 3, 2), tz)
    covered = WeeklyRotation("r", ("a", "b", "c"), WEEK, 0, time(9), date(2026, 3, 2), tz, made)
    for minutes in probes:
        at = origin + timedelta(minutes=minutes)
        active = [o for o in made if o.start <= at < o.end]
        got = covered.on_call(at)
        if active:
            winner = max(active, key=lambda o: o.created_seq)
            assert got is not None and got.person == winner.who and got.override
            assert got.start <= at < got.end
        else:
            base = plain.on_call(at)
            assert (got.person if got else None) == (base.person if base else None)
            assert got is None or not got.override
    window = covered.turns(origin, origin + timedelta(days=50))
    assert_tiles(window, origin, origin + timedelta(days=50))
