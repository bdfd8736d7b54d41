"""Catch-up after downtime: the real slack_sdk client reads the fake Slack's history and
replies, the core's catch-up service stores what it missed through the live ingest path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from adapters.slack.catchup import MethodPacer, SlackCatchUp, slack_ts
from adapters.slack.events import ts_time
from adapters.slack.service import SlackService, SlackSettings
from bot.app import Runtime
from bot.domain.catchup import OVERLAP
from bot.domain.ports import ReplyTarget
from bot.services.catchup import CatchUpService, CatchUpWake
from bot.wiring.core import CoreService
from storage.cursors_repo import SourceLock
from storage.db import connect
from storage.models import Message
from tests.conftest import BACKEND
from tests.fakes.slack_api import APP_TOKEN, FakeSlack
from tests.slack.conftest import Clock, Slack
from tests.slack.slack_payloads import BOB, CUSTOMER, OTHER_TEAM, message, post

PARTNERS = "C0PARTNER1"  # the Slack Connect channel of the ``partners`` source
ACME = "C0CUST001"


class Sleeps:
    """Records what catch-up would have waited, without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def restarted(
    slack: Slack, settings: SlackSettings, runtime: Runtime, clock: Clock
) -> AsyncIterator[tuple[SlackService, CatchUpService, Sleeps]]:
    """A second Slack service over the same store (the process after its restart), with the
    catch-up service ``nudgebot run`` builds; pacing sleeps are recorded, not slept."""
    sleeps = Sleeps()
    wake = CatchUpWake()
    core = CoreService(runtime, catch_up=wake)
    service = SlackService(settings, core, runtime.config, clock.now)
    service.catchup.pacer = MethodPacer(sleep=sleeps)
    await service.start()
    catchup = CatchUpService(runtime.db, core.ingest, [service.catchup], now=clock.now, wake=wake)
    yield service, catchup, sleeps
    await catchup.stop()
    await service.stop()


async def stored(slack: Slack) -> dict[str, Message]:
    async with slack.runtime.db.read() as session:
        rows = (await session.scalars(select(Message))).all()
    return {m.message_id: m for m in rows}


async def waiting_threads(slack: Slack) -> set[str]:
    items = await slack.core.waiting()
    threads = set()
    for item in items:
        ref = await slack.core.conversation_ref(item.conversation_id)
        assert ref is not None
        threads.add(ref.thread)
    return threads


async def live(slack: Slack, channel: str, user: str, text: str, **kw: str) -> str:
    """A message Slack both keeps (history) and delivers as an event while we are up."""
    team = kw.pop("team", None)
    ts = slack.fake.post(channel, user, text, team=team or "T0ACME001", **kw)
    body = message(ts, user=user, text=text, channel=channel, team=team, **kw)
    assert (await post(slack.http, body)).status_code == 200
    return ts


async def test_downtime_scenario_new_question_waits_and_answered_thread_stops(
    slack: Slack, restarted: tuple[SlackService, CatchUpService, Sleeps]
) -> None:
    _service, catchup, _ = restarted
    first = await live(slack, PARTNERS, CUSTOMER, "Order 17 is late", team=OTHER_TEAM)
    assert await waiting_threads(slack) == {first}
    # Nudgebot is down: a customer asks something new, a colleague answers the first thread.
    slack.clock.advance(minutes=30)
    second = slack.fake.post(PARTNERS, CUSTOMER, "And my invoice?", team=OTHER_TEAM)
    slack.clock.advance(minutes=5)
    slack.fake.post(PARTNERS, BOB, "Shipped this morning", thread_ts=first)
    slack.clock.advance(minutes=5)
    # Started again: catch-up reads it back.
    report = await catchup.run_once()
    assert report.failed == 0 and report.messages >= 3
    assert await waiting_threads(slack) == {second}
    messages = await stored(slack)
    assert not messages[f"{PARTNERS}:{second}"].is_team
    reply = [m for m in messages.values() if m.author_id == BOB]
    assert [m.person for m in reply] == ["bob"]
    history = slack.fake.calls_to("conversations.history")
    assert {c.params["channel"] for c in history} == {ACME, PARTNERS}
    # History from the newest stored message minus the overlap, and only the answered thread
    # is read back with conversations.replies.
    [partners] = [c for c in history if c.params["channel"] == PARTNERS]
    assert ts_time(partners.params["oldest"]) == ts_time(first) - OVERLAP
    assert [c.params["ts"] for c in slack.fake.calls_to("conversations.replies")] == [first]
    # A second round finds nothing new and costs one history call per channel, no replies.
    before = len(slack.fake.calls)
    again = await catchup.run_once()
    assert again.failed == 0
    assert [c.method for c in slack.fake.calls[before:]] == ["conversations.history"] * 2
    assert await waiting_threads(slack) == {second}


