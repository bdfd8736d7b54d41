"""Group commit: concurrent events share a transaction, and one bad event fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from adapters.slack.batching import IngestBatcher
from bot.domain.events import Author, InboundMessage


def msg(n: int) -> InboundMessage:
    return InboundMessage(
        "acme",
        "slack",
        f"C1:{n}.000001",
        f"{n}.000001",
        datetime(2026, 1, 1, tzinfo=UTC),
        Author("U1"),
        False,
        "hi",
        "C1",
    )


async def test_concurrent_submits_share_transactions() -> None:
    written: list[list[str]] = []

    async def ingest(batch: Sequence[InboundMessage]) -> None:
        await asyncio.sleep(0.01)
        written.append([m.message_id for m in batch])

    batcher = IngestBatcher(ingest)
    await asyncio.gather(*(batcher.submit([msg(n)]) for n in range(50)))
    assert sorted(m for batch in written for m in batch) == sorted(
        msg(n).message_id for n in range(50)
    )
    assert len(written) == 1  # all fifty arrived before the writer first ran: one transaction
    await batcher.submit([msg(99)])  # the writer ran dry: a new one starts
    assert written[-1] == [msg(99).message_id]


async def test_a_bad_event_fails_alone() -> None:
    stored: list[str] = []

    async def ingest(batch: Sequence[InboundMessage]) -> None:
        await asyncio.sleep(0)
        if any(m.message_id == msg(3).message_id for m in batch):
            raise ValueError("bad row")
        stored.extend(m.message_id for m in batch)

    batcher = IngestBatcher(ingest)
    results = await asyncio.gather(
        *(batcher.submit([msg(n)]) for n in range(6)), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == ["NoneType"] * 3 + ["ValueError"] + [
        "NoneType"
    ] * 2
    assert sorted(stored) == sorted(msg(n).message_id for n in (0, 1, 2, 4, 5))


async def test_a_cancelled_request_is_still_written() -> None:
    stored: list[str] = []
    gate = asyncio.Event()

    async def ingest(batch: Sequence[InboundMessage]) -> None:
        await gate.wait()
        stored.extend(m.message_id for m in batch)

    batcher = IngestBatcher(ingest)
    task = asyncio.create_task(batcher.submit([msg(1)]))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    gate.set()
    await batcher.close()
    assert stored == [msg(1).message_id]
