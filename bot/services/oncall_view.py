"""Who is on call, answered from schedules already built: the read half of the rotations.

``OncallView`` holds each rotation's schedule (``bot.services.oncall_schedules``) built from
the config, the stored overrides it was given and any calendars, and answers ``on_call``,
``status``, ``report`` and ``turns``. It imports neither httpx nor icalendar, so the read-only
commands (`waiting`, `oncall`) use it directly when no rotation has a calendar;
``bot.services.oncall.OncallService`` extends it with calendars, storing overrides and the
refresh loop, and answers exactly the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.config import Config
from bot.domain.ical_limits import IcalError
from bot.domain.turns import RotationError, Schedule, Turn
from bot.services.oncall_schedules import Status, build_schedules
from bot.services.waiting import iso
from storage.records import StoredOverride

if TYPE_CHECKING:
    from bot.domain.ical_schedule import IcalSchedule

log = logging.getLogger("nudgebot.oncall")
# Stored overrides that ended longer ago than this are not loaded (exports look 2 weeks back).
KEEP = timedelta(days=35)
Calendars = Mapping[str, tuple["IcalSchedule | None", str]]


class OncallError(ValueError):
    """A request about rotations that cannot be met; the message says why and what to do."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class OncallView:
    def __init__(self, config: Config, *, now: Callable[[], datetime] = utcnow) -> None:
        self.config, self.now = config, now
        self._stored: tuple[StoredOverride, ...] = ()
        self._schedules: dict[str, Schedule] = {}
        self._problems: dict[str, str] = {}
        self._cache: dict[str, Turn] = {}
        self._logged: set[str] = set()

    def use(self, stored: Iterable[StoredOverride], calendars: Calendars | None = None) -> None:
        """Rebuild every schedule from the config, ``stored`` overrides and ``calendars``."""
        self._stored = tuple(stored)
        self._schedules, self._problems = build_schedules(
            self.config, calendars or {}, self._stored
        )
        self._cache.clear()

    @property
    def rotation_ids(self) -> tuple[str, ...]:
        return tuple(self.config.rotations)

    def schedule(self, rotation_id: str) -> Schedule | None:
        return self._schedules.get(rotation_id)

    def problem(self, rotation_id: str) -> str | None:
        """Why the rotation's schedule is incomplete right now."""
        return self._problems.get(rotation_id)

    def turn_at(self, rotation_id: str, at: datetime) -> Turn | None:
        """The effective turn containing ``at``; None when nobody is on call, the rotation is
        unknown, or its calendar cannot answer (logged once per message)."""
        cached = self._cache.get(rotation_id)
        if cached is not None and cached.start <= at < cached.end:
            return cached
        schedule = self._schedules.get(rotation_id)
        if schedule is None:
            return None
        try:
            turn = schedule.on_call(at)
        except (RotationError, IcalError) as exc:
            self._log_once(rotation_id, str(exc))
            return None
        if turn is not None:
            self._cache[rotation_id] = turn
        return turn

    def on_call(self, rotation_id: str, at: datetime) -> str | None:
        """Routing's hook: the person on call in ``rotation_id`` at ``at``, or None."""
        turn = self.turn_at(rotation_id, at)
        return turn.person if turn else None

    def status(self, rotation_id: str, at: datetime) -> Status:
        schedule = self._schedules.get(rotation_id)
        if schedule is None:
            raise OncallError(self.unknown(rotation_id))
        problem = self.problem(rotation_id)
        try:
            turn = schedule.on_call(at)
            following = schedule.next_turn(at)
        except (RotationError, IcalError) as exc:
            return Status(rotation_id, at, None, None, None, None, str(exc))
        if turn is None:
            until = following.start if following else None
            return Status(rotation_id, at, None, None, until, following, problem)
        return Status(rotation_id, at, turn.person, turn.start, turn.end, following, problem)

    def report(self, at: datetime) -> dict[str, Any]:
        """``oncall --json`` / ``GET /api/oncall``; ``problems`` only appears when a rotation's
        schedule is incomplete (a calendar that failed to load)."""
        statuses = [self.status(rid, at) for rid in self.rotation_ids]
        body: dict[str, Any] = {
            "at": iso(at.astimezone(UTC)),
            "rotations": {s.rotation: s.as_json() for s in statuses},
        }
        problems = {s.rotation: s.problem for s in statuses if s.problem}
        if problems:
            body["problems"] = problems
        return body

    def turns(self, rotation_id: str, start: datetime, end: datetime) -> list[Turn]:
        schedule = self._schedules.get(rotation_id)
        if schedule is None:
            raise OncallError(self.unknown(rotation_id))
        try:
            return schedule.turns(start, end)
        except (RotationError, IcalError) as exc:
            raise OncallError(f"rotation {rotation_id!r}: {exc}") from None

    def unknown(self, rotation_id: str) -> str:
        known = ", ".join(self.rotation_ids) or "none are configured"
        return f"unknown rotation {rotation_id!r} (known: {known})"

    def _log_once(self, rotation_id: str, message: str) -> None:
        key = f"{rotation_id}:{message}"
        if key not in self._logged and len(self._logged) < 1000:
            self._logged.add(key)
            log.warning("rotation %s cannot say who is on call: %s", rotation_id, message)
