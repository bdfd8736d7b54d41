"""Crash recovery: a claimed-but-unsent nudge is not held hostage by a dead process.

SQLite (one process per file): claims older than the process are void at start, so the
first tick delivers them. PostgreSQL: a claim is a 10 s lease, renewed while its call is in
flight — a slow call keeps its row from the other replicas, a dead replica's row passes on
when its lease ends. The real-process kill -9 runs are in ``bench/faults_bench.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.app import Runtime
from bot.domain.events import Author, InboundMessage
from bot.domain.ports import Delivered, NudgeUpdate, NudgeView
from storage import nudges_repo
from storage import outbox_repo as outbox
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Nudge
from storage.outbox_repo import LEASE
from tests.conftest import BACKEND
from tests.engine.engine_kit import Clock, Harness, RecordingMessenger, berlin, make_config
from tests.faults.pgserver import free_port

T0 = berlin("2026-06-03 10:00")
DUE = T0 + timedelta(minutes=15)


class SlowMessenger(RecordingMessenger):
    """Holds every send until the test lets it go: a platform call still in flight."""

    def __init__(self) -> None:
        super().__init__("slack")
        self.started = asyncio.Event()
        self.gate = asyncio.Event()

    async def send_nudge(self, view: NudgeView) -> Delivered:
        self.started.set()
        await self.gate.wait()
        return await super().send_nudge(view)

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None:
        await super().update_nudge(ref, view, update)


async def claimed_by_a_dead_process(h: Harness) -> outbox.Claimed:
    """Plan the due nudge and claim it, as a process that then died would have."""
    h.clock.set(DUE)
    async with h.db.write() as s:
        await h.engine.planner.plan(s, [await h.cid("t1")], DUE)
    async with h.db.write() as s:
        (claimed,) = await outbox.claim_deliveries(s, DUE, 10)
    return claimed


async def test_a_dead_process_claim_is_void_at_start_on_sqlite_and_waits_its_lease_on_pg(
    db: Database,
) -> None:
    h = Harness(db, Clock(T0), make_config(remind_every=None))
    await h.customer("t1", T0)
    claimed = await claimed_by_a_dead_process(h)

    restarted = Harness(db, h.clock, h.config)  # the next process on the same database
    freed = await restarted.engine.void_stale_claims()
    await restarted.tick(DUE + timedelta(seconds=1))
    (row,) = await restarted.rows()
    if BACKEND == "sqlite":
        assert freed == 1
        assert len(restarted.sent) == 1  # the first tick, not a lease later
        assert row.state == "sent" and row.attempts == claimed.attempt + 1
    else:
        assert freed == 0  # another replica's claim may be live: only its lease ends it
        assert restarted.sent == [] and row.state == "sending"
        await restarted.tick(DUE + LEASE)
        assert len(restarted.sent) == 1
    # Either way the dead claim's late report is refused: its attempt is stale.
    async with db.write() as s:
        assert not await outbox.mark_sent(s, claimed.id, claimed.attempt, "late", DUE)


async def test_a_slow_call_keeps_its_claim_past_the_lease(db: Database) -> None:
    slow = SlowMessenger()
    h = Harness(db, Clock(T0), make_config(remind_every=None), messenger=slow)
    h.engine.deliverer.renew_every = 0.02
    await h.customer("t1", T0)
    h.clock.set(DUE)
    sending = asyncio.create_task(h.engine.tick())
    await asyncio.wait_for(slow.started.wait(), 10)

    # Three leases later, the call still on the wire: the lease has been renewed.
    later = h.clock.set(DUE + 3 * LEASE)
    for _ in range(500):
        (row,) = await h.rows()
        if row.next_attempt_at == later + LEASE:
            break
        await asyncio.sleep(0.01)
    assert row.state == "sending" and row.next_attempt_at == later + LEASE
    other = Harness(db, h.clock, h.config)  # another replica, ticking meanwhile
    await other.tick()
    assert other.sent == []

    slow.gate.set()
    await asyncio.wait_for(sending, 10)
    (row,) = await h.rows()
    assert row.state == "sent" and row.attempts == 1 and len(slow.nudges) == 1
    assert row.next_attempt_at is None and row.lease_until is None


# Flood limits out of the way: this is about each claimed row going out once, so the 20
# nudges to Alice must go one by one, not batched into a summary (nudges.batch_after).
CONFIG = """\
timezone: UTC
nudges: {batch_after: 100, max_messages_per_hour: 100}
team:
  alice: {name: Alice, slack: U0ALICE01, owner: true}
