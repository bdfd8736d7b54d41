"""What an iCalendar feed may ask of us: hostile input is refused before it costs anything.

Feeds come from outside, and icalendar and the recurrence expansion under it (dateutil) will
spend unbounded time on some inputs. So before parsing, ``prescan`` bounds size and nesting;
while parsing, ``check_rule`` refuses SECONDLY/MINUTELY rules, rules that can never fire and
filters dateutil walks forever, and ``check_zones`` wants time zones' offset rules YEARLY;
before each expansion, ``check_reach`` refuses rules that would have to be walked through more
than ``MAX_PERIODS`` steps from their DTSTART to reach the window.

Kept apart from ``ical_schedule`` so that one reads as what a feed means and this one as what
it may cost; ``IcalError``, ``instant`` and ``brief`` live here because both sides use them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

MAX_PERIODS = 100_000
MAX_COMPONENTS = 20_000
MAX_DEPTH = 8
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
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class IcalError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    """What expanding one recurring series costs: dateutil steps from ``start`` by ``step``."""

    summary: str
    freq: str
    start: datetime
    step: timedelta
    count: int | None
    until: datetime | None
    sparse: bool


def instant(value: date | datetime, tz: ZoneInfo) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def brief(error: object) -> str:
    text = str(error).encode("ascii", "backslashreplace").decode()
    return text if len(text) <= 160 else text[:157] + "..."


def prescan(data: bytes, max_bytes: int) -> None:
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


def rules_in(component: Any) -> list[Any]:
    raw = component.get("RRULE")
    return [] if raw is None else raw if isinstance(raw, list) else [raw]


def check_rule(rule: Any, where: str) -> tuple[str, int]:
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
        raise IcalError(f"{where}: unreadable rule: {brief(e)}") from None
    if interval < 1:
        raise IcalError(f"{where}: INTERVAL must be at least 1")
    return freq, interval


def check_zones(calendar: Any) -> None:
    for zone in calendar.walk("VTIMEZONE"):
        for part in zone.subcomponents:
            # dateutil walks these rules on every UTC offset lookup; real zones repeat yearly.
            for rule in rules_in(part):
                where = f"VTIMEZONE {str(zone.get('TZID', '?'))!r}"
                if check_rule(rule, where)[0] != "YEARLY":
                    raise IcalError(f"{where}: offset changes must repeat YEARLY")


def rules_of(event: Any, summary: str, tz: ZoneInfo) -> list[Rule]:
    rules = []
    for rule in rules_in(event):
        freq, interval = check_rule(rule, f"event {summary!r}")
        if "DTSTART" not in event:
            raise IcalError(f"event {summary!r} repeats but has no DTSTART")
        count, until = rule.get("COUNT", [None])[0], rule.get("UNTIL", [None])[0]
        rules.append(
            Rule(
                summary,
                freq,
                instant(event["DTSTART"].dt, tz),
                _PERIOD[freq] * interval,
                int(count) if count is not None else None,
                instant(until, tz) if until is not None else None,
                bool(_SPARSE.intersection(rule)),
            )
        )
    return rules


def check_reach(rules: Iterable[Rule], end: datetime) -> None:
    """Refuse to expand up to ``end`` when a rule would take too many steps to get there."""
    for rule in rules:
        stop = min(end, rule.until) if rule.until else end
        # A COUNT ends the walk early, unless filters may leave most steps empty.
        if rule.count is not None and rule.count <= MAX_PERIODS and not rule.sparse:
            continue
        if (stop - rule.start) / rule.step > MAX_PERIODS:
            raise IcalError(
                f"event {rule.summary!r} repeats {rule.freq} from {rule.start:%Y-%m-%d}; "
                f"reaching {end:%Y-%m-%d} would take more than {MAX_PERIODS} steps"
            )
