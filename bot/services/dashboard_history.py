"""The dashboard's history panels (stats for the window, the reply-time chart, the 12-week
trend), kept for a minute so a page load does not re-read months of history.

These figures move slowly — a reply changes a median by a fraction — while reading them
costs seconds once the history reaches a million conversations; who is waiting, the part
that must be live, is read on every request. Per window (``?since=``), the first request
computes; after FRESH a request is served the kept figures at once while one background
task recomputes them (stale-while-revalidate); after STALE_LIMIT nobody is shown figures
that old and the request computes. The page says how old its figures are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.services.engagement import DayPoint

log = logging.getLogger("nudgebot.dashboard")
FRESH = 60.0  # seconds
STALE_LIMIT = 600.0


@dataclass(frozen=True)
class History:
    computed_at: datetime  # the clock of the computation (the app's, for the page)
    stats: dict[str, Any]
    days: list[DayPoint]
    engagement: dict[str, Any]


Compute = Callable[[], Awaitable[History]]


class HistoryCache:
    def __init__(self, clock: Callable[[], float] = time.monotonic, limit: int = 32) -> None:
        self.clock = clock
        self.limit = limit
        self._kept: dict[str, tuple[float, History]] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    async def get(self, key: str, compute: Compute) -> History:
        now = self.clock()
        kept = self._kept.get(key)
        if kept is not None:
            age = now - kept[0]
            if age < FRESH:
                return kept[1]
            if age < STALE_LIMIT:
                if key not in self._refreshing:
                    task = asyncio.create_task(self._refresh(key, compute), name="dash-history")
                    self._refreshing[key] = task
                return kept[1]
        value = await compute()
        self._keep(key, value)
        return value

    async def _refresh(self, key: str, compute: Compute) -> None:
        try:
            self._keep(key, await compute())
        except Exception:  # the kept figures stay; the next request tries again
            log.exception("refreshing the dashboard's history figures failed")
        finally:
            self._refreshing.pop(key, None)

    def _keep(self, key: str, value: History) -> None:
        if key not in self._kept and len(self._kept) >= self.limit:
            self._kept.pop(next(iter(self._kept)))  # windows typed by hand: bounded
        self._kept[key] = (self.clock(), value)

    async def idle(self) -> None:
        await asyncio.gather(*self._refreshing.values(), return_exceptions=True)
