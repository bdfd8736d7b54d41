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

Only the window asked for is expanded, and hostile recurrence rules are refused up front:
SECONDLY/MINUTELY rules, rules that can never fire, and rules that would have to be walked
through more than ``MAX_PERIODS`` steps from their DTSTART to reach the window.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from bot.domain.rotation import Span, Turn, find_next_turn, layered_at, layered_turns

MAX_BYTES = 5 * 1024 * 1024
MAX_OCCURRENCES = 20_000
MAX_PERIODS = 100_000
MAX_COMPONENTS = 20_000
MAX_DEPTH = 8
_REACH = timedelta(days=90)
_UTC = ZoneInfo("UTC")
_DAY = timedelta(days=1)
_PERIOD = {
    "YEARLY": timedelta(days=365),
    "MONTHLY": timedelta(days=28),
    "WEEKLY": timedelta(days=7),
    "DAILY": timedelta(days=1),
    "HOURLY": timedelta(hours=1),
}
# dateutil walks these period by period and never gives up on a filter that cannot match.
_FINE_ONLY = {"BYYEARDAY", "BYWEEKNO", "BYSETPOS"}
_SPARSE = {"BYMONTH", "BYMONTHDAY", *_FINE_ONLY}
_TIME_PROPS = {"DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID"}
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_SEPARATORS = re.compile(r"\s+[-–—|]\s+|\s*[:,;]\s+")


class IcalError(ValueError):
    pass


@dataclass(frozen=True)
class _Rule:
    """What expanding one recurring series costs: dateutil steps from ``start`` by ``step``."""

    summary: str
    freq: str
    start: datetime
    step: timedelta
    count: int | None
    until: datetime | None
    sparse: bool


@dataclass(frozen=True)
class IcalSchedule:
    name: str
    tz: ZoneInfo
    unresolved: tuple[str, ...]
    _query: Any = field(repr=False, compare=False)
    _resolve: Callable[[str], str | None] = field(repr=False, compare=False)
    _rules: tuple[_Rule, ...] = field(default=(), repr=False, compare=False)
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
        for rule in self._rules:
            stop = min(end, rule.until) if rule.until else end
            # A COUNT ends the walk early, unless filters may leave most steps empty.
            if rule.count is not None and rule.count <= MAX_PERIODS and not rule.sparse:
                continue
            if (stop - rule.start) / rule.step > MAX_PERIODS:
                raise IcalError(
                    f"event {rule.summary!r} repeats {rule.freq} from {rule.start:%Y-%m-%d}; "
                    f"reaching {end:%Y-%m-%d} would take more than {MAX_PERIODS} steps"
                )
        try:
            # The library compares all-day and floating times on the query's wall clock, which
            # is UTC here while they are local to self.tz: a day either side covers any zone.
            events = self._query.between(start - _DAY, end + _DAY)
        except Exception as e:  # the library raises many types on bad input; all mean the same
            raise IcalError(f"cannot expand the calendar: {_brief(e)}") from None
        if len(events) > MAX_OCCURRENCES:
            raise IcalError(
                f"more than {MAX_OCCURRENCES} shifts between {start:%Y-%m-%d} and "
                f"{end:%Y-%m-%d}; this is not an on-call schedule"
            )
        try:
            spans = [self._span(e) for e in events]
        except (ValueError, TypeError, AttributeError, OverflowError) as e:
            raise IcalError(f"unreadable event times: {_brief(e)}") from None
        return [s for s in spans if s is not None]

    def _span(self, event: Any) -> Span | None:
        if str(event.get("STATUS", "")).upper() == "CANCELLED" or "DTSTART" not in event:
            return None
        raw_start = event["DTSTART"].dt
        start = _instant(raw_start, self.tz)
        if "DTEND" in event:
            end = _instant(event["DTEND"].dt, self.tz)
        elif "DURATION" in event:
            end = start + event["DURATION"].dt
        else:
            # RFC 5545: a DATE start with no end lasts one day; a DATE-TIME start, no time.
            is_day = not isinstance(raw_start, datetime)
            end = _instant(raw_start + timedelta(days=1), self.tz) if is_day else start
        if end <= start:
            return None
        person = person_of(event, self._resolve)
        uid = str(event.get("UID", ""))
        rank = (start.timestamp(), -end.timestamp(), person or "", uid)
        # Expanded occurrences all carry a RECURRENCE-ID; only those the feed edited are overrides.
        edited = (
            "RECURRENCE-ID" in event
            and (uid, _instant(event["RECURRENCE-ID"].dt, self.tz)) in self._edited
        )
        return Span(person, start, end, rank, edited)


def _require_aware(*values: datetime) -> None:
    for value in values:
        if value.tzinfo is None:
            raise IcalError(f"{value.isoformat()} has no time zone; pass an aware datetime")


