from __future__ import annotations

import os
import time as clock
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.ical_limits import IcalError
from bot.domain.ical_schedule import IcalSchedule, candidates, parse_ical
from bot.domain.turns import Schedule, Turn
from tests.conftest import SHARED_DATA, shared_data

ICAL_NAME = "oncall-ical"


@pytest.fixture
def ical_dir() -> Path:
    return shared_data(ICAL_NAME)  # skips, or fails under CI=true, when the data is absent


needs_data = pytest.mark.usefixtures("ical_dir")
ICAL = SHARED_DATA / ICAL_NAME

# Team config as the caller's resolver sees it: ids, names, emails and handles.
PEOPLE = {
    "bernard": ("Bernard Desruisseaux", "bernard@example.com", "@bernard"),
    "bob": ("Bob", "bob@example.com", "@bobby"),
    "alice": ("Alice Liddell", "alice@example.com", "@alice"),
}


def resolve(text: str) -> str | None:
    needle = text.strip().lower()
    for pid, aliases in PEOPLE.items():
        if needle == pid or needle in (a.lower() for a in aliases):
            return pid
    return None


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def calendar(*events: str, head: str = "") -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *head.split("\n")]
    for event in events:
        lines += ["BEGIN:VEVENT", *event.strip().split("\n"), "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(line for line in lines if line).encode()


def event(summary: str, start: str, end: str, *extra: str, uid: str = "") -> str:
    uid = uid or f"{summary}-{start}"
    return "\n".join(
        [f"UID:{uid}", f"DTSTART:{start}", f"DTEND:{end}", f"SUMMARY:{summary}", *extra]
    )


def person_at(schedule: IcalSchedule, at: datetime) -> str | None:
    turn = schedule.on_call(at)
    return turn.person if turn else None


# --- the real exports ------------------------------------------------------------------------


@needs_data
def test_google_daily_rule_names_who_is_on_call() -> None:
    schedule = parse_ical((ICAL / "google-daily-rrule.ics").read_bytes(), resolve)
    assert schedule.unresolved == ()
    assert str(schedule.tz) == "Asia/Yekaterinburg"
    # 13:00-22:00 Yekaterinburg (+05) every day from 2021-01-24.
    assert schedule.on_call(utc(2021, 1, 24, 7, 59)) is None
    assert schedule.on_call(utc(2021, 1, 24, 8)) == Turn(
        "bernard", utc(2021, 1, 24, 8), utc(2021, 1, 24, 17), False
    )
    assert person_at(schedule, utc(2021, 1, 27, 9)) == "bernard"
    assert schedule.on_call(utc(2021, 1, 27, 17)) is None
    assert person_at(schedule, utc(2026, 11, 30, 16, 59)) == "bernard"
    assert schedule.next_turn(utc(2021, 1, 26, 9)) is None  # nobody else ever takes over


@needs_data
def test_an_edited_occurrence_names_someone_else() -> None:
    plain = parse_ical((ICAL / "google-daily-rrule.ics").read_bytes(), resolve)
    edited = parse_ical((ICAL / "google-daily-rrule-edited.ics").read_bytes(), resolve)
    at = utc(2021, 1, 27, 9)  # 14:00 in Yekaterinburg on the edited day
    assert person_at(plain, at) == "bernard"
    assert edited.on_call(at) == Turn("bob", utc(2021, 1, 27, 8), utc(2021, 1, 27, 17), True)
    for day in (26, 28):
        assert person_at(edited, utc(2021, 1, day, 9)) == "bernard"
    assert edited.next_turn(utc(2021, 1, 26, 9)) == edited.on_call(at)
    turns = edited.turns(utc(2021, 1, 26), utc(2021, 1, 29))
    assert [t.person for t in turns] == [None, "bernard", None, "bob", None, "bernard", None]


@needs_data
def test_people_the_team_does_not_know_are_reported() -> None:
    def only_bernard(text: str) -> str | None:
        return "bernard" if text == "Bernard Desruisseaux" else None

    edited = parse_ical((ICAL / "google-daily-rrule-edited.ics").read_bytes(), only_bernard)
    assert edited.unresolved == ("@Bob",)
    turn = edited.on_call(utc(2021, 1, 27, 9))
    assert turn is not None and turn.person is None  # someone is on call; we don't know who


# --- what names the person -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["SUMMARY:On Call - Alice Liddell - Default"], "alice"),
        (["SUMMARY:@bobby"], "bob"),
        (["SUMMARY:@Bob"], "bob"),
        (["SUMMARY:[L1] Alice Liddell"], "alice"),
        (["SUMMARY:alice"], "alice"),
        (["SUMMARY:Primary: bob@example.com"], "bob"),
        (["SUMMARY:Support rotation", "ATTENDEE;CN=Someone:mailto:alice@example.com"], "alice"),
        (["SUMMARY:Support rotation", "ATTENDEE;CN=Bob:mailto:nobody@example.net"], "bob"),
        (["SUMMARY:bob", "ATTENDEE:mailto:alice@example.com"], "alice"),  # ATTENDEE first
        (["SUMMARY:Company offsite"], None),
    ],
)
def test_the_person_comes_from_attendee_then_summary(
    lines: list[str], expected: str | None
) -> None:
    data = calendar(
        "\n".join(["UID:x", "DTSTART:20260301T090000Z", "DTEND:20260301T170000Z", *lines])
    )
    schedule = parse_ical(data, resolve)
    assert person_at(schedule, utc(2026, 3, 1, 12)) == expected
    assert schedule.unresolved == (() if expected else ("Company offsite",))


