"""The engagement report: weekly replies vs broadcasts, answered share, reply-time trend; in
`stats`, in a form that adds up, on any clock, over any range; served by indexes."""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import Runtime
from bot.services.engagement import MAX_WEEKS, daily_reply_times, weeks_between
from bot.services.stats import report
from storage import conversation_queries as queries
from storage import report_queries
from tests.dashboard.kit import LAST_WEEK, NOW, WEEK_BEFORE, at
from tests.plans import product_plans

BERLIN = ZoneInfo("Europe/Berlin")


def week(got: dict[str, Any], key: str) -> dict[str, Any]:
    [found] = [w for w in got["engagement"]["weeks"] if w["week"] == key]
    return found


async def test_weeks_hand_computed(seeded: Runtime) -> None:
    got = await report(seeded.db, at(16, 0), NOW, NOW)
    assert [w["week"] for w in got["engagement"]["weeks"]] == ["2026-W47", "2026-W48", "2026-W49"]
    last = week(got, "2026-W48")
    assert (last["from"], last["to"]) == ("2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z")
    assert last["replies"] == LAST_WEEK["replies"]
    assert last["broadcasts"] == LAST_WEEK["broadcasts"]
    assert last["conversations"] == LAST_WEEK["conversations"]
    assert last["answered"] == LAST_WEEK["answered"]
    assert last["answered_ratio"] == 0.75
    assert last["median_reply_seconds"] == statistics.median(LAST_WEEK["reply_seconds"])
    before = week(got, "2026-W47")
    assert {k: before[k] for k in WEEK_BEFORE} == WEEK_BEFORE
    assert before["median_reply_seconds"] == (1800 + 600) / 2
    # This week so far: two customers waiting, nobody answered, nothing sent.
    now = week(got, "2026-W49")
    assert (now["conversations"], now["answered"], now["replies"]) == (2, 0, 0)
    assert now["answered_ratio"] == 0.0 and now["median_reply_seconds"] is None
    assert now["to"] == "2026-11-30T09:30:00Z"  # clipped to the window


async def test_weeks_add_up_to_the_totals(seeded: Runtime) -> None:
    # A window starting mid-week: the first week is clipped, and the sums still match.
    got = await report(seeded.db, at(18, 12), NOW, NOW)
    weeks = got["engagement"]["weeks"]
    assert weeks[0]["from"] == "2026-11-18T12:00:00Z"
    assert sum(w["replies"] for w in weeks) == got["replies"]
    assert sum(w["broadcasts"] for w in weeks) == got["broadcasts"]
    assert sum(w["answered"] for w in weeks) == got["first_response"]["count"]


async def test_weeks_follow_the_configured_clock(seeded: Runtime) -> None:
    # In Berlin, W48 starts at 23:00 UTC on the 22nd: still nothing of W47's data moves.
    got = await report(seeded.db, at(16, 0), NOW, NOW, tz=BERLIN)
    assert got["engagement"]["timezone"] == "Europe/Berlin"
    last = week(got, "2026-W48")
    assert (last["from"], last["to"]) == ("2026-11-22T23:00:00Z", "2026-11-29T23:00:00Z")
    assert last["replies"] == LAST_WEEK["replies"]


def test_week_split_handles_dst_and_huge_ranges() -> None:
    # The week of the October DST change in Berlin (Sunday the 25th) is 169 hours long.
    weeks, omitted = weeks_between(
        datetime(2026, 10, 12, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC), BERLIN
    )
    assert omitted == 0
    assert [w.key for w in weeks] == ["2026-W42", "2026-W43", "2026-W44", "2026-W45"]
    assert weeks[0].start == datetime(2026, 10, 12, tzinfo=UTC)  # clipped to the window
    assert weeks[1].end - weeks[1].start == timedelta(hours=169)
    assert weeks[2].start == datetime(2026, 10, 25, 23, tzinfo=UTC)
    # Year one to now, west of UTC: capped to the latest MAX_WEEKS weeks, the rest counted.
    weeks, omitted = weeks_between(
        datetime(1, 1, 1, tzinfo=UTC), NOW, ZoneInfo("America/Los_Angeles")
    )
    assert len(weeks) == MAX_WEEKS and weeks[-1].key == "2026-W49"
    assert omitted > 100_000
    assert weeks_between(NOW, NOW, UTC) == ([], 0)


async def test_stats_over_a_huge_range_and_an_empty_database(runtime: Runtime) -> None:
    got = await report(runtime.db, datetime(1, 1, 1, tzinfo=UTC), NOW, NOW)
    assert got["replies"] == 0
    assert len(got["engagement"]["weeks"]) == MAX_WEEKS
    assert all(w["conversations"] == 0 for w in got["engagement"]["weeks"])


async def test_daily_reply_times(seeded: Runtime) -> None:
    days = await daily_reply_times(seeded.db, NOW, UTC, 30)
    assert len(days) == 30 and days[-1].day == NOW.date()
    by_day = {d.day.day: d.reply for d in days if d.reply.count}
    assert by_day[17].median_seconds == 1800 and by_day[24].p90_seconds == 7200
    assert set(by_day) == {17, 18, 23, 24, 25}


A, B = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
REPORT_RANGES: dict[str, tuple[Callable[[AsyncSession], Awaitable[object]], str]] = {
    "periods_between": (
        lambda s: queries.periods_between(s, A, B),
        "ix_waiting_periods_started_at",
    ),
    "slowest_periods": (
        lambda s: report_queries.slowest_periods(s, A, B, B),
        "ix_waiting_periods_started_at",
    ),
    "first_responses_between": (
        lambda s: queries.first_responses_between(s, A, B),
        "ix_conversations_started_at",
    ),
    "conversations_page": (
        lambda s: report_queries.conversations_page(s, A, B, after=(A, 7)),
        "ix_conversations_started_at",
    ),
    "team_messages_between": (
        lambda s: queries.team_messages_between(s, A, B),
        "ix_messages_at",
    ),
}


@pytest.mark.parametrize("read", sorted(REPORT_RANGES))
async def test_report_ranges_are_index_scans(runtime: Runtime, read: str) -> None:
    """The statements the report's own query functions send, explained."""
    query, index = REPORT_RANGES[read]

    async def run() -> object:
        async with runtime.db.read() as session:
            return await query(session)

    plan = "\n".join(await product_plans(runtime.db, run))
    assert index in plan, plan
