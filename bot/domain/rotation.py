"""On-call rotations: who is on call at an instant, and the turns over a span of time.

A ``WeeklyRotation`` hands the pager from member to member in order:

* The first turn (``members[0]``) starts at the first hand-off instant on or after ``start``.
  A hand-off instant is a local wall-clock time in ``tz``: ``handoff_weekday`` at
  ``handoff_time``, or every day at ``handoff_time`` when ``handoff_weekday`` is None. The
  weekday only anchors the first turn; after that turns change every ``shift``.
* Turn ``k`` starts at local wall-clock ``first + k * shift``. Shifts are measured on the local
  clock, not in elapsed seconds, so a ``Mon 09:00`` Europe/Berlin hand-off stays 09:00 across
  DST (the turn spanning the change is an hour shorter or longer). Sub-day shifts follow the
  same rule: a 12h shift from 09:00 changes at 09:00 and 21:00 local time.
* A local time that does not exist or is ambiguous is resolved with ``fold=0`` and normalised
  through UTC (02:30 on a spring-forward night becomes 03:30 summer time). A turn that this
  pushes past the next one's start (only possible when the shift is shorter than the DST jump)
  is empty and skipped, so turns never overlap.
* Before the first turn nobody is on call (``on_call`` returns None).
* Overrides win over turns and split them; among overlapping overrides the latest-created
  (highest ``created_seq``; on a tie, the later in ``overrides``) wins.

``on_call(at)`` is the effective turn containing ``at`` (None when nobody is on call);
``turns(start, end)`` tiles [start, end) with whole effective turns, stretches with nobody on
call being Turns of person None clipped to the window; ``next_turn(at)`` is the first later
turn of someone other than whoever is on call at ``at``. All returned datetimes are aware UTC.

This module holds the rotation itself and its overrides; ``Turn``, ``RotationError`` and the
layering of spans into turns are shared with the other schedule kinds, in ``bot.domain.turns``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from bot.domain.durations import DurationError, parse_duration
from bot.domain.turns import RotationError, Span, Turn, find_next_turn, layered_at, layered_turns

_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HANDOFF = re.compile(r"^\s*(?:([a-z]+)\s+)?(\d{1,2}):(\d{2})\s*$", re.IGNORECASE)
# A window may hold at most this many turns: protects callers from a 1s shift over a year.
MAX_TURNS = 20_000
# How far past the asked window a turn (or override) is followed to report it whole.
_REACH = timedelta(days=400)


@dataclass(frozen=True)
class Override:
    who: str
    start: datetime
    end: datetime
    created_seq: int = 0

    def __post_init__(self) -> None:
        if not self.who.strip():
            raise RotationError("an override needs a person ('who')")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise RotationError(f"override for {self.who!r}: times must carry a time zone")
        if self.end <= self.start:
            raise RotationError(
                f"override for {self.who!r}: 'to' ({self.end.isoformat()}) must be after "
                f"'from' ({self.start.isoformat()})"
            )


def parse_handoff(text: str) -> tuple[int | None, time]:
    """``"Mon 09:00"``, ``"monday 9:00"`` or ``"09:00"`` (daily) → (weekday or None, time)."""
    hint = "write e.g. 'Mon 09:00' (weekly) or '09:00' (daily)"
    m = _HANDOFF.match(str(text))
    if not m:
        raise RotationError(f"{text!r} is not a hand-off time; {hint}")
    day_text, hour, minute = m.group(1), int(m.group(2)), int(m.group(3))
    weekday = None if day_text is None else _weekday(text, day_text, hint)
    if hour > 23 or minute > 59:
        raise RotationError(f"{text!r}: {hour}:{minute:02d} is not a time of day (00:00-23:59)")
    return weekday, time(hour, minute)


def _weekday(text: str, day_text: str, hint: str) -> int:
    word = day_text.lower()
    hits = [i for i, name in enumerate(_DAYS) if len(word) >= 3 and name.startswith(word)]
    if len(hits) != 1:
        raise RotationError(f"{text!r}: {day_text!r} is not a day of the week; {hint}")
    return hits[0]


def _require_aware(*values: datetime) -> None:
    for value in values:
        if value.tzinfo is None:
            raise RotationError(f"{value.isoformat()} has no time zone; pass an aware datetime")


@dataclass(frozen=True)
class WeeklyRotation:
    id: str
    members: tuple[str, ...]
    shift: timedelta
    handoff_weekday: int | None
    handoff_time: time
    start: date
    tz: ZoneInfo
    overrides: tuple[Override, ...] = ()

    def __post_init__(self) -> None:
        where = f"rotation {self.id!r}"
        if not self.members:
            raise RotationError(f"{where}: members is empty; list at least one person")
        if any(not m.strip() for m in self.members):
            raise RotationError(f"{where}: members contains an empty name")
        if self.shift < timedelta(seconds=1):
            raise RotationError(f"{where}: shift must be at least 1s, not {self.shift}")
        if self.handoff_weekday is not None and not 0 <= self.handoff_weekday <= 6:
            raise RotationError(f"{where}: hand-off weekday must be 0 (Mon) to 6 (Sun)")
        if self.handoff_time.tzinfo is not None:
            raise RotationError(f"{where}: hand-off time is local to {self.tz}; drop its tzinfo")

    @cached_property
    def _first(self) -> datetime:
        """Local wall-clock start of turn 0 (naive: ``fold`` is settled by ``_to_utc``)."""
        day = self.start
        if self.handoff_weekday is not None:
            day += timedelta(days=(self.handoff_weekday - day.weekday()) % 7)
        return datetime.combine(day, self.handoff_time)

    @cached_property
    def _opens(self) -> datetime:
        """When the first turn starts; nobody is on call before."""
        return self._start_at(0)

    @classmethod
    def build(
        cls,
        id: str,
        *,
        members: Sequence[str],
        shift: str | timedelta,
        handoff: str,
        start: date,
        tz: str | ZoneInfo,
        overrides: Sequence[Override] = (),
        known: Collection[str] | None = None,
    ) -> WeeklyRotation:
        """Build from config-style values; ``known`` (team member ids) rejects unknown people."""
        try:
            length = parse_duration(shift) if isinstance(shift, str) else shift
        except DurationError as e:
            raise RotationError(f"rotation {id!r}: shift: {e}") from None
        try:
            zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        except (ValueError, KeyError):
            raise RotationError(f"rotation {id!r}: unknown time zone {tz!r}") from None
        weekday, at = parse_handoff(handoff)
        rotation = cls(id, tuple(members), length, weekday, at, start, zone, tuple(overrides))
        if known is not None:
            rotation.check_people(known)
        return rotation

    def check_people(self, known: Collection[str]) -> None:
        unknown = sorted({m for m in self.members if m not in known})
        unknown += sorted({o.who for o in self.overrides if o.who not in known} - set(unknown))
        if unknown:
            raise RotationError(
                f"rotation {self.id!r}: unknown person {', '.join(map(repr, unknown))}; "
                f"known team members: {', '.join(sorted(known)) or 'none'}"
            )

    def on_call(self, at: datetime) -> Turn | None:
        _require_aware(at)
        return layered_at(self._spans, at, reach=_REACH)

    def turns(self, start: datetime, end: datetime) -> list[Turn]:
        _require_aware(start, end)
        return layered_turns(self._spans, start, end, reach=_REACH)

    def next_turn(self, at: datetime) -> Turn | None:
        _require_aware(at)
        # Past `latest` only the members take turns, overrides and the wait for turn 0 over.
        latest = max([at, self._opens, *(o.end for o in self.overrides)])
        if len(set(self.members)) == 1:
            # The only member keeps the pager for ever after the turn starting at `latest`.
            horizon = latest - at + self.shift
        else:
            # A cycle meets every member; DST may swallow or stretch turns by a few hours,
            # far less than the reach a turn is ever followed.
            horizon = latest - at + len(self.members) * self.shift + _REACH
        # Nothing can change hands before the first turn or override, so skip straight there.
        begin = min([self._opens, *(o.start for o in self.overrides)])
        step = min(max(self.shift * 8, timedelta(days=1)), self.shift * (MAX_TURNS // 2))
        return find_next_turn(self, at, horizon=horizon, step=step, begin=begin)

    def _start_at(self, k: int) -> datetime:
        """Start of turn ``k``, clamped so that starts never decrease (see module doc)."""
        try:
            naive = self._first + k * self.shift
            raw = _to_utc(naive, self.tz)
            if not _in_gap(naive, self.tz):
                return raw
            # In a spring-forward gap: a later turn may start earlier in real time.
            j = k + 1
            while _in_gap(self._first + j * self.shift, self.tz):
                j += 1
            return min(raw, _to_utc(self._first + j * self.shift, self.tz))
        except OverflowError:
            raise RotationError(f"rotation {self.id!r}: time out of range") from None

    def _index(self, at: datetime) -> int:
        """The last turn starting at or before ``at``; 0 before the first turn."""
        if at < self._opens:  # also keeps instants near datetime.min out of the arithmetic
            return 0
        local = at.astimezone(self.tz).replace(tzinfo=None)
        # The wall-clock estimate is off by the turns a DST change swallows or repeats.
        k = (local - self._first) // self.shift
        while self._start_at(k) > at:
            k -= 1
        while self._start_at(k + 1) <= at:
            k += 1
        return max(k, 0)

    def _spans(self, start: datetime, end: datetime) -> list[Span]:
        spans: list[Span] = []
        too_many = RotationError(
            f"rotation {self.id!r}: more than {MAX_TURNS} turns between "
            f"{start.isoformat()} and {end.isoformat()}; ask for a shorter span"
        )
        if (end - start) / self.shift > MAX_TURNS:
            raise too_many
        k = self._index(start)
        begin = self._start_at(k)
        while begin < end:
            if len(spans) > MAX_TURNS:  # DST can add a few turns past the estimate above
                raise too_many
            finish = self._start_at(k + 1)
            if finish > begin:  # turns swallowed by a DST gap do not count toward MAX_TURNS
                spans.append(Span(self.members[k % len(self.members)], begin, finish, (False, k)))
            k, begin = k + 1, finish
        # Overrides outside the window win no piece of it either, so none is filtered out.
        return spans + [
            Span(
                o.who,
                o.start.astimezone(UTC),
                o.end.astimezone(UTC),
                (True, o.created_seq, i),
                True,
            )
            for i, o in enumerate(self.overrides)
        ]


def _to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _in_gap(naive: datetime, tz: ZoneInfo) -> bool:
    return _to_utc(naive, tz).astimezone(tz).replace(tzinfo=None) != naive