async def test_empty_channel_starts_backfill_ago_and_pages_with_cursor(
    slack: Slack, restarted: tuple[SlackService, CatchUpService, Sleeps]
) -> None:
    service, catchup, _ = restarted
    service.catchup.page = 3
    old = slack.fake.post(ACME, CUSTOMER, "from long ago")
    slack.clock.advance(days=8)
    recent = [slack.fake.post(ACME, CUSTOMER, f"question {i}") for i in range(7)]
    await catchup.run_once()
    messages = await stored(slack)
    assert f"{ACME}:{old}" not in messages  # older than the 7d backfill
    assert {f"{ACME}:{ts}" for ts in recent} <= set(messages)
    calls = [c for c in slack.fake.calls_to("conversations.history") if c.params["channel"] == ACME]
    assert len(calls) == 3  # 7 messages, 3 a page
    assert "cursor" not in calls[0].params and all("cursor" in c.params for c in calls[1:])
    start = ts_time(calls[0].params["oldest"])
    assert start == slack.clock.now() - timedelta(days=7)


async def test_edits_and_deletions_during_downtime(
    slack: Slack, restarted: tuple[SlackService, CatchUpService, Sleeps]
) -> None:
    _service, catchup, _ = restarted
    edited = await live(slack, ACME, CUSTOMER, "Where is my odrer?")
    gone_reply_parent = await live(slack, ACME, CUSTOMER, "Second question")
    gone = await live(slack, ACME, CUSTOMER, "never mind", thread_ts=gone_reply_parent)
    gone_top = await live(slack, ACME, "U0OTHER01", "Third question")
    assert len(await waiting_threads(slack)) == 3
    slack.clock.advance(minutes=20)
    slack.fake.edit(ACME, edited, "Where is my order?")
    slack.fake.delete(ACME, gone)  # a reply: its thread still waits on its parent
    slack.fake.delete(ACME, gone_top)  # no replies: it is gone from history altogether
    await catchup.run_once()
    messages = await stored(slack)
    assert messages[f"{ACME}:{edited}"].text == "Where is my order?"
    assert messages[f"{ACME}:{edited}"].edited_at is not None
    assert messages[f"{ACME}:{gone}"].deleted
    assert messages[f"{ACME}:{gone_top}"].deleted
    assert await waiting_threads(slack) == {edited, gone_reply_parent}


async def test_waiting_thread_older_than_backfill_is_read_by_itself(
    slack: Slack, restarted: tuple[SlackService, CatchUpService, Sleeps]
) -> None:
    _service, catchup, _ = restarted
    old = await live(slack, ACME, CUSTOMER, "Anyone there?")
    slack.clock.advance(days=10)
    slack.fake.post(ACME, BOB, "Sorry, here now", thread_ts=old)
    await catchup.run_once()
    assert await waiting_threads(slack) == set()
    [replies] = slack.fake.calls_to("conversations.replies")
    assert replies.params["ts"] == old


