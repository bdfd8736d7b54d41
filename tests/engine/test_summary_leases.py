"""A summary whose platform call is slow keeps its claim: its lease is renewed while the call
is in flight (as single nudges' are, tests/faults/test_crash_recovery.py), so another
replica ticking meanwhile does not post it a second time."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from adapters.console.recording import RecordingMessenger
from bot.config import NudgeLimits
from bot.domain.ports import Delivered
from bot.domain.summary import SummaryView
from storage.db import Database
from storage.models import NudgeSummary
from storage.outbox_repo import LEASE
from tests.engine.engine_kit import Clock, Harness, berlin, make_config

T0 = berlin("2026-06-03 10:00")
DUE = T0 + timedelta(minutes=15, seconds=1)


class SlowSummaries(RecordingMessenger):
    """Holds every summary post until the test lets it go: a call still on the wire."""

    def __init__(self) -> None:
        super().__init__("slack")
        self.started = asyncio.Event()
        self.gate = asyncio.Event()

    async def send_summary(self, view: SummaryView) -> Delivered:
        self.started.set()
        await self.gate.wait()
        return await super().send_summary(view)


async def summary_row(db: Database) -> NudgeSummary:
    async with db.read() as s:
        return (await s.scalars(select(NudgeSummary))).one()


async def test_a_slow_summary_keeps_its_claim_past_the_lease(db: Database) -> None:
    slow = SlowSummaries()
    h = Harness(db, Clock(T0), make_config(remind_every=None, nudges=NudgeLimits()), messenger=slow)
    h.engine.summaries.renew_every = 0.02
    h.engine.summaries.call_timeout = 120.0  # the gate, not a timeout, ends the call
    for i in range(6):
        await h.customer(f"t{i}", T0 + timedelta(milliseconds=i))
    h.clock.set(DUE)
    sending = asyncio.create_task(h.engine.tick())
    await asyncio.wait_for(slow.started.wait(), 10)

    # Three leases later, the post still in flight: the summary's lease has been renewed.
    later = h.clock.set(DUE + 3 * LEASE)
    for _ in range(500):
        row = await summary_row(db)
        if row.next_attempt_at == later + LEASE:
            break
        await asyncio.sleep(0.01)
    assert row.state == "sending" and row.next_attempt_at == later + LEASE
    other = h.build(h.config)  # another replica, sending summaries meanwhile
    assert other.engine is not None
    assert await asyncio.wait_for(other.engine.summaries.run(), 10) == 0

    slow.gate.set()
    await asyncio.wait_for(sending, 10)
    row = await summary_row(db)
    assert row.state == "idle" and row.attempts == 1 and row.platform_ref is not None
    assert [c.kind for c in slow.calls if c.ok] == ["summary"]
