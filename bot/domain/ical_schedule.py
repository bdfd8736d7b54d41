"""On-call schedules published as iCalendar feeds (PagerDuty, Opsgenie, Grafana OnCall, Google).

Each VEVENT is one shift. Its person is the first candidate the caller's ``resolve`` knows,
tried in order: every ATTENDEE's email, then its CN, then the SUMMARY whole and in pieces
(``@handle``, ``On Call - Name - Policy``, ``[L1] name``, emails inside it). Events nobody
resolves stay in the schedule as turns of person None and their summaries are listed in
``IcalSchedule.unresolved``.

Where shifts overlap, the one that started last wins (a later-starting event is how feeds
show a cover or an override); on equal starts the one ending first wins, being the more
specific. Edited occurrences (RECURRENCE-ID) count as overrides. DATE-only (all-day) and
floating times are local to the calendar's X-WR-TIMEZONE, or UTC without one.

Only the window asked for is expanded, and hostile input is refused up front: the limits, and
why each is needed, are in ``bot.domain.ical_limits``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from bot.domain.ical_limits import (
    IcalError,
    Rule,
    brief,
    check_reach,
    check_zones,
    instant,
    prescan,
    rules_of,
)
from bot.domain.turns import Span, Turn, find_next_turn, layered_at, layered_turns

MAX_BYTES = 5 * 1024 * 1024
MAX_OCCURRENCES = 20_000
_REACH = timedelta(days=90)
_UTC = ZoneInfo("UTC")
_DAY = timedelta(days=1)
_TIME_PROPS = {"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SEPARATORS = re.compile(r"\s+[-–—|]\s+|\s*[:,;]\s+")


@dataclass(frozen=True)
class IcalSchedule:
    name: str
    tz: ZoneInfo
    unresolved: tuple[str, ...]
    _query: Any = field(repr=False, compare=False)
    _resolve: Callable[[str], str | None] = field(repr=False, compare=False)
    _rules: tuple[Rule, ...] = field(default=(), repr=False, compare=False)
    _edited: frozenset[tuple[str, datetime]] = field(default=frozenset(), repr=False, compare=False)

    def on_call(self, at: datetime) -> Turn | None:
        _require_aware(at)
        return layered_at(self._spans, at, reach=_REACH)

    def turns(self, start: datetime, end: datetime) -> list[Turn]:
        _require_aware(start, end)
        return layered_turns(self._spans, start, end, reach=_REACH)

    def next_turn(self, at: datetime, *, horizon: timedelta = timedelta(days=62)) -> Turn | None:
        _require_aware(at)
        return find_next_turn(self, at, horizon=horizon, step=timedelta(days=7))

    def _spans(self, start: datetime, end: datetime) -> list[Span]:
        check_reach(self._rules, end)
        try:
            # The library compares all-day and floating times on the query's wall clock, which
            # is UTC here while they are local to self.tz: a day either side covers any zone.
            events = self._query.between(start - _DAY, end + _DAY)
        except Exception as e:  # the library raises many types on bad input; all mean the same
            raise IcalError(f"cannot expand the calendar: {brief(e)}") from None
        if len(events) > MAX_OCCURRENCES:
            raise IcalError(
                f"more than {MAX_OCCURRENCES} shifts between {start:%Y-%m-%d} and "
                f"{end:%Y-%m-%d}; this is not an on-call schedule"
            )
        try:
            spans = [self._span(e) for e in events]
        except (ValueError, TypeError, AttributeError, OverflowError) as e:
            raise IcalError(f"unreadable event times: {brief(e)}") from None
        return [s for s in spans if s is not None]

    def _span(self, event: Any) -> Span | None:
        if str(event.get("STATUS", "")).upper() == "CANCELLED" or "DTSTART" not in event:
            return None
        raw_start = event["DTSTART"].dt
        start = instant(raw_start, self.tz)
        if "DTEND" in event:
            end = instant(event["DTEND"].dt, self.tz)
        elif "DURATION" in event:
            end = start + event["DURATION"].dt
        else:
            # RFC 5545: a DATE start with no end lasts one day; a DATE-TIME start, no time.
            is_day = not isinstance(raw_start, datetime)
            end = instant(raw_start + timedelta(days=1), self.tz) if is_day else start
        if end <= start:
            return None
        person = person_of(event, self._resolve)
        uid = str(event.get("UID", ""))
        rank = (start.timestamp(), -end.timestamp(), person or "", uid)
        # Expanded occurrences all carry a RECURRENCE-ID; only those the feed edited are overrides.
        edited = (
            "RECURRENCE-ID" in event
            and (uid, instant(event["RECURRENCE-ID"].dt, self.tz)) in self._edited
        )
        return Span(person, start, end, rank, edited)


def _require_aware(*values: datetime) -> None:
    for value in values:
        if value.tzinfo is None:
            raise IcalError(f"{value.isoformat()} has no time zone; pass an aware datetime")


def candidates(event: Any) -> list[str]:
    """Strings that may name the event's person, most specific first."""
    found: list[str] = []
    attendees = event.get("ATTENDEE", [])
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        address = str(attendee)
        found.append(address[7:] if address.lower().startswith("mailto:") else address)
        params = getattr(attendee, "params", {})
        if "CN" in params:
            found.append(str(params["CN"]))
    summary = str(event.get("SUMMARY", "")).strip()
    found.append(summary)
    untagged = re.sub(r"^\[[^\]]*\]\s*", "", summary)
    found.append(untagged)
    parts = [p.strip() for p in _SEPARATORS.split(untagged) if p.strip()]
    # PagerDuty: "On Call - Name - Policy"
    if len(parts) > 1 and re.fullmatch(r"on[\s-]?call", parts[0], re.IGNORECASE):
        found.append(parts[1])
    found.extend(_EMAIL.findall(summary))
    found.extend(parts)
    ordered: list[str] = []
    for text in found:
        for variant in (text.strip(), text.strip().lstrip("@").strip()):
            if variant and variant not in ordered:
                ordered.append(variant)
    return ordered


