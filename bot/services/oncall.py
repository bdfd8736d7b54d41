"""The rotations of one config, answering "who is on call" for routing, commands and the API.

Each configured rotation becomes a schedule: a ``WeeklyRotation`` (members, shift, hand-off)
or the rotation's iCal calendar (``bot.services.ical_feed``), with overrides laid over it.
Overrides come from the config (ranked in file order) and from the database (``oncall take``,
ranked after the config's by creation time); where overrides overlap the latest created wins.

``on_call(rotation, at)`` is synchronous because routing is; it reads what ``refresh()`` last
loaded. ``start()`` runs a loop that refreshes stored overrides every ``reload_every`` (so a
``take`` on another replica shows up within it), re-reads changed calendar files, fetches
calendar URLs when due, and runs an optional job (hand-off notices) at every turn change.
Commands and API handlers call ``prepare()`` first so they see the database as it is now.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.config import Config
from bot.services.failures import log_failure
from bot.services.oncall_view import KEEP, OncallError, OncallView, utcnow
from bot.services.waiting import iso
from storage.db import Database
from storage.oncall_repo import StoredOverride, add_override, load_overrides

if TYPE_CHECKING:  # httpx and icalendar load only where a rotation has a calendar
    import httpx

    from bot.services.ical_feed import FeedStatus, IcalFeed

__all__ = ["KEEP", "OncallError", "OncallService"]  # OncallError lives in bot.services.oncall_view

log = logging.getLogger("nudgebot.oncall")
Job = Callable[[datetime], Awaitable[object]]
RELOAD_EVERY = timedelta(seconds=30)


class OncallService(OncallView):
    def __init__(
        self,
        config: Config,
        db: Database,
        *,
        now: Callable[[], datetime] = utcnow,
        http: httpx.AsyncClient | None = None,
        reload_every: timedelta = RELOAD_EVERY,
    ) -> None:
        super().__init__(config, now=now)
        self.db = db
        self.reload_every = reload_every
        self._http = http
        self._own_http = http is None
        self.feeds: dict[str, IcalFeed] = {}
        calendars = [r for r in config.rotations.values() if r.ical is not None]
        if calendars:
            from bot.services.ical_feed import IcalFeed, person_resolver

            resolve = person_resolver(config)
            self.feeds = {r.id: IcalFeed(r, resolve) for r in calendars}
        self._stored_loaded = False
        self._task: asyncio.Task[None] | None = None
        self._job: Job | None = None
        started = now()
        for feed in self.feeds.values():
            if not feed.is_url:
                feed.load_file(started)
        self._rebuild()

    # --- schedules -----------------------------------------------------------------------

    def problem(self, rotation_id: str) -> str | None:
        """Why the rotation's schedule is incomplete right now (a calendar that failed)."""
        feed = self.feeds.get(rotation_id)
        if feed is not None and feed.error is not None:
            return feed.error
        return super().problem(rotation_id)

    def feed_status(self) -> dict[str, FeedStatus]:
        return {rid: feed.status() for rid, feed in self.feeds.items()}

    def _rebuild(self) -> None:
        self.use(self._stored, {rid: (f.schedule, f.where) for rid, f in self.feeds.items()})

    # --- taking a turn -------------------------------------------------------------------

    async def take(
        self,
        rotation_id: str,
        person: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        length: timedelta | None = None,
        by: str = "",
        note: str = "",
    ) -> StoredOverride:
        """Store an override: ``person`` is on call from ``start`` (default now) for ``length``
        or until ``end``; with neither, until the turn on call at ``start`` ends."""
        now = self.now()
        if rotation_id not in self.config.rotations:
            raise OncallError(self.unknown(rotation_id))
        if person not in self.config.team:
            known = ", ".join(self.config.team) or "nobody is on the team"
            raise OncallError(f"unknown person {person!r} (team: {known})")
        if end is not None and length is not None:
            raise OncallError("give either a length (--for) or an end (--until), not both")
        begin = (start or now.replace(microsecond=0)).astimezone(UTC)
        if length is not None:
            if length <= timedelta(0):
                raise OncallError(f"the length must be more than zero, not {length}")
            end = begin + length
        elif end is None:
            end = self._default_end(rotation_id, begin)
        end = end.astimezone(UTC)
        if end <= now:
            raise OncallError(f"the end {iso(end)} lies in the past (now {iso(now)})")
        if end <= begin:
            raise OncallError(f"the end {iso(end)} is not after the start {iso(begin)}")
        await self.refresh_overrides()
        stored = await add_override(
            self.db, rotation=rotation_id, person=person, start=begin, end=end,
            created_at=now, created_by=by, note=note,
        )  # fmt: skip
        self._stored = (*self._stored, stored)
        self._rebuild()
        return stored

    def _default_end(self, rotation_id: str, begin: datetime) -> datetime:
        turn = self.turn_at(rotation_id, begin)
        if turn is not None:
            return turn.end
        shift = self.config.rotations[rotation_id].shift
        if shift is not None:
            return begin + shift
        raise OncallError(
            f"nobody is on call in {rotation_id!r} at {iso(begin)}, so there is no turn to "
            "take over; say how long with --for (e.g. 2h) or --until"
        )

    # --- refreshing ----------------------------------------------------------------------

    async def refresh_overrides(self) -> bool:
        """Reload stored overrides; True when they changed. A database error keeps the last."""
        try:
            stored = tuple(await load_overrides(self.db, ending_after=self.now() - KEEP))
        except Exception as exc:
            log.warning("could not load stored on-call overrides: %s", exc)
            return False
        self._stored_loaded = True
        if stored == self._stored:
            return False
        self._stored = stored
        self._rebuild()
        return True

    async def refresh(self, *, force: bool = False) -> None:
        """Stored overrides, changed calendar files, and calendar URLs that are due."""
        changed = await self.refresh_overrides()
        now = self.now()
        for feed in self.feeds.values():
            try:
                if not feed.is_url:
                    changed |= await feed.reload_file(now)
                elif force or feed.due(now):
                    changed |= await feed.fetch(self.http, now)
            except Exception:  # one broken feed must not stop the others, nor the loop
                log.exception("rotation %s: calendar refresh failed", feed.rotation)
        if changed:
            self._rebuild()

    async def prepare(self) -> None:
        """Before answering a command or request: the database's overrides as they are now,
        and a first fetch of calendar URLs never tried (the running loop keeps them fresh)."""
        await self.refresh_overrides()
        now = self.now()
        fresh = False
        for feed in self.feeds.values():
            if feed.is_url and feed.next_due is None:
                fresh |= await feed.fetch(self.http, now)
        if fresh:
            self._rebuild()

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(headers={"User-Agent": "nudgebot (on-call calendar)"})
        return self._http

    # --- the loop ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, job: Job | None = None) -> None:
        """Run the refresh loop (and ``job(now)`` at each turn change); idempotent."""
        if self.running or not self.config.rotations:
            return
        self._job = job
        self._task = asyncio.create_task(self._run(), name="nudgebot-oncall")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        await self.stop()
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:
                log_failure(log, "on-call refresh failed; the next round retries", exc)
            now = self.now()
            if self._job is not None:
                try:
                    await self._job(now)
                except Exception as exc:
                    log_failure(log, "on-call job failed; the next round retries", exc)
            await asyncio.sleep(self._sleep_for(now))

    def _sleep_for(self, now: datetime) -> float:
        wake = now + self.reload_every
        for rid in self.rotation_ids:
            turn = self.turn_at(rid, now)
            if turn is not None and now < turn.end < wake:
                wake = turn.end
        for feed in self.feeds.values():
            if feed.is_url and feed.next_due is not None and now < feed.next_due < wake:
                wake = feed.next_due
        return max(0.05, (wake - now).total_seconds() + 0.01)
