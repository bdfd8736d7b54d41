"""Catch-up and reconcile: read back what a platform delivered while we were not listening.

One service for every platform that offers the capability (``bot.domain.catchup.CatchUpFeed``:
"messages since a cursor"). It runs every scope (a channel of a source) at start, when an
adapter says it reconnected (``CatchUpWake``), and every scope's ``every`` after that. The cursor
is the store itself — the newest stored message of the channel minus a small overlap, or the
source's ``backfill`` ago when nothing is stored — so a crash at any point repeats a little
reading and loses nothing. Everything read goes through ``ingest``, the door live events use
(idempotent by message id), in batches small enough that a live event's write never waits
long behind ours. On PostgreSQL one replica at a time reads a scope (an advisory lock per
scope; a replica that does not get it skips the scope this round).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.catchup import RECENT, CatchUpFeed, Scope, ThreadState, Window, window
from bot.domain.events import InboundMessage
from bot.inbox.store import thread_key
from storage import catchup_queries as q
from storage.cursors_repo import SourceLock
from storage.db import Database

log = logging.getLogger("nudgebot.catchup")
Ingest = Callable[[Sequence[InboundMessage]], Awaitable[None]]
# (source, channel, messages read back, failed): one round of one scope, for /metrics.
Observe = Callable[[str, str, int, bool], None]
BATCH = 200  # messages per write transaction: short enough that live events slip between
RETRY = 60.0  # seconds before a failed scope is tried again (when its ``every`` is longer)
CONCURRENCY = 4  # scopes read at once: API latency overlaps the store's writes


@dataclass
class ScopeStatus:
    runs: int = 0
    failures: int = 0  # consecutive
    stored: int = 0  # messages handed to ingest, all runs
    last_ok: datetime | None = None
    last_error: str | None = None
    next_at: float = 0.0  # loop time of the next run


@dataclass
class Report:
    scopes: int = 0
    skipped: int = 0  # another replica holds the scope
    failed: int = 0
    messages: int = 0


class _Stored:
    """The store's view of threads, handed to feeds while they read."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def threads(self, scope: Scope, threads: Sequence[str]) -> Mapping[str, ThreadState]:
        keys = [thread_key(scope.channel, t) for t in threads]
        async with self.db.read() as session:
            states = await q.thread_states(session, scope.source, keys)
        return {s.thread: s for s in states}


@dataclass
class _Entry:
    feed: CatchUpFeed
    scope: Scope
    lock: SourceLock
    status: ScopeStatus = field(default_factory=ScopeStatus)


class CatchUpWake:
    """ "Read every scope back now": what an adapter pulls when it reconnected after a gap
    (Slack's Socket Mode "hello", through ``Core.catch_up_now``). Built first by the
    composition root and handed to the core the adapters are given and to the
    ``CatchUpService``, which waits on it. Pulled while no round runs, the next round reads
    everything; in a process without catch-up nobody waits on it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._pulled = False

    def __call__(self) -> None:
        self._pulled = True
        self._event.set()

    def take(self) -> bool:
        """Whether it was pulled since the last ``take`` (and reset it)."""
        self._event.clear()
        pulled, self._pulled = self._pulled, False
        return pulled

    async def wait(self, seconds: float) -> None:
        """Until pulled, or ``seconds`` have passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), max(0.0, seconds))


