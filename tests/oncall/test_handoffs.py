"""Hand-off notices: one message per turn start, however often and wherever it runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from adapters.console.recording import RecordingMessenger
from bot.app import Runtime
from bot.domain.ports import DeliveryError, Recipient
from bot.services.handoffs import handoff_job, handoff_notices
from storage.oncall_repo import handoff_states
from tests.oncall.oncall_kit import (
    WEEKLY,
    Clock,
    Outbox,
    customer_message,
    load,
    make_runtime,
    utc,
)

TURN = utc(2026, 12, 7, 8)  # Mon 09:00 Berlin: carol's turn starts
CAROL = Recipient("slack", "U0CAROL01", "carol", "Europe/Berlin")


async def notices(runtime: Runtime, outbox: Outbox) -> int:
    return await handoff_notices(runtime.db, runtime.oncall, runtime.routing, runtime.now(), outbox)


async def test_incoming_person_gets_one_notice_with_turn_end_and_waiting(
    tmp_path: Path, db_url: str
) -> None:
    clock = Clock(TURN + timedelta(seconds=5))
    runtime = make_runtime(load(tmp_path), db_url, clock)
    outbox = Outbox()
    try:
        await runtime.inbox.ingest_batch(
            [
                customer_message("community", "c-1", utc(2026, 12, 6, 20), "Is the shop down?"),
                customer_message("acme", "a-1", utc(2026, 12, 7, 7)),
                customer_message("community", "c-2", utc(2026, 12, 7, 7, 30)),
                customer_message("community", "c-3", utc(2026, 12, 7, 7, 45)),
            ],
        )
        assert await notices(runtime, outbox) == 1
        assert await notices(runtime, outbox) == 0  # the same turn again: nothing
        clock.at += timedelta(minutes=20)
        assert await notices(runtime, outbox) == 0
        [(recipient, text)] = outbox.sent
        assert recipient == CAROL
        assert "on call for *support* until Mon 14 Dec 09:00 (Europe/Berlin)" in text
        assert "Next: Alice Liddell." in text
        assert "4 conversations are waiting right now; the oldest:" in text
        lines = text.splitlines()
        assert lines[3].startswith("• Dana in community, waiting 12h")  # oldest first
        assert len([line for line in lines if line.startswith("• ")]) == 3
        assert await handoff_states(runtime.db, "support") == [(TURN, "carol", "sent", 1)]
    finally:
        await runtime.close()


async def test_two_replicas_send_it_once(tmp_path: Path, db_url: str) -> None:
    clock = Clock(TURN + timedelta(seconds=1))
    config = load(tmp_path)
    replicas = [make_runtime(config, db_url, clock) for _ in range(3)]
    outbox = Outbox()
    try:
        for _ in range(2):
            counts = await asyncio.gather(*(notices(runtime, outbox) for runtime in replicas))
            assert sum(counts) == (1 if _ == 0 else 0)
        assert [r.person for r, _ in outbox.sent] == ["carol"]
    finally:
        for runtime in replicas:
            await runtime.close()


async def test_a_failed_send_is_retried_later_and_a_permanent_one_is_not(
    tmp_path: Path, db_url: str
) -> None:
    clock = Clock(TURN)
    runtime = make_runtime(load(tmp_path), db_url, clock)
    outbox = Outbox()
    try:
        outbox.fail_with = DeliveryError("slack is down", retry_after=30)
        assert await notices(runtime, outbox) == 0
        outbox.fail_with = None
        clock.at += timedelta(seconds=30)  # the retry waits for its back-off
        assert await notices(runtime, outbox) == 0
        clock.at += timedelta(minutes=3)
        assert await notices(runtime, outbox) == 1
        assert await handoff_states(runtime.db, "support") == [(TURN, "carol", "sent", 2)]

        # The next turn (alice's) fails for good: never retried.
        clock.at = utc(2026, 12, 14, 8, 0, 1)
        outbox.fail_with = DeliveryError("user_not_found", permanent=True)
        assert await notices(runtime, outbox) == 0
        outbox.fail_with = None
        clock.at += timedelta(minutes=10)
        assert await notices(runtime, outbox) == 0
        states = await handoff_states(runtime.db, "support")
        assert states[-1] == (utc(2026, 12, 14, 8), "alice", "failed", 1)
    finally:
        await runtime.close()


async def test_overrides_start_turns_and_old_turns_are_left_alone(
    tmp_path: Path, db_url: str
) -> None:
    clock = Clock(TURN + timedelta(hours=2))  # the bot came up long after the hand-off
    runtime = make_runtime(load(tmp_path), db_url, clock)
    outbox = Outbox()
    try:
        assert await notices(runtime, outbox) == 0
        await runtime.oncall.take("support", "bob", length=timedelta(hours=1))
        assert await notices(runtime, outbox) == 1
        clock.at += timedelta(hours=1)  # the override ends: carol has the pager back
        assert await notices(runtime, outbox) == 1
        assert [(r.person, r.platform) for r, _ in outbox.sent] == [
            ("bob", "telegram"),
            ("carol", "slack"),
        ]
        assert "Nobody is waiting right now." in outbox.sent[0][1]
    finally:
        await runtime.close()


async def test_without_an_address_nothing_is_sent_and_it_is_recorded(
    tmp_path: Path, db_url: str
) -> None:
    config = load(tmp_path, WEEKLY.replace("    slack: U0CAROL01\n", ""))
    runtime = make_runtime(config, db_url, Clock(TURN))
    outbox = Outbox()
    try:
        assert await notices(runtime, outbox) == 0
        assert outbox.sent == []
        assert await handoff_states(runtime.db, "support") == [(TURN, "carol", "failed", 1)]
    finally:
        await runtime.close()


async def test_the_runtime_loop_sends_through_its_messengers(tmp_path: Path, db_url: str) -> None:
    clock = Clock(TURN + timedelta(seconds=2))
    runtime = make_runtime(load(tmp_path), db_url, clock)
    messenger = RecordingMessenger("slack")
    runtime.messengers["slack"] = messenger
    try:
        await runtime.oncall.start(
            handoff_job(runtime.db, runtime.oncall, runtime.routing, runtime.messengers)
        )
        for _ in range(200):
            if messenger.calls:
                break
            await asyncio.sleep(0.05)
        [call] = messenger.calls
        assert (call.kind, call.recipient) == ("text", CAROL)
        assert "on call for *support*" in call.text
        assert runtime.oncall.running
    finally:
        await runtime.close()
    assert not runtime.oncall.running
