"""Delivery as per-recipient lanes: a slow or rate-limited recipient holds only its own lane,
nothing is lost or sent twice under 429s, and two deliverers on one database never send a
nudge twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from adapters.console.recording import RecordingMessenger
from bot.domain.events import Author, InboundMessage
from bot.domain.ports import Delivered, DeliveryError, NudgeView
from bot.services.nudge_deliver import Deliverer
from storage import outbox_repo as outbox
from storage.db import Database, connect
from tests.engine.engine_kit import Clock, Harness, berlin, make_config

T0 = berlin("2026-06-03 10:00")
DUE = T0 + timedelta(minutes=20)  # everything below is due by then
ALICE, BOB = "UALICE", "UBOB"  # their Slack ids, as engine_kit's person() spells them


class LaneMessenger(RecordingMessenger):
    """Declares a lane depth as the paced Slack messenger does and records what is in
    flight per recipient. ``held`` blocks a recipient's sends until its event is set; with
    ``refuse`` nudge ``n`` is first refused ``n % 3`` times with a 429-like ``retry_after``
    (at most twice, inside the harness's five attempts)."""

    lane_depth = 2

    def __init__(self, refuse: bool = False) -> None:
        super().__init__("slack")
        self.inflight: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.held: dict[str, asyncio.Event] = {}
        self.refuse = refuse
        self.tries: Counter[int] = Counter()
        self.after_send: Callable[[NudgeView], None] = lambda _view: None

    async def send_nudge(self, view: NudgeView) -> Delivered:
        to = view.recipient.address
        self.inflight[to] += 1
        self.most[to] = max(self.most[to], self.inflight[to])
        try:
            if to in self.held:
                await self.held[to].wait()
            await asyncio.sleep(0)  # let the other lanes and the results writer in
            self.tries[view.nudge_id] += 1
            if self.refuse and self.tries[view.nudge_id] <= view.nudge_id % 3:
                self.fail_next(1, DeliveryError("slack: rate limited", retry_after=2.0))
            delivered = await super().send_nudge(view)
            self.after_send(view)
            return delivered
        finally:
            self.inflight[to] -= 1


async def two_recipients(
    db: Database, messenger: RecordingMessenger, alice: int, bob: int
) -> Harness:
    """``alice`` waiting conversations owned by alice (due first), then ``bob`` owned by bob."""
    config = make_config(remind_every=None)
    acme = config.sources["acme"]
    beta = replace(acme, id="beta", owner="bob", channels=("C0BETA001",))
    h = Harness(
        db, Clock(T0), replace(config, sources={"acme": acme, "beta": beta}), messenger=messenger
    )
    msgs = [
        InboundMessage(
            source=source,
            platform="slack",
            message_id=f"{source}-{n}",
            thread=f"{source}{n}",
            channel=channel,
            at=T0 + timedelta(seconds=n + offset),
            author=Author(f"cust-{n}", "Dana"),
            is_team=False,
            text="Where is my order?",
        )
        for source, channel, count, offset in (
            ("acme", "C0CUST001", alice, 0),
            ("beta", "C0BETA001", bob, 60),
        )
        for n in range(count)
    ]
    await h.runtime.inbox.ingest_batch(msgs)
    return h


def sent_ids(messenger: RecordingMessenger) -> Counter[int]:
    return Counter(v.nudge_id for v in messenger.nudges)


async def test_a_held_recipient_does_not_hold_up_the_others(db: Database) -> None:
    messenger = LaneMessenger()
    h = await two_recipients(db, messenger, alice=12, bob=3)
    h.engine.deliverer.concurrency = 4  # fewer slots than alice alone has nudges
    messenger.held[ALICE] = gate = asyncio.Event()

    def release_alice_once_bob_has_all(_view: NudgeView) -> None:
        if len([v for v in messenger.nudges if v.recipient.address == BOB]) == 3:
            gate.set()

    messenger.after_send = release_alice_once_bob_has_all
    # A batch-at-a-time deliverer would claim four of alice's nudges and wait on them for
    # ever; the guard turns that into a failure instead of a hang.
    result = await asyncio.wait_for(h.tick(DUE), 60)
    assert result.delivered == 15
    assert sent_ids(messenger) == Counter({i: 1 for i in sent_ids(messenger)})
    assert Counter(v.recipient.address for v in messenger.nudges) == {ALICE: 12, BOB: 3}
    assert messenger.most[ALICE] <= messenger.lane_depth  # queued in her lane only
    assert {r.state for r in await h.rows()} == {"sent"}


async def test_nothing_lost_or_duplicated_under_429s(db: Database) -> None:
    messenger = LaneMessenger(refuse=True)
    h = await two_recipients(db, messenger, alice=25, bob=25)
    h.engine.deliverer.concurrency = 3
    h.clock.set(DUE)
    for _ in range(60):
        await h.tick()
        rows = await h.rows()
        if all(r.state == "sent" for r in rows):
            break
        h.clock.advance(seconds=3)  # past every Retry-After (2 s, at most 10 % jitter)
    rows = await h.rows()
    assert len(rows) == 50 and {r.state for r in rows} == {"sent"}
    assert sent_ids(messenger) == Counter({r.id: 1 for r in rows})  # each exactly once
    assert len([c for c in messenger.calls if not c.ok]) == sum(r.id % 3 for r in rows)
    calls: Counter[int] = Counter(c.view.nudge_id for c in messenger.calls if c.view)
    assert {r.id: r.attempts for r in rows} == dict(calls)  # one claim per call, none lost
    assert max(messenger.most.values()) <= messenger.lane_depth


async def test_two_deliverers_never_send_one_nudge_twice(db_url: str) -> None:
    db = connect(db_url)
    replicas = [connect(db_url), connect(db_url)]
    try:
        messenger = LaneMessenger()
        h = await two_recipients(db, messenger, alice=40, bob=40)
        h.clock.set(DUE)
        async with db.write() as s:  # plan all, as a tick would, but deliver nothing yet
            ids = [await h.cid(f"acme{n}") for n in range(40)]
            ids += [await h.cid(f"beta{n}") for n in range(40)]
            await h.engine.planner.plan(s, ids, DUE)
        deliverers = [
            Deliverer(r, h.engine.settings, {"slack": messenger}, h.clock, concurrency=8)
            for r in replicas
        ]
        claimed = await asyncio.gather(*(d.deliver(1000) for d in deliverers))
        assert sum(claimed) == 80
        rows = await h.rows()
        assert {r.state for r in rows} == {"sent"} and {r.attempts for r in rows} == {1}
        assert sent_ids(messenger) == Counter({r.id: 1 for r in rows})
        # Each replica keeps its own lanes: at most two per recipient per replica.
        assert max(messenger.most.values()) <= 2 * len(deliverers)
    finally:
        for d in replicas:
            await d.dispose()
        await db.dispose()


async def test_claim_for_lanes_fills_idle_lanes_first_and_skips_full_ones(db: Database) -> None:
    h = await two_recipients(db, LaneMessenger(), alice=5, bob=5)
    async with db.write() as s:
        ids = [await h.cid(f"acme{n}") for n in range(5)]
        ids += [await h.cid(f"beta{n}") for n in range(5)]
        await h.engine.planner.plan(s, ids, DUE)
    alice, bob = ("slack", ALICE), ("slack", BOB)
    async with db.write() as s:
        first = await outbox.claim_for_lanes(s, DUE, 3, {}, lambda _lane: 2)
    # alice's are due first, yet bob's idle lane gets one before alice gets a second.
    assert Counter(outbox.lane(c) for c in first.rows) == {alice: 2, bob: 1}
    assert not first.drained
    load = {alice: 2, bob: 1}
    async with db.write() as s:
        second = await outbox.claim_for_lanes(s, DUE, 10, load, lambda _lane: 2)
    assert [outbox.lane(c) for c in second.rows] == [bob]  # alice is full: left out
    assert second.drained
    async with db.write() as s:  # nothing is handed out twice
        rest = await outbox.claim_for_lanes(s, DUE, 10, {}, lambda _lane: 10)
    taken = {c.id for c in first.rows + second.rows}
    assert len(rest.rows) == 10 - len(taken) and not taken & {c.id for c in rest.rows}


async def test_a_messenger_that_does_not_pace_gets_no_lane_cap(db: Database) -> None:
    plain = await two_recipients(db, RecordingMessenger("slack"), alice=1, bob=0)
    deliverer = plain.engine.deliverer
    assert deliverer.lane_depth(("slack", ALICE)) == deliverer.concurrency
    assert deliverer.lane_depth(("telegram", "42")) == deliverer.concurrency
    deliverer.messengers = {"slack": LaneMessenger()}
    assert deliverer.lane_depth(("slack", ALICE)) == 2


async def test_a_claim_whose_lease_ends_this_instant_goes_before_the_backlog(
    db: Database,
) -> None:
    """A row whose holder died is claimed again before rows still pending, from the instant its
    lease ends (as ``claim_deliveries`` takes it then): it was due before all of them."""
    h = await two_recipients(db, LaneMessenger(), alice=2, bob=1)
    async with db.write() as s:
        ids = [await h.cid("acme0"), await h.cid("acme1"), await h.cid("beta0")]
        await h.engine.planner.plan(s, ids, DUE)
    alice, bob = ("slack", ALICE), ("slack", BOB)
    async with db.write() as s:  # bob's nudge is claimed by a deliverer that then dies
        (dead,) = (await outbox.claim_for_lanes(s, DUE, 1, {alice: 2}, lambda _lane: 2)).rows
    assert outbox.lane(dead) == bob
    ends = DUE + outbox.LEASE
    async with db.write() as s:
        before = await outbox.claim_for_lanes(
            s, ends - timedelta(microseconds=1), 1, {}, lambda _: 2
        )
        (again,) = (await outbox.claim_for_lanes(s, ends, 1, {}, lambda _lane: 2)).rows
    assert [outbox.lane(c) for c in before.rows] == [alice]  # still held: the backlog goes on
    assert (again.id, again.attempt) == (dead.id, dead.attempt + 1)


async def test_an_expired_claim_and_a_retry_of_one_lane_are_each_claimed_once(
    db: Database,
) -> None:
    """An expired claim is also due by its ``next_attempt_at`` (its lease end), so both of the
    claim's queries read it: it must count once against its lane's depth, or the lane's retry
    due right after it no longer fits beside it."""
    h = await two_recipients(db, LaneMessenger(), alice=0, bob=2)
    async with db.write() as s:
        await h.engine.planner.plan(s, [await h.cid("beta0"), await h.cid("beta1")], DUE)
    async with db.write() as s:
        dead, failed = (await outbox.claim_for_lanes(s, DUE, 2, {}, lambda _lane: 2)).rows
    ends = DUE + outbox.LEASE  # the first deliverer dies; the other's send is to be retried
    retry_at = ends + timedelta(seconds=1)
    async with db.write() as s:
        assert await outbox.mark_retry(s, failed.id, failed.attempt, retry_at, "timeout")
    async with db.write() as s:
        got = await outbox.claim_for_lanes(s, retry_at, 10, {}, lambda _lane: 2)
    assert sorted(c.id for c in got.rows) == sorted([dead.id, failed.id]) and got.drained
