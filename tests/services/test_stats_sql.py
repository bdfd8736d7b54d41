"""The report aggregated in the database (storage.stats_queries) against the same figures
computed in Python from every row, on awkward data: durations with odd microseconds and
ties, groups of one and two, empty person names, open, "not needed" and undue periods, and
local days and weeks across a DST change. Medians and p90s must be equal to the bit."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.stats import summarise
from bot.services.engagement import daily_reply_times, weekly_engagement, weeks_between
from bot.services.stats import report
from storage.conversation_queries import first_responses_between, periods_between
from storage.db import Database
from storage.models import Conversation, WaitingPeriod

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 5, 12, 0, 0, 123456, tzinfo=UTC)  # DST ended on 2026-10-25
SOURCES = ("shop", "partners", "community")
PEOPLE = ("alice", "bob", "", None)


async def fill(db: Database, count: int = 400) -> None:
    rng = random.Random(16)
    rows: list[Any] = []
    for i in range(1, count + 1):
        source = SOURCES[i % 3]
        started = NOW - timedelta(
            seconds=rng.randint(0, 40 * 86400), microseconds=rng.randint(0, 999_999)
        )
        if i % 7 == 0:
            started = NOW - timedelta(days=3)  # ties: equal starts and durations
        kind = rng.choice(("reply", "reply", "reply", "open", "not_needed"))
        seconds = rng.choice((60, 61.5, rng.uniform(0, 9000), 0.000001))
        ended = None if kind == "open" else started + timedelta(seconds=seconds)
        if ended is not None and ended > NOW:
            ended = None
            kind = "open"
        who = rng.choice(PEOPLE)
        due = rng.choice((None, started + timedelta(minutes=15), started + timedelta(days=60)))
        first = started + timedelta(seconds=rng.uniform(0, 5000), microseconds=7) if i % 4 else None
        rows.append(Conversation(
            id=i, source=source, thread_key=f"t{i}", platform="webhook", thread=f"t{i}",
            started_at=started, first_response_at=first, first_responder=who if first else None,
            customer_messages=1,
        ))  # fmt: skip
        rows.append(WaitingPeriod(
            id=i, conversation_id=i, source=source, started_at=started, ended_at=ended,
            end_reason=None if kind == "open" else kind,
            answered_by=who if kind == "reply" else None, due_at=due,
        ))  # fmt: skip
    async with db.write() as s:
        s.add_all([r for r in rows if isinstance(r, Conversation)])
        await s.flush()
        s.add_all([r for r in rows if isinstance(r, WaitingPeriod)])


async def reference(db: Database, since: datetime, until: datetime) -> dict[str, Any]:
    """What report() computed from every row before it moved into the database."""
    async with db.read() as s:
        periods = await periods_between(s, since, until)
        firsts = await first_responses_between(s, since, until)
    groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in periods:
        keys = ["", f"s:{p.source}"] + (
            [f"p:{p.answered_by}"] if p.answered_by and p.end_reason == "reply" else []
        )
        if p.ended_at is not None and p.end_reason == "reply":
            for k in keys:
                groups[k]["reply"].append((p.ended_at - p.started_at).total_seconds())
    for f in firsts:
        if f.first_response_at is None:
            continue
        keys = ["", f"s:{f.source}"] + ([f"p:{f.first_responder}"] if f.first_responder else [])
        for k in keys:
            groups[k]["first"].append((f.first_response_at - f.started_at).total_seconds())
    return {k: {n: summarise(v).as_dict() for n, v in g.items()} for k, g in groups.items()}


async def test_sql_report_equals_python_over_every_row(db: Database) -> None:
    await fill(db)
    for days in (1, 3, 7, 30, 45):
        since = NOW - timedelta(days=days)
        got = await report(db, since, NOW, NOW, tz=BERLIN)
        want = await reference(db, since, NOW)
        for key, figures in want.items():
            if key == "":
                row = got
            elif key.startswith("s:"):
                row = got["by_source"][key[2:]]
            else:
                row = got["by_person"][key[2:]]
            for name, summary in figures.items():
                assert row["reply" if name == "reply" else "first_response"] == summary, (days, key)
        assert got["reply"]["count"] > 2 and got["first_response"]["count"] > 2


async def test_days_and_weeks_across_dst_equal_python(db: Database) -> None:
    await fill(db)
    async with db.read() as s:
        periods = await periods_between(s, NOW - timedelta(days=60), NOW)
    replies = [p for p in periods if p.ended_at is not None and p.end_reason == "reply"]

    days = await daily_reply_times(db, NOW, BERLIN, 30)
    for point in days:
        values = [(p.ended_at - p.started_at).total_seconds() for p in replies  # type: ignore[operator]
                  if p.started_at.astimezone(BERLIN).date() == point.day]  # fmt: skip
        assert point.reply == summarise(values), point.day

    since = NOW - timedelta(days=40)
    trend = await weekly_engagement(db, since, NOW, BERLIN, "Europe/Berlin")
    weeks, _ = weeks_between(since, NOW, BERLIN)
    for week, row in zip(weeks, trend["weeks"], strict=True):
        values = [(p.ended_at - p.started_at).total_seconds() for p in replies  # type: ignore[operator]
                  if week.start <= p.started_at < week.end]  # fmt: skip
        assert row["median_reply_seconds"] == summarise(values).median_seconds, week.key
