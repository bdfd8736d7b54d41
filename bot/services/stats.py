"""Response-time report: the data behind `nudgebot stats` and `/api/stats`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from bot.domain.stats import ratio, summarise
from bot.services.engagement import engagement, weekly_team_counts, weeks_between
from bot.services.waiting import iso
from storage.db import Database
from storage.queries import first_responses_between, periods_between, team_messages_between


@dataclass
class _Bucket:
    first: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    met: int = 0
    judged: int = 0
    unanswered: int = 0
    replies: int = 0
    broadcasts: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "first_response": summarise(self.first).as_dict(),
            "reply": summarise(self.reply).as_dict(),
            "sla_met_ratio": ratio(self.met, self.judged),
            "unanswered": self.unanswered,
            "broadcasts": self.broadcasts,
            "replies": self.replies,
        }


async def report(
    db: Database, since: datetime, until: datetime, now: datetime, *, tz: tzinfo = UTC
) -> dict[str, Any]:
    """Waiting periods and conversations that *started* in [since, until).

    ``engagement`` splits the window into weeks on the ``tz`` clock (bot.services.engagement).

    SLA: a period is met when answered by its due time, missed when answered later or still
    open past it; periods ended by "not needed", not yet due, or without a policy are not
    judged. `unanswered` counts periods still open.
    """
    async with db.read() as session:
        periods = await periods_between(session, since, until)
        firsts = await first_responses_between(session, since, until)
        counts = await team_messages_between(session, since, until)
        weeks, omitted = weeks_between(since, until, tz)
        weekly = await weekly_team_counts(session, weeks)
    total = _Bucket()
    by_source: dict[str, _Bucket] = defaultdict(_Bucket)
    by_person: dict[str, _Bucket] = defaultdict(_Bucket)
    for p in periods:
        buckets = [total, by_source[p.source]]
        if p.answered_by and p.end_reason == "reply":
            buckets.append(by_person[p.answered_by])
        if p.ended_at is None:
            for b in buckets:
                b.unanswered += 1
        elif p.end_reason == "reply":
            seconds = (p.ended_at - p.started_at).total_seconds()
            for b in buckets:
                b.reply.append(seconds)
        if p.due_at is not None and p.end_reason != "not_needed":
            answered_at = p.ended_at if p.end_reason == "reply" else None
            if answered_at is not None or now >= p.due_at:
                met = answered_at is not None and answered_at <= p.due_at
                for b in buckets:
                    b.judged += 1
                    b.met += int(met)
    for f in firsts:
        if f.first_response_at is None:
            continue
        seconds = (f.first_response_at - f.started_at).total_seconds()
        buckets = [total, by_source[f.source]]
        if f.first_responder:
            buckets.append(by_person[f.first_responder])
        for b in buckets:
            b.first.append(seconds)
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
        "engagement": engagement(weeks, omitted, weekly, periods, firsts, str(tz)),
    }