async def test_a_parent_deleted_with_replies_comes_back_as_a_tombstone(
    slack: Slack, restarted: tuple[SlackService, CatchUpService, Sleeps]
) -> None:
    _service, catchup, _ = restarted
    parent = await live(slack, ACME, CUSTOMER, "Wrong channel, sorry")
    reply = await live(slack, ACME, CUSTOMER, "and this too", thread_ts=parent)
    slack.clock.advance(minutes=10)
    slack.fake.delete(ACME, parent)
    assert slack.fake.messages[(ACME, parent)]["subtype"] == "tombstone"
    await catchup.run_once()
    messages = await stored(slack)
    assert messages[f"{ACME}:{parent}"].deleted and not messages[f"{ACME}:{reply}"].deleted
    [item] = await slack.core.waiting()
    assert item.waiting_since == ts_time(reply)  # waits on what is left
    slack.fake.delete(ACME, reply)  # the last reply: the tombstone goes too
    await catchup.run_once()
    assert await waiting_threads(slack) == set()


async def test_429_retry_after_is_honoured(
    slack: Slack, restarted: tuple[SlackService, CatchUpService, Sleeps]
) -> None:
    _service, catchup, sleeps = restarted
    ts = slack.fake.post(ACME, CUSTOMER, "Hello?")
    # Longer than slack_sdk's own retry handler waits: catch-up holds the method itself.
    slack.fake.fail_next(1, 429, retry_after=42, methods=("conversations.history",))
    report = await catchup.run_once()
    assert report.failed == 0
    assert any(41 < w <= 42 for w in sleeps.waits)  # the time left of Retry-After: 42
    statuses = [c.status for c in slack.fake.calls if c.method == "conversations.history"]
    assert statuses.count(429) == 1 and statuses.count(200) == 2
    assert f"{ACME}:{ts}" in await stored(slack)