policies:
  fast: {reply_within: 1s}
sources:
  hooks: {platform: webhook, secret: s3cret, owner: alice, policy: fast}
"""


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's start-up rule (one process per file)")
def test_run_delivers_a_dead_process_claims_on_its_first_tick(tmp_path: Path) -> None:
    """A real ``nudgebot run`` started on a file whose rows a killed process had claimed:
    each goes out once, on the first tick (well inside the required 5 s)."""
    url = f"sqlite:///{tmp_path / 'n.db'}"
    config = tmp_path / "nudgebot.yaml"
    config.write_text(CONFIG)
    env = {**os.environ, "DATABASE_URL": url, "NUDGEBOT_CONFIG": str(config)}
    upgrade(url)
    claimed = asyncio.run(_plan_and_claim(url, config))
    assert claimed == 20

    record = tmp_path / "sent.jsonl"
    started = time.monotonic()
    with (tmp_path / "run.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--port", str(free_port())],
            env={**env, "NUDGEBOT_MESSENGER": f"record:{record}"}, stdout=log, stderr=log,
        )  # fmt: skip
    try:
        while time.monotonic() - started < 30 and len(_lines(record)) < 20:
            time.sleep(0.1)
        took = time.monotonic() - started
        time.sleep(0.5)  # room for a stray second send
    finally:
        proc.terminate()
        proc.wait(20)
    sent = _lines(record)
    singles = [r["conversation"] for r in sent if r["kind"] == "nudge"]
    assert sorted(singles) == sorted(set(singles))  # each once
    assert [r for r in sent if r["kind"] != "nudge"] == []  # batching is off in CONFIG
    assert len(singles) == 20, (tmp_path / "run.log").read_text()[-2000:]
    assert took < 5.0 + 10.0, f"{took:.1f}s from spawn (interpreter start included)"


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


async def _plan_and_claim(url: str, config: Path) -> int:
    """What a process killed mid-delivery leaves behind: 20 customers waiting past their due
    time (stored as live events are), every nudge claimed, none sent."""
    runtime = Runtime.build(str(config), url)
    try:
        assert runtime.engine is not None
        engine = runtime.engine
        now = runtime.now()
        at = now - timedelta(minutes=5)
        messages = [
            InboundMessage(
                source="hooks",
                platform="webhook",
                message_id=f"m{i}",
                thread=f"t{i}",
                channel="",
                at=at,
                author=Author(f"c{i}", "Dana"),
                is_team=False,
                text="Hello?",
            )
            for i in range(20)
        ]
        await runtime.inbox.ingest_batch(messages)
        async with runtime.db.write() as s:
            ids = await nudges_repo.claim_due_conversations(s, now, 100)
            await engine.planner.plan(s, ids, now)
        async with runtime.db.write() as s:
            return len(await outbox.claim_deliveries(s, now, 100))
    finally:
        await runtime.close()


async def test_expired_claims_go_before_the_backlog(db: Database) -> None:
    """A dead process's claims were due before anything still pending: they are taken first,
    not queued behind a backlog by their lease end (which is what next_attempt_at holds)."""
    h = Harness(db, Clock(T0), make_config(remind_every=None))
    for n in range(5):
        await h.customer(f"t{n}", T0 + timedelta(seconds=n))
    now = h.clock.set(DUE + timedelta(seconds=5))
    async with db.write() as s:
        await h.engine.planner.plan(s, [await h.cid(f"t{n}") for n in range(5)], now)
    newest = max(r.id for r in await h.rows())
    async with db.write() as s:  # claimed by a process that then died: held for one lease
        await s.execute(
            update(Nudge)
            .where(Nudge.id == newest)
            .values(
                state="sending", attempts=1, lease_until=now + LEASE, next_attempt_at=now + LEASE
            )
        )
    async with db.write() as s:
        got = await outbox.claim_for_lanes(s, now + LEASE, 1, {}, lambda _lane: 99)
    # Four rows pending since DUE, one expired claim: the claim goes first.
    assert [(c.id, c.attempt) for c in got.rows] == [(newest, 2)]