def _instant(value: date | datetime, tz: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


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
    _prescan(data, max_bytes)
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as e:  # icalendar raises many types on hostile input; all mean "malformed"
        raise IcalError(f"malformed iCalendar data: {_brief(e)}") from None
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
    for zone in calendar.walk("VTIMEZONE"):
        for part in zone.subcomponents:
            # dateutil walks these rules on every UTC offset lookup; real zones repeat yearly.
            for rule in _rules_in(part):
                where = f"VTIMEZONE {str(zone.get('TZID', '?'))!r}"
                if _checked(rule, where)[0] != "YEARLY":
                    raise IcalError(f"{where}: offset changes must repeat YEARLY")
    rules: list[_Rule] = []
    unresolved: list[str] = []
    edited: set[tuple[str, datetime]] = set()
    for event in events:
        summary = str(event.get("SUMMARY", event.get("UID", "?")))
        bad = [
            f"{prop}: {msg}" for prop, msg in getattr(event, "errors", []) if prop in _TIME_PROPS
        ]
        if bad:
            raise IcalError(f"malformed event {summary!r}: {_brief('; '.join(bad))}")
        rules.extend(_rules_of(event, summary, tz))
        if "RECURRENCE-ID" in event:
            edited.add((str(event.get("UID", "")), _instant(event["RECURRENCE-ID"].dt, tz)))
        if person_of(event, resolve) is None and summary not in unresolved:
            unresolved.append(summary)
    try:
        query = recurring_ical_events.of(calendar)
    except Exception as e:  # as above: any failure here is a malformed calendar
        raise IcalError(f"malformed iCalendar data: {_brief(e)}") from None
    name = str(calendar.get("X-WR-CALNAME", ""))
    return IcalSchedule(
        name, tz, tuple(unresolved), query, resolve, tuple(rules), frozenset(edited)
    )


def _prescan(data: bytes, max_bytes: int) -> None:
    """Refuse what icalendar would take long over, before it parses a single line."""
    if len(data) > max_bytes:
        raise IcalError(f"calendar is {len(data)} bytes; the limit is {max_bytes} bytes")
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].upper() != b"BEGIN:VCALENDAR":
        raise IcalError("not an iCalendar file: it must start with BEGIN:VCALENDAR")
    depth = components = 0
    for line in data.splitlines():
        word = line[:6].upper()
        if word == b"BEGIN:":
            depth, components = depth + 1, components + 1
            if depth > MAX_DEPTH:
                raise IcalError(f"components nested more than {MAX_DEPTH} deep: not a calendar")
        elif word[:4] == b"END:":
            depth -= 1
    if components > MAX_COMPONENTS:
        raise IcalError(
            f"{components} components; an on-call calendar has at most {MAX_COMPONENTS}"
        )


def _brief(error: object) -> str:
    text = str(error).encode("ascii", "backslashreplace").decode()
    return text if len(text) <= 160 else text[:157] + "..."


def _rules_in(component: Any) -> list[Any]:
    raw = component.get("RRULE")
    return [] if raw is None else raw if isinstance(raw, list) else [raw]


def _checked(rule: Any, where: str) -> tuple[str, int]:
    """Refuse rules dateutil would expand too finely or walk forever; → (FREQ, INTERVAL)."""
    try:
        freq = str(rule.get("FREQ", [""])[0]).upper()
        where = f"{where}: RRULE FREQ={freq or '?'}"
        if freq in ("SECONDLY", "MINUTELY"):
            raise IcalError(f"{where} repeats too often; the finest supported is HOURLY")
        if freq not in _PERIOD:
            raise IcalError(f"{where} is not a recurrence frequency")
        fine = _FINE_ONLY.intersection(rule)
        if fine and freq not in ("YEARLY", "MONTHLY"):
            raise IcalError(f"{where} with {', '.join(sorted(fine))} is not supported")
        per_step = 1
        for part in ("BYHOUR", "BYMINUTE", "BYSECOND"):
            per_step *= max(1, len(rule.get(part, [])))
        if per_step > 24:
            raise IcalError(f"{where} fires {per_step} times per step; shifts cannot be that short")
        months = [int(m) for m in rule.get("BYMONTH", range(1, 13)) if 1 <= int(m) <= 12]
        days = [int(d) for d in rule.get("BYMONTHDAY", [])]
        if days and not any(abs(d) <= _MONTH_DAYS[m - 1] for m in months for d in days):
            raise IcalError(f"{where} can never occur (BYMONTH/BYMONTHDAY name no real day)")
        interval = int(rule.get("INTERVAL", [1])[0])
    except (ValueError, TypeError, IndexError, KeyError) as e:
        if isinstance(e, IcalError):
            raise
        raise IcalError(f"{where}: unreadable rule: {_brief(e)}") from None
    if interval < 1:
        raise IcalError(f"{where}: INTERVAL must be at least 1")
    return freq, interval


def _rules_of(event: Any, summary: str, tz: ZoneInfo) -> list[_Rule]:
    rules = []
    for rule in _rules_in(event):
        freq, interval = _checked(rule, f"event {summary!r}")
        if "DTSTART" not in event:
            raise IcalError(f"event {summary!r} repeats but has no DTSTART")
        count, until = rule.get("COUNT", [None])[0], rule.get("UNTIL", [None])[0]
        rules.append(
            _Rule(
                summary,
                freq,
                _instant(event["DTSTART"].dt, tz),
                _PERIOD[freq] * interval,
                int(count) if count is not None else None,
                _instant(until, tz) if until is not None else None,
                bool(_SPARSE.intersection(rule)),
            )
        )
    return rules