async def test_a_failing_channel_is_logged_and_retried(
    slack: Slack,
    restarted: tuple[SlackService, CatchUpService, Sleeps],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _service, catchup, _ = restarted
    slack.fake.fail_next(6, 500, retry_after=None, methods=("conversations.history",))
    report = await catchup.run_once()
    assert report.failed >= 1
    assert "catch-up of" in caplog.text and "failed" in caplog.text
    slack.fake.post(ACME, CUSTOMER, "still here")
    report = await catchup.run_once()
    assert report.failed == 0 and report.messages == 1


async def test_live_events_are_not_blocked_while_catching_up(
    slack: Slack, restarted: tuple[SlackService, CatchUpService, Sleeps]
) -> None:
    _service, catchup, _ = restarted
    slack.fake.post(ACME, CUSTOMER, "missed while down")
    gate = slack.fake.gates["conversations.history"] = asyncio.Event()
    running = asyncio.create_task(catchup.run_once())
    for _ in range(500):  # until catch-up waits on Slack's answer
        if any(c.method == "conversations.history" for c in slack.fake.calls):
            break
        await asyncio.sleep(0.01)
    ts = slack.fake.post(ACME, CUSTOMER, "live one")
    response = await post(slack.http, message(ts, text="live one"))
    assert response.status_code == 200
    assert f"{ACME}:{ts}" in await stored(slack)
    assert not running.done()
    gate.set()
    await running
    assert len(await stored(slack)) == 2


async def test_socket_mode_hello_after_a_reconnect_wakes_catch_up(
    fake: FakeSlack, runtime: Runtime, clock: Clock, settings: SlackSettings
) -> None:
    woken: list[int] = []
    core = CoreService(runtime, catch_up=lambda: woken.append(1))
    service = SlackService(replace(settings, app_token=APP_TOKEN), core, runtime.config, clock.now)
    await service.start()
    try:
        for _ in range(200):
            if fake._sockets:
                break
            await asyncio.sleep(0.01)
        assert woken == []  # the first hello is the start, which catches up anyway
        await fake.socket_send({"type": "hello", "num_connections": 1})
        for _ in range(200):
            if woken:
                break
            await asyncio.sleep(0.01)
        assert woken == [1]
    finally:
        await service.stop()


@pytest.mark.skipif(BACKEND != "postgresql", reason="SQLite runs one process per file: no lock")
async def test_only_one_replica_reads_a_channel(
    slack: Slack, restarted: tuple[SlackService, CatchUpService, Sleeps], db_url: str
) -> None:
    _service, catchup, _ = restarted
    other = connect(db_url)  # another replica's connection
    try:
        held = [SourceLock(other, e.scope.key) for e in catchup.entries]
        for lock in held:
            assert await lock.acquire()
        report = await catchup.run_once()
        assert report.skipped == len(catchup.entries)
        assert not slack.fake.calls_to("conversations.history")
        for lock in held:
            await lock.release()
        report = await catchup.run_once()
        assert report.skipped == 0
    finally:
        await other.dispose()


async def test_pacer_keeps_tier3_spacing_after_a_burst() -> None:
    now = [0.0]
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    pacer = MethodPacer(50, burst=5, clock=lambda: now[0], sleep=sleep)
    for _ in range(15):
        await pacer.wait("conversations.history")
    assert sleeps and all(abs(s - 1.2) < 1e-9 for s in sleeps)
    assert len(sleeps) == 10  # five at once, then one every 1.2 s
    await pacer.wait("conversations.replies")  # another method has its own budget
    assert len(sleeps) == 10
    pacer.hold("conversations.replies", 30)
    await pacer.wait("conversations.replies")
    assert sleeps[-1] >= 30


def test_slack_ts_is_the_inverse_of_ts_time() -> None:
    for ts in ("1795865400.000100", "1700000000.999999", "1.000000"):
        assert slack_ts(ts_time(ts)) == ts


def test_scopes_follow_the_config(slack: Slack) -> None:
    feed = SlackCatchUp(slack.service.client, slack.service.deps.watch, slack.service.deps.identity)
    scopes = {s.channel: s for s in feed.scopes()}
    assert set(scopes) == {ACME, PARTNERS}
    assert scopes[ACME].backfill == timedelta(days=7)
    assert scopes[ACME].every == timedelta(minutes=10)


async def test_nudgebot_run_catches_up_at_start_and_counts_it(
    fake: FakeSlack, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process ``nudgebot run`` assembles: one catch-up service over the Slack feed,
    started after the adapters, read back in the background, counted in /metrics."""
    from bot.web.metrics import metrics
    from bot.wiring.process import assemble
    from tests.fakes.slack_api import BOT_TOKEN
    from tests.slack.slack_payloads import SECRET

    for name, value in (("SLACK_BOT_TOKEN", BOT_TOKEN), ("SLACK_SIGNING_SECRET", SECRET),
                        ("SLACK_API_URL", fake.api_url)):  # fmt: skip
        monkeypatch.setenv(name, value)
    ts = fake.post(ACME, CUSTOMER, "asked while Nudgebot was down")
    before = metrics.catchup_read.value("acme")
    process = assemble(runtime)
    assert process.catchup is not None
    await process.start()
    try:
        for _ in range(500):
            if await CoreService(runtime).waiting():
                break
            await asyncio.sleep(0.01)
        [item] = await CoreService(runtime).waiting()
        assert await CoreService(runtime).conversation_ref(item.conversation_id) == ReplyTarget(
            "acme", "slack", ACME, ts
        )
        assert metrics.catchup_read.value("acme") == before + 1
    finally:
        await process.stop()


async def test_the_loop_reads_at_start_and_again_when_woken(
    slack: Slack, restarted: tuple[SlackService, CatchUpService, Sleeps]
) -> None:
    service, catchup, _ = restarted

    async def rounds(n: int) -> None:
        for _ in range(500):
            if len(slack.fake.calls_to("conversations.history")) >= 2 * n:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"no round {n}")

    await catchup.start()
    await rounds(1)
    ts = slack.fake.post(ACME, CUSTOMER, "after the first round")
    service.deps.core.catch_up_now()  # what a Socket Mode reconnect does
    await rounds(2)
    for _ in range(500):
        if f"{ACME}:{ts}" in await stored(slack):
            break
        await asyncio.sleep(0.01)
    assert f"{ACME}:{ts}" in await stored(slack)
    # Not due again before reconcile_every (10m): no third round on its own.
    await asyncio.sleep(0.05)
    assert len(slack.fake.calls_to("conversations.history")) == 4
