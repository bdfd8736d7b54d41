"""Wakes the nudge engine: APScheduler in the process, holding no truth.

The database holds every due time. APScheduler's ``AsyncIOScheduler`` keeps two in-memory
jobs: a ``date`` job armed at the earliest due time found in the database (re-armed after
every tick, and earlier by ``poke(at)`` when ingest or an action makes something due sooner),
and an ``interval`` safety tick (``NUDGEBOT_TICK_SECONDS``, default 10 s) that catches what
another replica made due. Jobs only set an event; one worker task runs ticks one after
another, so a wake-up during a tick is never lost and ticks never overlap in a process.
Replicas coordinate through the database alone (``FOR UPDATE SKIP LOCKED``), never through
APScheduler, whose job stores must not be shared between processes.

A tick that fails because the database is away (restart, outage, a lock held too long) is
one warning line, not a traceback, and the next try comes after a backoff (``RETRY_FIRST``
doubling to ``RETRY_CAP``) rather than at the next safety tick: what fell due meanwhile goes
out within seconds of the database's return. Any other failure is a bug and logged in full.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.services.failures import log_failure

if TYPE_CHECKING:
    from bot.services.nudge_changes import Wakeup

log = logging.getLogger("nudgebot.scheduler")
TICK_ENV = "NUDGEBOT_TICK_SECONDS"
DEFAULT_TICK = 10.0
STUCK_BACKOFF = timedelta(milliseconds=250)
RETRY_FIRST = 0.5  # seconds after a failed tick
RETRY_CAP = 5.0
_WAKE_JOB = "nudgebot-wake"
_SAFETY_JOB = "nudgebot-safety-tick"


def tick_seconds(env: dict[str, str] | None = None) -> float:
    raw = (env if env is not None else os.environ).get(TICK_ENV, "").strip()
    if not raw:
        return DEFAULT_TICK
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{TICK_ENV}={raw!r} is not a number of seconds (e.g. 10)") from None
    if not 0.05 <= value <= 3600:
        raise ValueError(f"{TICK_ENV}={raw!r}: use between 0.05 and 3600 seconds")
    return value


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        tick: Callable[[], Awaitable[bool]],
        next_due: Callable[[], Awaitable[datetime | None]],
        *,
        interval: float = DEFAULT_TICK,
        clock: Callable[[], datetime] = _utcnow,
        wakeup: Wakeup | None = None,
    ) -> None:
        """``tick`` runs one round and says whether work is left; ``next_due`` reads the
        earliest due time from the database. ``clock`` is wall time (APScheduler's own).
        ``wakeup`` (the composition root's) reaches ``poke`` while this scheduler runs."""
        self._tick = tick
        self._next_due = next_due
        self._wakeup = wakeup
        self.interval = interval
        self._clock = clock
        self._aps: AsyncIOScheduler | None = None
        self._worker: asyncio.Task[None] | None = None
        self._event = asyncio.Event()
        self._armed: datetime | None = None
        self._stopping = False
        self.ticks = 0
        self.failures = 0  # consecutive failed ticks (0 once one succeeds)

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    async def start(self) -> None:
        if self.running:
            return
        self._event = asyncio.Event()
        self._stopping = False
        self._aps = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
        )
        self._aps.add_job(
            self._wake, "interval", seconds=self.interval, id=_SAFETY_JOB, replace_existing=True
        )
        self._aps.start()
        self._worker = asyncio.create_task(self._run(), name="nudgebot-scheduler")
        if self._wakeup is not None:
            self._wakeup.bind(self.poke)
        self._event.set()  # a first tick at once

    async def stop(self, grace: float = 30.0) -> None:
        """Let a tick in progress finish (its sends and their records), then stop; cancel it
        only after ``grace`` seconds. A cancelled tick is a crash: leases cover it."""
        self._stopping = True
        if self._wakeup is not None:
            self._wakeup.release(self.poke)
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=False)
        self._aps = None
        self._armed = None
        worker, self._worker = self._worker, None
        if worker is None:
            return
        self._event.set()
        try:
            await asyncio.wait_for(asyncio.shield(worker), grace)
        except TimeoutError:
            log.warning("nudge tick still running after %.0fs; cancelling it", grace)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    def poke(self, at: datetime) -> None:
        """Make sure a tick runs at ``at`` (or at once if it has passed)."""
        if not self.running:
            return
        if at <= self._clock():
            self._event.set()
            return
        if self._armed is None or at < self._armed:
            self._arm(at)

    def _arm(self, at: datetime) -> None:
        if self._aps is None:
            return
        self._armed = at
        # A sliver late rather than early: a tick a hair before the due time finds nothing.
        run_at = at + timedelta(milliseconds=1)
        self._aps.add_job(self._wake, "date", run_date=run_at, id=_WAKE_JOB, replace_existing=True)

    async def _wake(self) -> None:
        self._event.set()

    async def _failed(self, exc: Exception) -> None:
        """Log one line and wait out a backoff (a poke or the safety tick may end it early:
        both mean there is reason to try again), then tick again."""
        self.failures += 1
        delay = min(RETRY_CAP, RETRY_FIRST * 2 ** (self.failures - 1))
        log_failure(log, f"nudge tick failed; retry in {delay:.1f}s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), delay)
        self._event.set()

    async def _run(self) -> None:
        while not self._stopping:
            await self._event.wait()
            self._event.clear()
            if self._stopping:
                return
            self._armed = None
            started = self._clock()
            try:
                more = await self._tick()
                self.ticks += 1
                due = None if more else await self._next_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._failed(exc)
                continue
            if self.failures:
                log.info("nudge ticks work again after %d failure(s)", self.failures)
                self.failures = 0
            if more:
                self._event.set()
                await asyncio.sleep(0)  # let requests in between rounds
                continue
            if due is not None and due < started:
                # Due before this tick began and still there: someone else holds it (another
                # replica's lock). Look again shortly rather than spin on it.
                due = max(due, self._clock() + STUCK_BACKOFF)
            if due is not None:
                self.poke(due)
            await asyncio.sleep(0)  # never starve the event loop, whatever the engine does
