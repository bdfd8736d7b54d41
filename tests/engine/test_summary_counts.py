"""``nudges_sent`` (``waiting --json``, ``/api/waiting``) counts a nudge delivered inside a
summary message as sent — once that summary has gone out, not while it is still owed."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.config import NudgeLimits
from bot.config.models import Escalation
from bot.services.waiting import list_waiting
from bot.services.waiting_page import Query, waiting_page
from storage.db import Database
from storage.models import Nudge
from storage.summaries_repo import BATCHED
from tests.engine.engine_kit import Clock, Harness, berlin, make_config

T0 = berlin("2026-06-03 10:00")


async def sent_counts(h: Harness) -> dict[int, int]:
    rows = await list_waiting(h.db, h.runtime.routing, h.clock())
    page = await waiting_page(h.db, h.runtime.routing, h.clock(), Query(limit=100))
    api = {r.conversation: r.nudges_sent for r in page.rows}
    cli = {r.conversation: r.nudges_sent for r in rows}
    assert api == cli  # the dashboard's page and `waiting --json` agree
    return cli


async def test_nudges_inside_a_summary_count_as_sent_once_it_is_out(db: Database) -> None:
    h = Harness(db, Clock(T0), make_config(remind_every=None, nudges=NudgeLimits()))
    cids = [await h.customer(f"t{i}", T0 + timedelta(milliseconds=i)) for i in range(8)]
    h.messenger.fail_next(1)
    await h.tick(T0 + timedelta(minutes=15, seconds=1))
    assert [c.kind for c in h.messenger.calls if c.ok] == []  # batched, its summary failed
    assert await sent_counts(h) == dict.fromkeys(cids, 0)

    await h.tick(T0 + timedelta(minutes=20))  # the retry posts it
    [summary] = [c for c in h.messenger.calls if c.ok]
    assert summary.kind == "summary" and summary.summary is not None
    assert summary.summary.waiting == 8
    assert await sent_counts(h) == dict.fromkeys(cids, 1)


async def test_a_single_nudge_and_a_summarised_one_both_count(db: Database) -> None:
    h = Harness(db, Clock(T0), make_config(remind_every=None, nudges=NudgeLimits()))
    first = await h.customer("early", T0 - timedelta(minutes=5))
    await h.tick(T0 + timedelta(minutes=10, seconds=1))  # its own nudge, alone
    assert [c.kind for c in h.messenger.calls if c.ok] == ["nudge"]
    burst = [await h.customer(f"t{i}", T0 + timedelta(milliseconds=i)) for i in range(6)]
    await h.tick(T0 + timedelta(minutes=15, seconds=1))
    assert [c.kind for c in h.messenger.calls if c.ok] == ["nudge", "summary"]
    assert await sent_counts(h) == {first: 1, **dict.fromkeys(burst, 1)}


async def test_escalations_batched_to_someone_else_are_listed_apart(db: Database) -> None:
    """Bob is not responsible (alice owns the source) but the escalations come to him: his
    summary counts them as escalated, not as waiting on him, and lists the oldest with the
    batched nudge behind each — read from his batched nudges, not from everything waiting."""
    config = make_config(remind_every=None, nudges=NudgeLimits(), escalate_after="20m",
                         escalate_to=Escalation("person", "bob"))  # fmt: skip
    h = Harness(db, Clock(T0), config)
    cids = [await h.customer(f"t{i}", T0 + timedelta(milliseconds=i)) for i in range(7)]
    await h.tick(T0 + timedelta(minutes=15, seconds=1))  # alice: one summary of seven
    await h.tick(
        T0 + timedelta(minutes=35, seconds=1)
    )  # due + 20m: the escalations to bob, batched
    posted = [c.summary for c in h.messenger.calls if c.ok and c.kind == "summary"]
    assert [(v.recipient.person, v.waiting, v.escalated) for v in posted if v] == [
        ("alice", 7, 0),
        ("bob", 0, 7),
    ]
    bob = posted[1]
    assert bob is not None
    assert [i.conversation_id for i in bob.oldest] == cids[:5]
    async with db.read() as s:
        batched = dict(
            (await s.execute(
                select(Nudge.conversation_id, Nudge.id)
                .where(Nudge.recipient_person == "bob", Nudge.state == BATCHED)
            )).tuples().all()
        )  # fmt: skip
    assert [i.nudge_id for i in bob.oldest] == [batched[c] for c in cids[:5]]