def person_of(event: Any, resolve: Callable[[str], str | None]) -> str | None:
    for text in candidates(event):
        person = resolve(text)
        if person is not None:
            return person
    return None


def parse_ical(
    data: bytes,
    resolve: Callable[[str], str | None],
    *,
    max_bytes: int = MAX_BYTES,
    default_tz: ZoneInfo = _UTC,
) -> IcalSchedule:
    """Read an on-call calendar; ``resolve`` maps a name, email, id or handle to a person id."""
    prescan(data, max_bytes)
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as e:  # icalendar raises many types on hostile input; all mean "malformed"
        raise IcalError(f"malformed iCalendar data: {brief(e)}") from None
    if getattr(calendar, "name", None) != "VCALENDAR":
        raise IcalError("not an iCalendar file: the top component is not a VCALENDAR")
    events = calendar.walk("VEVENT")
    if not events:
        raise IcalError("the calendar has no events (VEVENT); each on-call shift must be one")
    tz = default_tz
    if "X-WR-TIMEZONE" in calendar:
        try:
            tz = ZoneInfo(str(calendar["X-WR-TIMEZONE"]))
        except (ValueError, KeyError):
            raise IcalError(f"unknown X-WR-TIMEZONE {str(calendar['X-WR-TIMEZONE'])!r}") from None
    check_zones(calendar)
    rules: list[Rule] = []
    unresolved: list[str] = []
    edited: set[tuple[str, datetime]] = set()
    for event in events:
        summary = str(event.get("SUMMARY", event.get("UID", "?")))
        bad = [
            f"{prop}: {msg}" for prop, msg in getattr(event, "errors", []) if prop in _TIME_PROPS
        ]
        if bad:
            raise IcalError(f"malformed event {summary!r}: {brief('; '.join(bad))}")
        rules.extend(rules_of(event, summary, tz))
        if "RECURRENCE-ID" in event:
            edited.add((str(event.get("UID", "")), instant(event["RECURRENCE-ID"].dt, tz)))
        if person_of(event, resolve) is None and summary not in unresolved:
            unresolved.append(summary)
    try:
        query = recurring_ical_events.of(calendar)
    except Exception as e:  # as above: any failure here is a malformed calendar
        raise IcalError(f"malformed iCalendar data: {brief(e)}") from None
    name = str(calendar.get("X-WR-CALNAME", ""))
    return IcalSchedule(
        name, tz, tuple(unresolved), query, resolve, tuple(rules), frozenset(edited)
    )
