"""Engagement: does the team converse or only broadcast? Weekly and daily series for `stats`,
the API, the dashboard and the digest.

Weeks run Monday 00:00 to Monday 00:00 on the config's clock (``timezone:``), clipped to the
report window, so each week's replies and broadcasts add up to the report's totals. Per week:

* ``replies`` / ``broadcasts`` — team messages sent that week (as ``stats`` counts them);
* ``conversations`` — customer conversations that started that week, ``answered`` those of
  them that have a first team response by now, ``answered_ratio`` the share;
* ``median_reply_seconds`` — median reply time of waiting periods that started that week.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.stats import Summary, from_ranks, ratio
from bot.services.waiting import iso
from storage import stats_queries
from storage.conversation_queries import team_messages_per_bucket
from storage.db import Database
from storage.stats_queries import Ranked

# A window longer than this lists its latest weeks only (and says how many it left out).
MAX_WEEKS = 53
WEEK = timedelta(days=7)
_NONE = Summary(0, None, None)


@dataclass(frozen=True)
class Week:
    key: str  # ISO week of its Monday, e.g. 2026-W47
    start: datetime  # aware UTC, clipped to the window
    end: datetime


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def local_midnight(day: date, tz: tzinfo) -> datetime:
    # Through UTC, so a midnight that a DST change skips lands on the first real instant.
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def monday_of(at: datetime, tz: tzinfo) -> date:
    local = at.astimezone(tz).date()
    return local - timedelta(days=local.weekday())


def weeks_between(since: datetime, until: datetime, tz: tzinfo) -> tuple[list[Week], int]:
    """The local weeks that overlap [since, until), clipped to it: at most MAX_WEEKS, the
    latest; the second value counts the earlier weeks left out."""
    if until <= since:
        return [], 0
    last = monday_of(until - timedelta(microseconds=1), tz)
    earliest = last - (MAX_WEEKS - 1) * WEEK
    cut = local_midnight(earliest, tz)
    if since < cut:
        # Counted in UTC: a since of year 1 cannot be moved into every zone.
        first, omitted = earliest, -((since - cut) // WEEK)
    else:
        first, omitted = monday_of(since, tz), 0
    out: list[Week] = []
    day = first
    while day <= last:
        start = max(local_midnight(day, tz), since)
        end = min(local_midnight(day + WEEK, tz), until)
        if start < end:
            out.append(Week(week_key(day), start, end))
        day += WEEK
    return out, omitted


def week_bounds(weeks: Sequence[Week]) -> list[datetime]:
    """The weeks as bucket bounds: each starts where the one before ends."""
    if not weeks:
        return []
    return [w.start for w in weeks] + [weeks[-1].end]


async def weekly_team_counts(session: AsyncSession, weeks: Sequence[Week]) -> list[tuple[int, int]]:
    """(replies, broadcasts) per week, counted by the same query as the report's totals
    (grouped by week in one statement)."""
    found = await team_messages_per_bucket(session, week_bounds(weeks))
    return [found.get(i, (0, 0)) for i in range(len(weeks))]


def engagement(
    weeks: Sequence[Week],
    omitted: int,
    team_counts: Sequence[tuple[int, int]],
    started: Mapping[int, tuple[int, int]],
    replies: Mapping[int, Ranked],
    tz_name: str,
) -> dict[str, Any]:
    """``started``: per week index, conversations started and answered; ``replies``: per
    week index, the ranked reply times of periods started that week (storage.stats_queries)."""
    rows = []
    for i, week in enumerate(weeks):
        conversations, answered = started.get(i, (0, 0))
        ranked = replies.get(i)
        median = from_ranks(ranked.count, ranked.at).median_seconds if ranked else None
        rows.append(
            {
                "week": week.key,
                "from": iso(week.start),
                "to": iso(week.end),
                "replies": team_counts[i][0],
                "broadcasts": team_counts[i][1],
                "conversations": conversations,
                "answered": answered,
                "answered_ratio": ratio(answered, conversations),
                "median_reply_seconds": median,
            }
        )
    return {"timezone": tz_name, "weeks": rows, "weeks_omitted": omitted}


@dataclass(frozen=True)
class DayPoint:
    day: date
    reply: Summary


async def daily_reply_times(
    db: Database, until: datetime, tz: tzinfo, days: int = 30
) -> list[DayPoint]:
    """Median and p90 reply time of the waiting periods that started on each of the last
    ``days`` local days (today included), oldest first; days without replies have count 0.

    A local day is [its midnight, the next one's) in UTC (``local_midnight``): exactly the
    instants whose local date it is, DST changes included."""
    today = until.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    dates = [first + timedelta(days=i) for i in range(days)]
    bounds = [local_midnight(d, tz) for d in [*dates, today + timedelta(days=1)]]
    async with db.read() as session:
        await stats_queries.for_reports(session)
        *_, per_day = await stats_queries.reply_ranks(
            session, bounds[0], until, bounds, by_source=False
        )
    out = []
    for i, day in enumerate(dates):
        ranked = per_day.get(i)
        out.append(DayPoint(day, from_ranks(ranked.count, ranked.at) if ranked else _NONE))
    return out


async def weekly_engagement(
    db: Database, since: datetime, until: datetime, tz: tzinfo, tz_name: str
) -> dict[str, Any]:
    """``engagement`` of [since, until) alone, without the rest of the report."""
    weeks, omitted = weeks_between(since, until, tz)
    bounds = week_bounds(weeks)
    async with db.read() as session:
        await stats_queries.for_reports(session)
        counts = await weekly_team_counts(session, weeks)
        started = await stats_queries.started_per_bucket(session, bounds)
        *_, replies = await stats_queries.reply_ranks(
            session, since, until, bounds, by_source=False
        )
    return engagement(weeks, omitted, counts, started, replies, tz_name)
