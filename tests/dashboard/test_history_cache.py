"""The dashboard's history figures: computed once, served for a minute, then served stale
while one background refresh runs, and recomputed in the request once too old."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.services.dashboard_history import FRESH, STALE_LIMIT, History, HistoryCache


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def figures(n: int) -> History:
    return History(datetime(2026, 11, 30, tzinfo=UTC), {"n": n}, [], {})


async def test_fresh_then_stale_while_revalidate_then_recomputed() -> None:
    clock = Clock()
    cache = HistoryCache(clock)
    computed = 0

    async def compute() -> History:
        nonlocal computed
        computed += 1
        return figures(computed)

    assert (await cache.get("30d", compute)).stats == {"n": 1}
    clock.t += FRESH - 1
    assert (await cache.get("30d", compute)).stats == {"n": 1} and computed == 1
    assert (await cache.get("7d", compute)).stats == {"n": 2}  # another window: its own
    clock.t += 2  # "30d" is now stale: served as it is, refreshed behind the request
    assert (await cache.get("30d", compute)).stats == {"n": 1}
    assert (await cache.get("30d", compute)).stats == {"n": 1}  # one refresh, not two
    await cache.idle()
    assert computed == 3
    assert (await cache.get("30d", compute)).stats == {"n": 3}
    clock.t += STALE_LIMIT + 1  # too old to show: the request computes
    assert (await cache.get("30d", compute)).stats == {"n": 4}


async def test_a_failed_refresh_keeps_the_figures(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    cache = HistoryCache(clock)

    async def good() -> History:
        return figures(1)

    async def bad() -> History:
        raise RuntimeError("database went away")

    await cache.get("30d", good)
    clock.t += FRESH + 1
    assert (await cache.get("30d", bad)).stats == {"n": 1}
    await cache.idle()
    assert "refreshing the dashboard's history figures failed" in caplog.text
    assert (await cache.get("30d", good)).stats == {"n": 1}  # still kept; refreshes again
    await cache.idle()


async def test_bounded_number_of_windows() -> None:
    cache = HistoryCache(Clock(), limit=3)

    async def compute() -> History:
        return figures(0)

    for window in ("1d", "2d", "3d", "4d"):
        await cache.get(window, compute)
    assert len(cache._kept) == 3 and "1d" not in cache._kept