def test_candidates_are_tried_most_specific_first() -> None:
    import icalendar

    cal = icalendar.Calendar.from_ical(
        calendar(
            event("On Call - @Alice Liddell - Default", "20260301T090000Z", "20260302T090000Z")
        )
    )
    found = candidates(cal.walk("VEVENT")[0])
    assert found[:3] == [
        "On Call - @Alice Liddell - Default",
        "@Alice Liddell",
        "Alice Liddell",
    ]


# --- calendar semantics ----------------------------------------------------------------------


def test_the_shift_that_started_last_wins() -> None:
    data = calendar(
        event("alice", "20260302T090000Z", "20260309T090000Z"),
        event("bob", "20260304T000000Z", "20260305T000000Z"),  # a cover inside alice's week
        event("bernard", "20260304T000000Z", "20260304T120000Z"),  # same start, ends first
    )
    schedule = parse_ical(data, resolve)
    turns = schedule.turns(utc(2026, 3, 3), utc(2026, 3, 6))
    assert [(t.person, t.start, t.end) for t in turns] == [
        ("alice", utc(2026, 3, 2, 9), utc(2026, 3, 4)),
        ("bernard", utc(2026, 3, 4), utc(2026, 3, 4, 12)),
        ("bob", utc(2026, 3, 4, 12), utc(2026, 3, 5)),
        ("alice", utc(2026, 3, 5), utc(2026, 3, 9, 9)),
    ]
    assert schedule.next_turn(utc(2026, 3, 3)) == turns[1]


def test_all_day_events_start_at_midnight_in_the_calendar_zone() -> None:
    body = "UID:d\nDTSTART;VALUE=DATE:20260302\nDTEND;VALUE=DATE:20260303\nSUMMARY:alice"
    berlin = parse_ical(calendar(body, head="X-WR-TIMEZONE:Europe/Berlin"), resolve)
    assert berlin.on_call(utc(2026, 3, 1, 23)) == Turn(
        "alice", utc(2026, 3, 1, 23), utc(2026, 3, 2, 23)
    )
    plain = parse_ical(calendar(body), resolve)
    assert plain.on_call(utc(2026, 3, 2)) == Turn("alice", utc(2026, 3, 2), utc(2026, 3, 3))
    no_end = "UID:d\nDTSTART;VALUE=DATE:20260302\nSUMMARY:alice"
    assert parse_ical(calendar(no_end), resolve).on_call(utc(2026, 3, 2, 23, 59)) is not None