class CatchUpService:
    def __init__(
        self,
        db: Database,
        ingest: Ingest,
        feeds: Sequence[CatchUpFeed],
        *,
        now: Callable[[], datetime],
        batch: int = BATCH,
        concurrency: int = CONCURRENCY,
        observe: Observe | None = None,
        wake: CatchUpWake | None = None,
    ) -> None:
        self.db = db
        self.wake = wake or CatchUpWake()
        self.observe = observe
        self.ingest = ingest
        self.feeds = list(feeds)
        self.now = now
        self.batch = batch
        self._gate = asyncio.Semaphore(max(1, concurrency))
        self._stored = _Stored(db)
        self.entries = [
            _Entry(feed, scope, SourceLock(db, scope.key))
            for feed in self.feeds
            for scope in feed.scopes()
        ]
        self._all = True  # the first round reads every scope
        self._task: asyncio.Task[None] | None = None

    # -- one scope ------------------------------------------------------------------------
    async def _window(self, scope: Scope) -> Window:
        now = self.now()
        async with self.db.read() as session:
            newest = await q.newest_in_channel(session, scope.source, scope.channel)
            open_threads = await q.open_threads(session, scope.source, scope.channel)
            recent = await q.oldest_recent_start(session, scope.source, scope.channel, now - RECENT)
        return window(now, newest, open_threads, scope.backfill, [recent] if recent else [])

    async def _store(self, messages: Sequence[InboundMessage]) -> int:
        for start in range(0, len(messages), self.batch):
            await self.ingest(messages[start : start + self.batch])
        return len(messages)

    async def catch_up(self, entry: _Entry) -> int | None:
        """Read one scope and store what came back; None when another replica holds it."""
        if not await entry.lock.acquire():
            return None
        try:
            since = await self._window(entry.scope)
            stored = 0
            async for batch in entry.feed.read(entry.scope, since, self._stored):
                stored += await self._store(batch)
            return stored
        finally:
            await entry.lock.release()

    async def _run_entry(self, entry: _Entry, report: Report, loop_now: float) -> None:
        scope, status = entry.scope, entry.status
        async with self._gate:
            try:
                stored = await self.catch_up(entry)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the platform or the store is away: next round retries
                status.failures += 1
                # One line: slack_sdk's errors span lines (URL, then the answer).
                status.last_error = " ".join(f"{exc.__class__.__name__}: {exc}".split())[:300]
                # A minute, doubling while it keeps failing (a channel the bot was removed
                # from fails until someone acts), never longer than the scope's own round.
                delay = min(RETRY * 2 ** min(status.failures - 1, 10), scope.every.total_seconds())
                status.next_at = loop_now + delay
                report.failed += 1
                if self.observe is not None:
                    self.observe(scope.source, scope.channel, 0, True)
                log.warning("catch-up of %s %s failed (%s); retrying in %.0fs",
                            scope.source, scope.channel, status.last_error, delay)  # fmt: skip
                return
        status.next_at = loop_now + scope.every.total_seconds()
        if stored is None:
            report.skipped += 1
            return
        if status.failures:
            log.info("catch-up of %s %s works again", scope.source, scope.channel)
        status.failures, status.last_error = 0, None
        status.runs += 1
        status.stored += stored
        status.last_ok = self.now()
        report.messages += stored
        if self.observe is not None:
            self.observe(scope.source, scope.channel, stored, False)

    async def run_once(self, *, due_only: bool = False) -> Report:
        """Every scope (or only those due), up to ``concurrency`` at a time."""
        loop_now = asyncio.get_running_loop().time()
        chosen = [e for e in self.entries if not due_only or e.status.next_at <= loop_now]
        report = Report(scopes=len(chosen))
        await asyncio.gather(*(self._run_entry(e, report, loop_now) for e in chosen))
        if report.messages or report.failed:
            log.info("caught up %d scopes: %d messages read back, %d failed, %d held elsewhere",
                     report.scopes, report.messages, report.failed, report.skipped)  # fmt: skip
        return report

    # -- the loop -------------------------------------------------------------------------
    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            everything = self.wake.take() or self._all
            self._all = False
            await self.run_once(due_only=not everything)
            nxt = min((e.status.next_at for e in self.entries), default=loop.time() + 3600)
            await self.wake.wait(nxt - loop.time())

    async def start(self) -> None:
        if self.entries and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._loop(), name="catch-up")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for entry in self.entries:
            await entry.lock.release()

    def failing(self) -> list[Scope]:
        """Scopes whose last round failed (the platform or the store refused)."""
        return [e.scope for e in self.entries if e.status.failures]

    def problem(self) -> str | None:
        """For /readyz: None while every scope's last round worked, else which failed."""
        failing = [e for e in self.entries if e.status.failures]
        if not failing:
            return None
        named = ", ".join(
            f"{e.scope.source} {e.scope.channel} ({e.status.failures}x: {e.status.last_error})"
            for e in failing[:5]
        )
        more = f" and {len(failing) - 5} more" if len(failing) > 5 else ""
        return f"catch-up failing for {named}{more}"

    def calls(self) -> int:
        return sum(feed.calls() for feed in self.feeds)
