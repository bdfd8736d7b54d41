"""The in-process scheduler: APScheduler wakes the engine, the database holds the truth.

These run the real AsyncIOScheduler, so they wait on events (bounded by timeouts), never on
fixed sleeps, and assert no wall-clock durations.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.scheduler import Scheduler, tick_seconds
from bot.services.nudge_changes import Wakeup


class FakeEngine:
    def __init__(self) -> None:
        self.ticks = 0
        self.due: datetime | None = None
        self.ticked = asyncio.Event()
        self.more = 0
        self.running = 0
        self.overlap = False
        self.release = asyncio.Event()
        self.release.set()
        self.began = asyncio.Event()

    async def tick(self) -> bool:
        self.running += 1
        self.began.set()
        self.overlap |= self.running > 1
        await self.release.wait()
        self.ticks += 1
        self.running -= 1
        self.ticked.set()
        if self.more:
            self.more -= 1
            return True
        return False

    async def next_due(self) -> datetime | None:
        return self.due


async def next_tick(engine: FakeEngine) -> None:
    engine.ticked.clear()
    await asyncio.wait_for(engine.ticked.wait(), 5)


async def test_first_tick_at_start_and_wake_at_the_due_time() -> None:
    engine = FakeEngine()
    scheduler = Scheduler(engine.tick, engine.next_due, interval=3600)
    await scheduler.start()
    try:
        await asyncio.wait_for(engine.ticked.wait(), 5)
        assert engine.ticks == 1
        engine.due = datetime.now(UTC) + timedelta(milliseconds=50)
        scheduler.poke(engine.due)
        await next_tick(engine)  # the date job fires; the hourly safety tick would not
        assert engine.ticks == 2
    finally:
        await scheduler.stop()


async def test_the_wakeup_it_was_built_with_reaches_it_only_while_it_runs() -> None:
    """The composition root hands one ``Wakeup`` to the planner's side and the scheduler:
    a due time sent through it arms the scheduler while it runs, and goes nowhere after."""
    engine, wakeup = FakeEngine(), Wakeup()
    scheduler = Scheduler(engine.tick, engine.next_due, interval=3600, wakeup=wakeup)
    assert not wakeup.bound  # built, not started
    await scheduler.start()
    try:
        await asyncio.wait_for(engine.ticked.wait(), 5)
        assert wakeup.bound
        wakeup(datetime.now(UTC) + timedelta(milliseconds=50))
        await next_tick(engine)  # the date job armed through the wakeup fires
        assert engine.ticks == 2
    finally:
        await scheduler.stop()
    assert not wakeup.bound


async def test_a_due_time_found_in_the_database_arms_the_next_wake() -> None:
    engine = FakeEngine()
    engine.due = datetime.now(UTC) + timedelta(milliseconds=80)
    scheduler = Scheduler(engine.tick, engine.next_due, interval=3600)
    await scheduler.start()
    try:
        await next_tick(engine)
        engine.due = None
        await next_tick(engine)  # armed from next_due() after the first tick
        assert engine.ticks == 2
    finally:
        await scheduler.stop()


async def test_safety_tick_runs_without_any_poke() -> None:
    engine = FakeEngine()
    scheduler = Scheduler(engine.tick, engine.next_due, interval=0.05)
    await scheduler.start()
    try:
        for _ in range(3):
            await next_tick(engine)
        assert engine.ticks >= 3
    finally:
        await scheduler.stop()


async def test_more_work_ticks_again_at_once_and_ticks_never_overlap() -> None:
    engine = FakeEngine()
    engine.more = 3
    scheduler = Scheduler(engine.tick, engine.next_due, interval=3600)
    await scheduler.start()
    try:
        while engine.ticks < 4:
            await next_tick(engine)
        scheduler.poke(datetime.now(UTC) - timedelta(seconds=1))  # a due time in the past
        await next_tick(engine)
        assert engine.ticks == 5 and not engine.overlap
    finally:
        await scheduler.stop()


async def test_stop_lets_a_running_tick_finish() -> None:
    engine = FakeEngine()
    engine.release.clear()
    scheduler = Scheduler(engine.tick, engine.next_due, interval=3600)
    await scheduler.start()
    await asyncio.wait_for(engine.began.wait(), 5)
    stopping = asyncio.create_task(scheduler.stop())
    await asyncio.sleep(0)
    assert not stopping.done()
    engine.release.set()
    await asyncio.wait_for(stopping, 5)
    assert engine.ticks == 1 and not scheduler.running


async def test_a_failing_tick_does_not_stop_the_scheduler() -> None:
    engine = FakeEngine()
    calls = 0

    async def flaky() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database went away")
        return await engine.tick()

    scheduler = Scheduler(flaky, engine.next_due, interval=0.05)
    await scheduler.start()
    try:
        await next_tick(engine)
        assert calls >= 2
    finally:
        await scheduler.stop()


def test_tick_seconds_from_the_environment() -> None:
    assert tick_seconds({}) == 10.0
    assert tick_seconds({"NUDGEBOT_TICK_SECONDS": "2.5"}) == 2.5
    with pytest.raises(ValueError, match="NUDGEBOT_TICK_SECONDS"):
        tick_seconds({"NUDGEBOT_TICK_SECONDS": "soon"})
    with pytest.raises(ValueError, match="between"):
        tick_seconds({"NUDGEBOT_TICK_SECONDS": "0"})