def test_rules_exdates_and_time_zones() -> None:
    weekly = (
        event(
            "bob",
            "20260302T090000",
            "20260309T090000",
            "RRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=5",
            "EXDATE;TZID=America/New_York:20260316T090000",
        )
        .replace("DTSTART:", "DTSTART;TZID=America/New_York:")
        .replace("DTEND:", "DTEND;TZID=America/New_York:")
    )
    schedule = parse_ical(calendar(weekly), resolve)
    # 09:00 New York stays 09:00 across the 2026-03-08 DST change.
    assert schedule.on_call(utc(2026, 3, 2, 14)) == Turn(
        "bob", utc(2026, 3, 2, 14), utc(2026, 3, 9, 13)
    )
    assert schedule.on_call(utc(2026, 3, 17)) is None  # the excluded fortnight
    assert person_at(schedule, utc(2026, 3, 31)) == "bob"
    assert schedule.on_call(utc(2026, 6, 1)) is None  # COUNT ran out


def test_a_custom_vtimezone_is_honoured() -> None:
    zone = "\n".join(
        [
            "BEGIN:VTIMEZONE",
            "TZID:Office Time",
            "BEGIN:STANDARD",
            "DTSTART:16010101T000000",
            "TZOFFSETFROM:+0530",
            "TZOFFSETTO:+0530",
            "END:STANDARD",
            "END:VTIMEZONE",
        ]
    )
    body = "\n".join(
        [
            "UID:z",
            "DTSTART;TZID=Office Time:20260301T093000",
            "DTEND;TZID=Office Time:20260301T183000",
            "SUMMARY:alice",
        ]
    )
    schedule = parse_ical(calendar(body, head=zone), resolve)
    assert schedule.on_call(utc(2026, 3, 1, 4)) == Turn(
        "alice", utc(2026, 3, 1, 4), utc(2026, 3, 1, 13)
    )


def test_cancelled_and_empty_events_cover_nothing() -> None:
    data = calendar(
        event("alice", "20260301T090000Z", "20260302T090000Z", "STATUS:CANCELLED"),
        event("bob", "20260301T090000Z", "20260301T090000Z"),
    )
    assert parse_ical(data, resolve).on_call(utc(2026, 3, 1, 12)) is None


def test_it_is_a_schedule() -> None:
    schedule: Schedule = parse_ical(
        calendar(event("bob", "20260301T090000Z", "20260302T090000Z")), resolve
    )
    assert schedule.turns(utc(2026, 3, 1), utc(2026, 3, 3))[1].person == "bob"
    with pytest.raises(IcalError, match="no time zone"):
        schedule.on_call(datetime(2026, 3, 1))


@given(
    shifts=st.lists(
        st.tuples(
            st.sampled_from(["alice", "bob", "bernard"]), st.integers(0, 200), st.integers(1, 72)
        ),
        min_size=1,
        max_size=8,
    ),
    probes=st.lists(st.integers(0, 300 * 60), min_size=1, max_size=10),
    span=st.tuples(st.integers(-20, 250), st.integers(1, 100)),
)
@settings(max_examples=60, deadline=None)
def test_turns_tile_and_the_latest_start_wins(
    shifts: list[tuple[str, int, int]], probes: list[int], span: tuple[int, int]
) -> None:
    origin = utc(2026, 3, 1)

    def stamp(hours: int) -> str:
        return (origin + timedelta(hours=hours)).strftime("%Y%m%dT%H%M%SZ")

    data = calendar(
        *(event(p, stamp(h), stamp(h + n), uid=f"e{i}") for i, (p, h, n) in enumerate(shifts))
    )
    schedule = parse_ical(data, resolve)
    for minutes in probes:
        at = origin + timedelta(minutes=minutes)
        active = [(h, -(h + n), p) for p, h, n in shifts if h * 60 <= minutes < (h + n) * 60]
        expected = max(active)[2] if active else None
        assert person_at(schedule, at) == expected
    start = origin + timedelta(hours=span[0])
    end = start + timedelta(hours=span[1])
    turns = schedule.turns(start, end)
    assert turns[0].start <= start and turns[-1].end >= end
    assert all(a.end == b.start for a, b in pairwise(turns))
    assert all(t.start < t.end for t in turns)


