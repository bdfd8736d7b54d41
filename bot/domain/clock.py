"""A business-hours clock: which instants are open, and how much open time lies between two.

Open time is defined on the local wall clock (weekly windows, public holidays by local date)
and measured in real time: each local window boundary is converted to UTC and the clock counts
the real seconds inside those UTC intervals. So 24/7 across the March DST change counts 23 hours
for that day, and 25 hours in October.

Boundary conversion, chosen so that local -> UTC stays monotonic and windows never invert:
- a nonexistent local time (spring-forward gap) maps forward to the first instant after the gap
  (02:30 on the Berlin change day -> 03:00 CEST), not PEP 495's "shift by the gap length";
- an ambiguous local time (fall-back) uses its first occurrence (fold=0).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.domain.hours import ALWAYS, WeeklyHours

if TYPE_CHECKING:
    import holidays as holidays_lib

# add() scans forward day by day; a clock with no open time in this many consecutive days is
# treated as never open (e.g. no windows at all) instead of looping forever.
MAX_CLOSED_DAYS = 3 * 366


@cache  # unbounded: one entry per configured code, and building one is slow
def holiday_calendar(code: str) -> holidays_lib.HolidayBase:
    """The public-holiday calendar for ``"DE"``, ``"DE-BE"``, ``"US-CA"`` …, built once per code.

    Observed days (e.g. US Independence Day moved to a Friday) count as holidays: that is when
    businesses actually close.
    """
    import holidays as holidays_lib  # a tenth of a second: only for policies with holidays

    country, _, subdiv = code.strip().upper().partition("-")
    try:
        return holidays_lib.country_holidays(country, subdiv=subdiv or None)
    except NotImplementedError as exc:
        raise ValueError(
            f"unknown holiday calendar {code!r} ({exc}); "
            "use a country code from the holidays package, optionally with a subdivision, "
            "e.g. DE, DE-BE or US-CA"
        ) from None


@cache  # unbounded: one entry per configured set of hours (equal hours share it)
def _weekday_segments(hours: WeeklyHours) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Per weekday, the merged (start, end) open minutes of that calendar day, including
    yesterday's spill.

    Clipping every window to its own calendar day lets a holiday close exactly its local date,
    and lets each day be converted to UTC independently.
    """
    raw: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for w in hours.windows:
        raw[w.weekday].append((w.start, min(w.end, 1440)))
        if w.end > 1440:
            # parse_hours keeps every end below 48:00: the spill fits in the next day.
            raw[(w.weekday + 1) % 7].append((0, w.end - 1440))
    result: list[tuple[tuple[int, int], ...]] = []
    for day in raw:
        merged: list[tuple[int, int]] = []
        # No segment is empty: parse_hours rejects empty windows, and a window ending at
        # 24:00 spills nothing.
        for start, end in sorted(day):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        result.append(tuple(merged))
    return tuple(result)


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class BusinessClock:
    """Open time of ``hours`` (``None``: 24/7) in ``tz``, closed all day on ``holidays``."""

    hours: WeeklyHours | None
    tz: ZoneInfo
    holidays: str | None = None

    def __post_init__(self) -> None:
        if self.holidays is not None:
            holiday_calendar(self.holidays)  # fail at construction, not mid-schedule

    def is_open(self, at: datetime) -> bool:
        # Defined through the intervals (not hours.contains) so that it agrees with add() and
        # elapsed() in the repeated fall-back hour, where the wall clock alone is ambiguous.
        at = _aware(at, "at")
        return any(True for _ in self.open_intervals(at, at + timedelta(microseconds=1)))

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open UTC intervals intersecting ``[start, end)``, clipped to it and merged."""
        start, end = _aware(start, "start"), _aware(end, "end")
        pending: tuple[datetime, datetime] | None = None
        for a, b in self._pieces(start, until=end):
            a, b = max(a, start), min(b, end)
            if a >= b:
                continue
            if pending is not None and a <= pending[1]:
                pending = (pending[0], max(pending[1], b))
                continue
            if pending is not None:
                yield pending
            pending = (a, b)
        if pending is not None:
            yield pending

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which ``duration`` of open time has elapsed after ``start``.

        A zero duration gives the next open instant at or after ``start``. A result that
        lands exactly on the end of a window is returned as that end, not the next opening.
        """
        start = _aware(start, "start")
        if duration < timedelta(0):
            raise ValueError(f"duration must not be negative, got {duration}")
        if self.hours is None and self.holidays is None:
            # 24/7: every instant is open, so this is plain UTC arithmetic (the day walk
            # below gives the same, at ~100 µs a call on every ingested message).
            return start.astimezone(UTC) + duration
        remaining = duration
        # Per-day pieces, unmerged: merging needs a look-ahead that never ends on a 24/7 clock.
        for a, b in self._pieces(start, until=None):
            a = max(a, start)  # still before b: _pieces yields only pieces ending after start
            if remaining <= b - a:
                return a + remaining
            remaining -= b - a
        raise AssertionError("unreachable: _pieces is endless or raises")  # pragma: no cover

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Open time between two instants; zero if ``end <= start``."""
        return sum((b - a for a, b in self.open_intervals(start, end)), timedelta(0))

    def next_open(self, at: datetime) -> datetime:
        return self.add(at, timedelta(0))

    def _pieces(
        self, start: datetime, until: datetime | None
    ) -> Iterator[tuple[datetime, datetime]]:
        """Each local day's open UTC intervals in order, from the day before ``start``'s date.

        Stops once a day begins at/after ``until``; with ``until=None`` it runs forever and
        raises ValueError after ``MAX_CLOSED_DAYS`` days in a row without open time.
        """
        segments = _weekday_segments(self.hours if self.hours is not None else ALWAYS)
        calendar = holiday_calendar(self.holidays) if self.holidays is not None else None
        # Starting a day early covers zones whose local midnight is ambiguous or skipped.
        day = start.astimezone(self.tz).date() - timedelta(days=1)
        closed_days = 0
        while True:
            midnight = datetime.combine(day, time(0))
            if until is not None and self._to_utc(midnight) >= until:
                return
            found = False
            if segments[day.weekday()] and not (calendar is not None and day in calendar):
                for lo, hi in segments[day.weekday()]:
                    a = self._to_utc(midnight + timedelta(minutes=lo))
                    b = self._to_utc(midnight + timedelta(minutes=hi))
                    if a < b and b > start:  # a window inside a DST gap has no real time
                        found = True
                        yield a, b
            closed_days = 0 if found else closed_days + 1
            if until is None and closed_days > MAX_CLOSED_DAYS:
                raise ValueError(
                    f"business clock ({self._describe()}) has no open time in the "
                    f"{MAX_CLOSED_DAYS} days after {start.isoformat()}; "
                    "check its hours and holidays"
                )
            day += timedelta(days=1)

    def _to_utc(self, local: datetime) -> datetime:
        """Naive local wall time -> UTC: ambiguous takes fold=0, nonexistent the gap's end."""
        utc = local.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
        if utc.astimezone(self.tz).replace(tzinfo=None) == local:
            return utc
        # In a gap, fold=1 lands before the transition and fold=0 after it; bisect for the
        # transition instant, the first whose wall time is at or past ``local``.
        lo = local.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        hi = utc
        while hi - lo > timedelta(microseconds=1):
            mid = lo + (hi - lo) / 2
            if mid.astimezone(self.tz).replace(tzinfo=None) >= local:
                hi = mid
            else:
                lo = mid
        return hi

    def _describe(self) -> str:
        spec = (
            "24/7"
            if self.hours is None
            else (self.hours.spec or f"{len(self.hours.windows)} windows")
        )
        return f"{spec} in {self.tz.key}" + (f", holidays {self.holidays}" if self.holidays else "")
