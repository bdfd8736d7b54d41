"""Channel and chat names for the dashboard: asked of the platform once, kept in the database,
asked again when a day old.

Pages never wait for a platform: ``names()`` answers from the cache at once and starts one
background refresh for the pairs it lacks (or holds for more than a day); until it lands the
page shows the id, and the next refresh of the page shows the name. A failed lookup is one
log line and is not retried for FAILED_RETRY, so a platform outage costs no page anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from bot.domain.channel_namer import ChannelNamer
from storage import channel_names_repo as repo
from storage.db import Database

log = logging.getLogger("nudgebot.names")
MAX_AGE = timedelta(days=1)
FAILED_RETRY = timedelta(minutes=10)
BATCH = 50  # lookups per background run: a first page of a big list fills in over a few runs

Pair = tuple[str, str]  # (platform, channel)


class ChannelNames:
    def __init__(
        self, db: Database, namers: Mapping[str, ChannelNamer], now: Callable[[], datetime]
    ) -> None:
        self.db = db
        self.namers = namers
        self.now = now
        self._task: asyncio.Task[int] | None = None
        self._failed: dict[Pair, datetime] = {}

    def wanted(self, pairs: Iterable[Pair]) -> set[Pair]:
        return {(p, c) for p, c in pairs if c and p in self.namers}

    async def names(self, pairs: Iterable[Pair]) -> dict[Pair, str]:
        """Cached names (absent: not known yet); schedules a refresh of what is missing."""
        wanted = self.wanted(pairs)
        if not wanted:
            return {}
        async with self.db.read() as session:
            cached = await repo.lookup(session, wanted)
        now = self.now()
        stale = {
            pair
            for pair in wanted
            if (pair not in cached or now - cached[pair].fetched_at >= MAX_AGE)
            and now - self._failed.get(pair, datetime.min.replace(tzinfo=now.tzinfo))
            >= FAILED_RETRY
        }
        if stale and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self.refresh(stale), name="channel-names")
        return {pair: got.name for pair, got in cached.items()}

    async def idle(self) -> None:
        """Wait for a running refresh (tests; shutdown)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def refresh(self, pairs: Iterable[Pair]) -> int:
        """Ask the platforms for up to BATCH names and store them; returns how many stored."""
        stored = 0
        for platform, channel in sorted(pairs)[:BATCH]:
            namer = self.namers.get(platform)
            if namer is None:
                continue
            try:
                name = await namer.channel_name(channel)
            except Exception as exc:  # a platform outage must not break the dashboard
                self._failed[(platform, channel)] = self.now()
                log.warning("%s name lookup for %s failed: %s", platform, channel, exc)
                continue
            if name is None:
                name = channel  # unknown to the platform: keep the id, ask again tomorrow
            async with self.db.write() as session:
                await repo.store(session, platform, channel, name, self.now())
            self._failed.pop((platform, channel), None)
            stored += 1
        return stored
