"""The schedule of each configured rotation, and the answer shape of "who is on call".

A member rotation becomes a ``WeeklyRotation`` carrying every override; an iCal rotation its
calendar (or nobody, until a good copy loads) with the overrides laid over it. Config
overrides rank in file order, stored ones after them by creation time, so where overrides
overlap the latest created wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.config import Config, Rotation
from bot.domain.overlay import Nobody, Overlaid
from bot.domain.rotation import Override, WeeklyRotation
from bot.domain.turns import RotationError, Schedule, Turn
from bot.services.waiting import iso
from storage.records import StoredOverride

if TYPE_CHECKING:  # icalendar loads only where a rotation has a calendar (bot.services.ical_feed)
    from bot.domain.ical_schedule import IcalSchedule


@dataclass(frozen=True)
class Status:
    """Who is on call at ``at`` in one rotation (``since``/``until`` bound their turn, or the
    gap when nobody is: ``until`` is then when the next turn starts)."""

    rotation: str
    at: datetime
    person: str | None
    since: datetime | None
    until: datetime | None
    next: Turn | None
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "on_call": self.person,
            "since": iso(self.since) if self.since else None,
            "until": iso(self.until) if self.until else None,
            "next": self.next.person if self.next else None,
        }


def overrides_of(rotation: Rotation, stored: Iterable[StoredOverride]) -> tuple[Override, ...]:
    """The config's overrides in file order, then ``stored`` (oldest created first)."""
    ranked = [Override(o.who, o.start, o.end, seq) for seq, o in enumerate(rotation.overrides)]
    base = len(ranked)
    mine = [s for s in stored if s.rotation == rotation.id]
    ranked += [Override(s.person, s.start, s.end, base + i) for i, s in enumerate(mine)]
    return tuple(ranked)


def build_schedules(
    config: Config,
    calendars: Mapping[str, tuple[IcalSchedule | None, str]],
    stored: Iterable[StoredOverride],
) -> tuple[dict[str, Schedule], dict[str, str]]:
    """(schedule per rotation, problem per rotation). ``calendars`` maps each iCal rotation to
    its current good copy (or None) and where it comes from (for the message)."""
    stored = tuple(stored)
    schedules: dict[str, Schedule] = {}
    problems: dict[str, str] = {}
    for rid, rotation in config.rotations.items():
        overrides = overrides_of(rotation, stored)
        try:
            if rid in calendars:
                calendar, where = calendars[rid]
                schedules[rid] = Overlaid(calendar or Nobody(), overrides)
                if calendar is None:
                    problems[rid] = f"calendar {where} has not loaded yet"
                continue
            if rotation.shift is None or rotation.handoff is None or rotation.start is None:
                raise RotationError(f"rotation {rid!r} has neither turns nor a calendar")
            handoff = rotation.handoff
            schedules[rid] = WeeklyRotation(
                rid, rotation.members, rotation.shift, handoff.weekday, handoff.time,
                rotation.start, rotation.tz, overrides,
            )  # fmt: skip
        except RotationError as exc:
            problems[rid] = str(exc)
            schedules[rid] = Overlaid(Nobody(), ())
    return schedules, problems
