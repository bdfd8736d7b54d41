"""Response-time report: the data behind `nudgebot stats` and `/api/stats`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from bot.domain.stats import Summary, from_ranks, ratio
from bot.services.engagement import engagement, week_bounds, weekly_team_counts, weeks_between
from bot.services.waiting import iso
from storage import stats_queries
from storage.conversation_queries import team_messages_between
from storage.db import Database
from storage.stats_queries import Ranked

_NONE = Summary(0, None, None)


@dataclass
class _Bucket:
    first: Summary = _NONE
    reply: Summary = _NONE
    met: int = 0
    judged: int = 0
    unanswered: int = 0
    replies: int = 0
    broadcasts: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "first_response": self.first.as_dict(),
            "reply": self.reply.as_dict(),
            "sla_met_ratio": ratio(self.met, self.judged),
            "unanswered": self.unanswered,
            "broadcasts": self.broadcasts,
            "replies": self.replies,
        }


def summary(r: Ranked | None) -> Summary:
    return from_ranks(r.count, r.at) if r is not None else _NONE


async def report(
    db: Database, since: datetime, until: datetime, now: datetime, *, tz: tzinfo = UTC
) -> dict[str, Any]:
    """Waiting periods and conversations that *started* in [since, until).

    ``engagement`` splits the window into weeks on the ``tz`` clock (bot.services.engagement).

    SLA: a period is met when answered by its due time, missed when answered later or still
    open past it; periods ended by "not needed", not yet due, or without a policy are not
    judged. `unanswered` counts periods still open.

    The database does the counting and ranking (storage.stats_queries): a month of a
    million-conversation history is a few grouped statements, not its rows in Python.
    Sources and people appear as they did when the rows were read here: a source with any
    period or counted team message, or a first response; a person credited with a reply or a
    first response, or with a counted team message.
    """
    weeks, omitted = weeks_between(since, until, tz)
    bounds = week_bounds(weeks)
    async with db.read() as session:
        await stats_queries.for_reports(session)
        periods = await stats_queries.period_counts(session, since, until, now)
        reply_all, reply_source, reply_person, reply_week = await stats_queries.reply_ranks(
            session, since, until, bounds
        )
        first_all, first_source, first_person = await stats_queries.first_response_ranks(
            session, since, until
        )
        counts = await team_messages_between(session, since, until)
        weekly = await weekly_team_counts(session, weeks)
        started = await stats_queries.started_per_bucket(session, bounds)
    total = _Bucket(summary(first_all), summary(reply_all))
    by_source: dict[str, _Bucket] = defaultdict(_Bucket)
    by_person: dict[str, _Bucket] = defaultdict(_Bucket)
    for (source, person), n in periods.items():
        buckets = [total, by_source[source]]
        if person is not None:
            buckets.append(by_person[person])
        for b in buckets:
            b.unanswered += n.unanswered
            b.judged += n.judged
            b.met += n.met
    for groups, firsts, replies in (
        (by_source, first_source, reply_source),
        (by_person, first_person, reply_person),
    ):
        for key in firsts:
            groups[key].first = summary(firsts[key])
        for key in replies:
            groups[key].reply = summary(replies[key])
    for c in counts:
        for b in (total, by_source[c.source], by_person[c.who]):
            b.replies += c.replies
            b.broadcasts += c.broadcasts
    return {
        "since": iso(since),
        "until": iso(until),
        **total.as_json(),
        "by_source": {k: v.as_json() for k, v in sorted(by_source.items())},
        "by_person": {k: v.as_json() for k, v in sorted(by_person.items())},
        "engagement": engagement(weeks, omitted, weekly, started, reply_week, str(tz)),
    }
