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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.stats import Summary, ratio, summarise
from bot.services.waiting import iso
from storage.db import Database
from storage.queries import (
    FirstResponseRecord,
    PeriodRecord,
    first_responses_between,
    periods_between,
    team_messages_between,
)

# A window longer than this lists its latest weeks only (and says how many it left out).
MAX_WEEKS = 53
WEEK = timedelta(days=7)


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


async def weekly_team_counts(session: AsyncSession, weeks: Sequence[Week]) -> list[tuple[int, int]]:
    """(replies, broadcasts) per week, counted by the same query as the report's totals."""
    out: list[tuple[int, int]] = []
    for week in weeks:
        counts = await team_messages_between(session, week.start, week.end)
        out.append((sum(c.replies for c in counts), sum(c.broadcasts for c in counts)))
    return out


def _index(weeks: Sequence[Week], at: datetime) -> int | None:
    for i, week in enumerate(weeks):
        if week.start <= at < week.end:
            return i
    return None


def engagement(
    weeks: Sequence[Week],
    omitted: int,
    team_counts: Sequence[tuple[int, int]],
    periods: Sequence[PeriodRecord],
    firsts: Sequence[FirstResponseRecord],
    tz_name: str,
) -> dict[str, Any]:
    replies: list[list[float]] = [[] for _ in weeks]
    started = [0] * len(weeks)
    answered = [0] * len(weeks)
    for p in periods:
        i = _index(weeks, p.started_at)
        if i is not None and p.ended_at is not None and p.end_reason == "reply":
            replies[i].append((p.ended_at - p.started_at).total_seconds())
    for f in firsts:
        i = _index(weeks, f.started_at)
        if i is not None:
            started[i] += 1
            answered[i] += int(f.first_response_at is not None)
    rows = []
    for i, week in enumerate(weeks):
        rows.append(
            {
                "week": week.key,
                "from": iso(week.start),
                "to": iso(week.end),
                "replies": team_counts[i][0],
                "broadcasts": team_counts[i][1],
                "conversations": started[i],
                "answered": answered[i],
                "answered_ratio": ratio(answered[i], started[i]),
                "median_reply_seconds": summarise(replies[i]).median_seconds,
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
    ``days`` local days (today included), oldest first; days without replies have count 0."""
    today = until.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    since = local_midnight(first, tz)
    async with db.read() as session:
        periods = await periods_between(session, since, until)
    buckets: dict[date, list[float]] = {first + timedelta(days=i): [] for i in range(days)}
    for p in periods:
        if p.ended_at is None or p.end_reason != "reply":
            continue
        day = p.started_at.astimezone(tz).date()
        if day in buckets:
            buckets[day].append((p.ended_at - p.started_at).total_seconds())
    return [DayPoint(day, summarise(values)) for day, values in sorted(buckets.items())]


async def weekly_engagement(
    db: Database, since: datetime, until: datetime, tz: tzinfo, tz_name: str
) -> dict[str, Any]:
    """``engagement`` of [since, until) alone, without the rest of the report."""
    weeks, omitted = weeks_between(since, until, tz)
    async with db.read() as session:
        periods = await periods_between(session, since, until)
        firsts = await first_responses_between(session, since, until)
        counts = await weekly_team_counts(session, weeks)
    return engagement(weeks, omitted, counts, periods, firsts, tz_name)