# --- hostile input ---------------------------------------------------------------------------

EVIL_ZONE = "\n".join(
    [
        "BEGIN:VTIMEZONE",
        "TZID:Evil",
        "BEGIN:STANDARD",
        "DTSTART:19700101T000000",
        "RRULE:FREQ=SECONDLY",
        "TZOFFSETFROM:+0100",
        "TZOFFSETTO:+0200",
        "END:STANDARD",
        "END:VTIMEZONE",
    ]
)
SHIFT = ("20260301T090000Z", "20260301T170000Z")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"BEGIN:VCALENDAR\r\n" + b"X" * (5 * 1024 * 1024), "the limit is 5242880 bytes"),
        (os.urandom(64 * 1024), "not an iCalendar file: it must start with BEGIN:VCALENDAR"),
        (b"BEGIN:VCALENDAR\r\n" + bytes(range(256)) * 64, "malformed iCalendar data"),
        (b"BEGIN:VCALENDAR\r\n" + b"BEGIN:VEVENT\r\n" * 100_000, "nested more than 8 deep"),
        (calendar(), "the calendar has no events \\(VEVENT\\)"),
        (
            calendar(event("alice", *SHIFT, "RRULE:FREQ=SECONDLY")),
            "FREQ=SECONDLY repeats too often",
        ),
        (calendar(event("alice", *SHIFT, "RRULE:FREQ=MINUTELY;INTERVAL=15")), "too often"),
        (
            calendar(event("alice", *SHIFT, "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")),
            "can never occur",
        ),
        (
            calendar(event("alice", *SHIFT, "RRULE:FREQ=DAILY;INTERVAL=0")),
            "INTERVAL must be at least 1",
        ),
        (
            calendar(event("alice", *SHIFT, "RRULE:FREQ=DAILY;BYSETPOS=2")),
            "BYSETPOS is not supported",
        ),
        (
            calendar(event("alice", *SHIFT, "RRULE:FREQ=SOMETIMES")),
            "malformed event 'alice': RRULE",
        ),
        (calendar(event("alice", "garbage", SHIFT[1])), "malformed event 'alice': DTSTART"),
        (
            calendar(event("alice", *SHIFT), head="X-WR-TIMEZONE:Mars/Olympus"),
            "unknown X-WR-TIMEZONE",
        ),
        (calendar(event("alice", *SHIFT), head=EVIL_ZONE), "VTIMEZONE 'Evil'.*too often"),
        (b"BEGIN:VEVENT\r\nEND:VEVENT\r\n", "must start with BEGIN:VCALENDAR"),
    ],
)
def test_hostile_calendars_are_refused_clearly_and_fast(data: bytes, message: str) -> None:
    began = clock.monotonic()
    with pytest.raises(IcalError, match=message):
        parse_ical(data, resolve)
    assert clock.monotonic() - began < 2


def test_a_rule_too_long_to_walk_is_refused_when_asked_fast() -> None:
    data = calendar(event("alice", "19000101T090000Z", "19000101T100000Z", "RRULE:FREQ=HOURLY"))
    schedule = parse_ical(data, resolve)
    began = clock.monotonic()
    with pytest.raises(IcalError, match="repeats HOURLY from 1900-01-01; reaching 2026-03-01"):
        schedule.on_call(utc(2026, 3, 1))
    assert clock.monotonic() - began < 2


def test_a_smaller_size_limit_is_honoured() -> None:
    with pytest.raises(IcalError, match="the limit is 100 bytes"):
        parse_ical(calendar(event("alice", *SHIFT)), resolve, max_bytes=100)
