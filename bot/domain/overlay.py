"""Overrides laid over any schedule: an iCal feed, or a rotation plus overrides stored later.

``Overlaid(base, overrides)`` answers like ``base`` except where an override applies: the
override wins over every base turn, and among overlapping overrides the highest
``created_seq`` wins (on a tie, the later in ``overrides``) — the same rule as
``WeeklyRotation``'s own overrides. Gaps in ``base`` (nobody on call) are filled by overrides
that cover them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain.rotation import Override
from bot.domain.turns import (
    RotationError,
    Schedule,
    Span,
    Turn,
    find_next_turn,
    layered_at,
    layered_turns,
)

# Base turns come back whole already; this only bounds how far an override is followed.
_REACH = timedelta(days=90)


@dataclass(frozen=True)
class Overlaid:
    base: Schedule
    overrides: tuple[Override, ...] = ()
    horizon: timedelta = timedelta(days=62)  # how far next_turn looks ahead

    def on_call(self, at: datetime) -> Turn | None:
        _require_aware(at)
        if not self.overrides:
            return self.base.on_call(at)
        return layered_at(self._spans, at, reach=_REACH)

    def turns(self, start: datetime, end: datetime) -> list[Turn]:
        _require_aware(start, end)
        if not self.overrides:
            return self.base.turns(start, end)
        return layered_turns(self._spans, start, end, reach=_REACH)

    def next_turn(self, at: datetime) -> Turn | None:
        _require_aware(at)
        if not self.overrides:
            return self.base.next_turn(at)
        return find_next_turn(self, at, horizon=self.horizon, step=timedelta(days=7))

    def _spans(self, start: datetime, end: datetime) -> list[Span]:
        spans = [
            Span(o.who, o.start.astimezone(UTC), o.end.astimezone(UTC), (1, o.created_seq, i), True)
            for i, o in enumerate(self.overrides)
            if o.start < end and o.end > start
        ]
        spans += [
            Span(t.person, t.start, t.end, (0, k), t.override)
            for k, t in enumerate(self.base.turns(start, end))
            if t.person is not None
        ]
        return spans


def _require_aware(*values: datetime) -> None:
    for value in values:
        if value.tzinfo is None:
            raise RotationError(f"{value.isoformat()} has no time zone; pass an aware datetime")


class Nobody:
    """A schedule with nobody on call: the base of an iCal rotation without a good calendar
    yet, so overrides still apply."""

    def on_call(self, at: datetime) -> Turn | None:
        return None

    def turns(self, start: datetime, end: datetime) -> list[Turn]:
        if end <= start:
            raise RotationError(f"empty span: {end.isoformat()} is not after {start.isoformat()}")
        return [Turn(None, start.astimezone(UTC), end.astimezone(UTC))]

    def next_turn(self, at: datetime) -> Turn | None:
        return None
