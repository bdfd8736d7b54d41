"""Hour specs: ``Mon-Fri 09:00-17:30``, ``Mon-Fri 09:00-12:00, 13:00-18:00; Sat 10:00-14:00``.

A spec is a set of weekly local-time windows. Windows ending at ``24:00`` run to midnight;
a window whose end is before its start runs past midnight into the next day (night shifts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = r"(mon|tue|wed|thu|fri|sat|sun)[a-z]*"
_DAY_RANGE = re.compile(rf"^{_DAY}(?:\s*-\s*{_DAY})?$")
_TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


class HoursError(ValueError):
    pass


@dataclass(frozen=True)
class Window:
    """One weekly window: ``weekday`` (0=Mon), ``start`` to ``end`` in minutes after midnight.

    ``end`` may exceed 1440 for windows that run past midnight.
    """

    weekday: int
    start: int
    end: int


@dataclass(frozen=True)
class WeeklyHours:
    windows: tuple[Window, ...]
    spec: str = ""

    def contains(self, local: datetime) -> bool:
        """Whether a local (wall-clock) time falls inside any window."""
        minute = local.hour * 60 + local.minute + local.second / 60
        day = local.weekday()
        for w in self.windows:
            if w.weekday == day and w.start <= minute < w.end:
                return True
            # A window that spilled past midnight covers the early part of the next day.
            if w.end > 1440 and (w.weekday + 1) % 7 == day and minute < w.end - 1440:
                return True
        return False

    def intervals_on(self, day: datetime) -> list[tuple[datetime, datetime]]:
        """Naive local intervals starting on the calendar day of ``day`` (which is naive, local)."""
        midnight = datetime.combine(day.date(), time(0))
        return [
            (midnight + timedelta(minutes=w.start), midnight + timedelta(minutes=w.end))
            for w in sorted(self.windows, key=lambda w: w.start)
            if w.weekday == day.weekday()
        ]


ALWAYS = WeeklyHours(tuple(Window(d, 0, 1440) for d in range(7)), "Mon-Sun 00:00-24:00")


def _minutes(h: str, m: str, text: str) -> int:
    hh, mm = int(h), int(m)
    if mm > 59 or hh > 24 or (hh == 24 and mm != 0):
        raise HoursError(f"{text!r}: {h}:{m} is not a time of day; use 00:00 to 24:00")
    return hh * 60 + mm


def _days(text: str, whole: str) -> list[int]:
    m = _DAY_RANGE.match(text.strip().lower())
    if not m:
        raise HoursError(
            f"{whole!r}: {text.strip()!r} is not a day or day range; "
            "use e.g. Mon-Fri, Sat or Mon-Sun"
        )
    first = DAYS.index(m.group(1))
    last = DAYS.index(m.group(2)) if m.group(2) else first
    span = (last - first) % 7
    return [(first + i) % 7 for i in range(span + 1)]


def parse_hours(spec: str) -> WeeklyHours:
    """Parse ``"Mon-Fri 09:00-17:30"``; groups separated by ``;``, time ranges by ``,``."""
    if not isinstance(spec, str) or not spec.strip():
        raise HoursError(f"{spec!r} is not an hours spec; write e.g. 'Mon-Fri 09:00-17:30'")
    windows: list[Window] = []
    for group in spec.split(";"):
        group = group.strip()
        if not group:
            continue
        parts = group.split(None, 1)
        if len(parts) != 2:
            raise HoursError(
                f"{spec!r}: {group!r} needs days and times, e.g. 'Mon-Fri 09:00-17:30'"
            )
        days = _days(parts[0], spec)
        for rng in parts[1].split(","):
            m = _TIME_RANGE.match(rng.strip())
            if not m:
                raise HoursError(f"{spec!r}: {rng.strip()!r} is not a time range like 09:00-17:30")
            start = _minutes(m.group(1), m.group(2), spec)
            end = _minutes(m.group(3), m.group(4), spec)
            if start == end:
                raise HoursError(f"{spec!r}: {rng.strip()!r} is empty")
            if start == 1440:
                raise HoursError(f"{spec!r}: a window cannot start at 24:00")
            if end < start:
                end += 1440
            windows.extend(Window(d, start, end) for d in days)
    if not windows:
        raise HoursError(f"{spec!r} names no hours; write e.g. 'Mon-Fri 09:00-17:30'")
    return WeeklyHours(tuple(windows), spec.strip())
