"""Turns, and how any on-call schedule layers claims on time into them.

A schedule (``WeeklyRotation``, an iCal feed, an ``Overlaid`` base with overrides) describes
itself as ``Span``s: someone's claim on a stretch of time, ranked. ``layered_turns`` and
``layered_at`` sweep those spans into the effective ``Turn``s, the highest rank winning where
spans overlap; ``find_next_turn`` looks ahead for the next change of hands. Every schedule
kind shares this, so it lives apart from any one of them.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Protocol

_TICK = timedelta(microseconds=1)


# Every schedule kind raises it, not only rotations; the name predates the others.
class RotationError(ValueError):
    pass


@dataclass(frozen=True)
class Turn:
    person: str | None
    start: datetime
    end: datetime
    override: bool = False


class Schedule(Protocol):
    def on_call(self, at: datetime) -> Turn | None: ...

    def turns(self, start: datetime, end: datetime) -> list[Turn]: ...

    def next_turn(self, at: datetime) -> Turn | None: ...


@dataclass(frozen=True)
class Span:
    """Someone's claim on a stretch of time; where spans overlap the highest ``rank`` wins."""

    person: str | None
    start: datetime
    end: datetime
    rank: tuple[float | str, ...]
    override: bool = False


@dataclass
class _Piece:
    span: Span | None
    start: datetime
    end: datetime


def _sweep(spans: Sequence[Span], start: datetime, end: datetime) -> list[_Piece]:
    """Tile [start, end) with the winning span of each stretch (None where nobody is)."""
    spans = sorted(spans, key=lambda s: s.start)
    # Ranks are compared once up front so the heap only ever compares integers.
    order = sorted(range(len(spans)), key=lambda i: spans[i].rank)
    priority = {i: p for p, i in enumerate(order)}
    cuts = {start, end}
    cuts.update(t for s in spans for t in (s.start, s.end) if start < t < end)
    bounds = sorted(cuts)
    heap: list[tuple[int, int]] = []
    pieces: list[_Piece] = []
    i = 0
    for a, b in pairwise(bounds):
        while i < len(spans) and spans[i].start <= a:
            heapq.heappush(heap, (-priority[i], i))
            i += 1
        while heap and spans[heap[0][1]].end <= a:
            heapq.heappop(heap)
        winner = spans[heap[0][1]] if heap else None
        if pieces and pieces[-1].span is winner:
            pieces[-1].end = b
        else:
            pieces.append(_Piece(winner, a, b))
    return pieces


def _layered(
    spans_between: Callable[[datetime, datetime], Sequence[Span]],
    start: datetime,
    end: datetime,
    reach: timedelta,
) -> list[_Piece]:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise RotationError(f"empty span: {end.isoformat()} is not after {start.isoformat()}")
    pieces = _sweep(spans_between(start, end), start, end)
    # Widen to the edge winners' own spans so those turns come back whole, not cut at the window.
    first, last = pieces[0].span, pieces[-1].span
    lo = max(first.start, start - reach) if first else start
    hi = min(last.end, end + reach) if last else end
    if (lo, hi) != (start, end):
        wide = _sweep(spans_between(lo, hi), lo, hi)
        pieces = [p for p in wide if p.end > start and p.start < end]
    return pieces


def layered_turns(
    spans_between: Callable[[datetime, datetime], Sequence[Span]],
    start: datetime,
    end: datetime,
    *,
    reach: timedelta,
) -> list[Turn]:
    """Effective turns tiling [start, end).

    Turns come back whole (up to ``reach`` beyond the window); stretches where no span
    applies are Turns with person None, clipped to the window.
    """
    return [
        Turn(p.span.person, p.start, p.end, p.span.override)
        if p.span
        else Turn(None, p.start, p.end)
        for p in _layered(spans_between, start, end, reach)
    ]


def layered_at(
    spans_between: Callable[[datetime, datetime], Sequence[Span]],
    at: datetime,
    *,
    reach: timedelta,
) -> Turn | None:
    """The effective turn containing ``at``; None where no span applies."""
    piece = _layered(spans_between, at, at + _TICK, reach)[0]
    if piece.span is None:
        return None
    return Turn(piece.span.person, piece.start, piece.end, piece.span.override)


def find_next_turn(
    schedule: Schedule,
    at: datetime,
    *,
    horizon: timedelta,
    step: timedelta,
    begin: datetime | None = None,
) -> Turn | None:
    """The first turn after ``at`` whose person is someone, and someone else than now.

    Looks up to ``at + horizon`` in chunks growing to ``step``, from ``begin`` if nothing can
    change between ``at`` and it. The next turn is usually close, so the first chunk is small.
    """
    current = schedule.on_call(at)
    now = current.person if current else None
    begin, stop = max(at, begin or at), at + horizon
    size = step / 16
    while begin < stop:
        chunk_end = min(begin + size, stop)
        for turn in schedule.turns(begin, chunk_end):
            if turn.person is not None and turn.person != now:
                return turn
        begin, size = chunk_end, min(size * 2, step)
    return None
