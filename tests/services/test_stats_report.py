"""`report()` on a small hand-computed scenario: every number of the stats JSON checked."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.events import Author, InboundMessage
from bot.inbox.inbox import Inbox
from bot.inbox.store import IngestResult, NoPlanning, Rules, recompute
from bot.services.stats import report
from storage.db import Database
from storage.models import ActionRecord, Conversation

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
RULES = Rules(due_at=lambda _source, since: since + timedelta(minutes=10))


async def ingest(db: Database, messages: Sequence[InboundMessage], rules: Rules) -> IngestResult:
    """The inbox's write of one batch, on its own (no nudge planning in these tests)."""
    return await Inbox(db, rules).ingest_batch(messages)


def t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def m(
    source: str,
    thread: str,
    mid: str,
    minute: float,
    *,
    team: bool = False,
    person: str | None = None,
    author: str = "cust",
    text: str = "help please",
) -> InboundMessage:
    return InboundMessage(
        source=source,
        platform="webhook",
        message_id=mid,
        thread=thread,
        at=t(minute),
        author=Author(author),
        is_team=team,
        text=text,
        person=person,
    )


SCENARIO = [
    # web/a: answered by alice after 5 min (due at 10: met); "thanks!" opens nothing.
    m("web", "a", "a1", 0, author="c-a"),
    m("web", "a", "a2", 5, team=True, person="alice", author="U-ALICE"),
    m("web", "a", "a3", 6, author="c-a", text="thanks!"),
    # web/b: bob answers after 30 min (due at 20: missed), then alice a follow-up in 2 min.
    m("web", "b", "b1", 10, author="c-b"),
    m("web", "b", "b2", 40, team=True, person="bob", author="U-BOB"),
    m("web", "b", "b3", 50, author="c-b", text="still broken"),
    m("web", "b", "b4", 52, team=True, person="alice", author="U-ALICE"),
    # shop/c: never answered; due at 10, so missed by "now".
    m("shop", "c", "c1", 0, author="c-c"),
    # shop/d: marked "not needed" by alice at 15 (below): neither met nor missed.
    m("shop", "d", "d1", 5, author="c-d"),
    # shop/news: a broadcast by bob: no customer ever speaks there.
    m("shop", "news", "n1", 30, team=True, person="bob", author="U-BOB", text="We are live!"),
    # shop/e: an unknown team author (imported history) answers exactly at the due time.
    m("shop", "e", "e1", 60, author="c-e"),
    m("shop", "e", "e2", 70, team=True, author="ShopHelp"),
]


# The `stats --json` contract (DESIGN.md); the report may carry more keys than these.
CONTRACT = (
    "since", "until", "first_response", "reply", "sla_met_ratio", "unanswered", "broadcasts",
    "replies", "by_source", "by_person",
)  # fmt: skip


def contract(got: dict[str, Any]) -> dict[str, Any]:
    assert set(CONTRACT) <= set(got)
    return {k: got[k] for k in CONTRACT}


def summary(count: int, median: float | None, p90: float | None) -> dict[str, Any]:
    return {"count": count, "median_seconds": median, "p90_seconds": p90}


def bucket(
    first: dict[str, Any],
    reply: dict[str, Any],
    sla: float | None,
    unanswered: int,
    broadcasts: int,
    replies: int,
) -> dict[str, Any]:
    return {
        "first_response": first,
        "reply": reply,
        "sla_met_ratio": sla,
        "unanswered": unanswered,
        "broadcasts": broadcasts,
        "replies": replies,
    }


async def load(db: Database) -> None:
    await ingest(db, SCENARIO, RULES)
    async with db.write() as s:
        cid = (
            await s.execute(
                select(Conversation.id).where(
                    Conversation.source == "shop", Conversation.thread == "d"
                )
            )
        ).scalar_one()
        s.add(ActionRecord(conversation_id=cid, kind="not_needed", person="alice", at=t(15)))
        await s.flush()
        await recompute(s, [cid], RULES, NoPlanning())


