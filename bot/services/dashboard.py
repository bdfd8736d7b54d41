"""Everything the owners' dashboard shows, gathered in one place (the page only renders it).

The window (``since``) applies to the response-time tables and the SLA ratio; the chart is
always the last CHART_DAYS local days and the engagement trend the last TREND_WEEKS weeks, so
a page linked with ``?since=7d`` still shows the longer view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config import Config
from bot.domain.routing import Routing
from bot.services.dashboard_history import History, HistoryCache
from bot.services.digest import OnCallReport
from bot.services.engagement import (
    WEEK,
    DayPoint,
    daily_reply_times,
    local_midnight,
    monday_of,
    weekly_engagement,
)
from bot.services.stats import report
from bot.services.waiting_page import Page, Query, waiting_page
from storage.db import Database

CHART_DAYS = 30
TREND_WEEKS = 12
WAITING_ROWS = 50  # one page of the waiting list; the rest is a click (or a cursor) away


@dataclass(frozen=True)
class DashboardData:
    now: datetime
    since: datetime
    waiting: Page  # one page of the (filtered, sorted) waiting list, with counts
    stats: dict[str, Any]  # report() of [since, now): the `stats --json` dict
    days: list[DayPoint]
    engagement: dict[str, Any]
    oncall: Mapping[str, Any] | None  # `oncall --json`; None when no schedule is wired
    figures_at: datetime | None = None  # when stats/days/engagement were computed


async def gather(
    db: Database,
    config: Config,
    routing: Routing,
    now: datetime,
    since: datetime,
    oncall: OnCallReport | None = None,
    query: Query | None = None,
    cache: HistoryCache | None = None,
    window: str = "",
) -> DashboardData:
    """``window`` names the ``since`` choice as the user typed it (the cache's key)."""
    waiting = await waiting_page(db, routing, now, query or Query(limit=WAITING_ROWS))

    async def compute() -> History:
        return await history(db, config, now, since)

    past = await cache.get(window, compute) if cache is not None else await compute()
    on_call = await oncall(now) if oncall is not None else None
    return DashboardData(
        now, since, waiting, past.stats, past.days, past.engagement, on_call, past.computed_at
    )


async def history(db: Database, config: Config, now: datetime, since: datetime) -> History:
    tz = config.tz
    stats = await report(db, since, now, now, tz=tz)
    days = await daily_reply_times(db, now, tz, CHART_DAYS)
    trend_start = local_midnight(monday_of(now, tz) - (TREND_WEEKS - 1) * WEEK, tz)
    trend = await weekly_engagement(db, trend_start, now, tz, config.timezone)
    return History(now, stats, days, trend)


def default_since(now: datetime) -> datetime:
    return now - timedelta(days=CHART_DAYS)