async def test_hand_computed_report(db: Database) -> None:
    await load(db)
    got = await report(db, t(-60), t(24 * 60), now=t(120))

    # Reply times (s): web/a 300, web/b 1800 and 120, shop/e 600 -> sorted 120 300 600 1800.
    # median 450; p90 at rank 0.9*3 = 2.7: 600 + 0.7 * 1200 = 1440.
    # SLA judged: a met, b missed, b met, c missed (open past due), e met -> 3/5; d not judged.
    # First responses: a 300, b 1800, e 600 -> median 600, p90 at rank 1.8: 600 + 0.8*1200.
    expected = {
        "since": "2026-11-28T09:00:00Z",
        "until": "2026-11-29T10:00:00Z",
        **bucket(summary(3, 600.0, 1560.0), summary(4, 450.0, 1440.0), 0.6, 1, 1, 4),
        "by_source": {
            "shop": bucket(summary(1, 600.0, 600.0), summary(1, 600.0, 600.0), 0.5, 1, 1, 1),
            "web": bucket(summary(2, 1050.0, 1650.0), summary(3, 300.0, 1500.0), 0.6667, 0, 0, 3),
        },
        "by_person": {
            "ShopHelp": bucket(summary(1, 600.0, 600.0), summary(1, 600.0, 600.0), 1.0, 0, 0, 1),
            "alice": bucket(summary(1, 300.0, 300.0), summary(2, 210.0, 282.0), 1.0, 0, 0, 2),
            "bob": bucket(summary(1, 1800.0, 1800.0), summary(1, 1800.0, 1800.0), 0.0, 0, 1, 1),
        },
    }
    # Engagement (one week: the window lies inside 2026-W48) is checked in tests/dashboard/.
    assert got.pop("engagement")["weeks"][0]["week"] == "2026-W48"
    assert _approx(contract(got)) == expected
    assert json.loads(json.dumps(got)) == got  # plain JSON, as the CLI and the API print it
    assert list(got["by_person"]) == sorted(got["by_person"])


async def test_open_period_is_judged_only_once_due(db: Database) -> None:
    await load(db)
    # At 00:09 shop/c is still inside its 10 minutes: a, b (twice), e are judged, 3 met.
    early = await report(db, t(-60), t(24 * 60), now=t(9))
    assert early["sla_met_ratio"] == 0.75
    assert early["unanswered"] == 1
    assert early["by_source"]["shop"]["sla_met_ratio"] == 1.0
    # Exactly at the due time it counts as missed.
    at_due = await report(db, t(-60), t(24 * 60), now=t(10))
    assert at_due["sla_met_ratio"] == 0.6


async def test_window_selects_by_start_time(db: Database) -> None:
    await load(db)
    got = await report(db, t(30), t(24 * 60), now=t(120))
    # Periods starting in the window: web/b's second (120 s, alice) and shop/e (600 s).
    assert _approx(got["reply"]) == summary(2, 360.0, 552.0)
    assert got["sla_met_ratio"] == 1.0
    assert got["unanswered"] == 0
    # Conversations starting in the window: only shop/e.
    assert got["first_response"] == summary(1, 600.0, 600.0)
    # Team messages sent in the window: bob's broadcast (30) and replies at 40, 52 and 70.
    assert (got["broadcasts"], got["replies"]) == (1, 3)
    assert got["by_person"]["bob"]["replies"] == 1
    assert got["by_person"]["bob"]["reply"]["count"] == 0  # his answer's period began earlier


async def test_empty_database(db: Database) -> None:
    got = await report(db, t(0), t(60), now=t(60))
    assert got == {
        "since": "2026-11-28T10:00:00Z",
        "until": "2026-11-28T11:00:00Z",
        **bucket(summary(0, None, None), summary(0, None, None), None, 0, 0, 0),
        "by_source": {},
        "by_person": {},
        "engagement": {
            "timezone": "UTC",
            "weeks": [
                {
                    "week": "2026-W48",
                    "from": "2026-11-28T10:00:00Z",
                    "to": "2026-11-28T11:00:00Z",
                    "replies": 0,
                    "broadcasts": 0,
                    "conversations": 0,
                    "answered": 0,
                    "answered_ratio": None,
                    "median_reply_seconds": None,
                },
            ],
            "weeks_omitted": 0,
        },
    }


async def test_report_does_not_depend_on_arrival(db: Database) -> None:
    await load(db)
    expected = await report(db, t(-60), t(24 * 60), now=t(120))
    await ingest(db, list(reversed(SCENARIO)), RULES)
    for message in SCENARIO[::3]:
        await ingest(db, [message], RULES)
    assert await report(db, t(-60), t(24 * 60), now=t(120)) == expected


def _approx(value: Any) -> Any:
    """Round floats so hand-computed decimals compare exactly."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("customer_id", "team_id", "is_reply"),
    [
        ("m1", "m2", True),  # same instant, the customer's id sorts first: an answer
        ("m2", "m1", False),  # the team spoke first in that instant: neither reply nor broadcast
        ("B", "a", True),  # code point order ("B" < "a"), not a locale's
        ("a-2", "a1", True),  # "-" < "1"; locales that skip punctuation would disagree
    ],
)
async def test_same_instant_replies_follow_message_id_order(
    db: Database, customer_id: str, team_id: str, is_reply: bool
) -> None:
    await ingest(
        db,
        [
            m("web", "x", customer_id, 0, author="c"),
            m("web", "x", team_id, 0, team=True, person="bob", author="U-BOB"),
        ],
        RULES,
    )
    got = await report(db, t(-60), t(60), now=t(60))
    assert (got["replies"], got["broadcasts"]) == (int(is_reply), 0)
    assert got["reply"]["count"] == int(is_reply)
    assert got["unanswered"] == int(not is_reply)
    assert got["first_response"]["count"] == int(is_reply)
