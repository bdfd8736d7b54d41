"""The core's group commit and redelivery filter, as Slack and Telegram use them."""

from __future__ import annotations

import asyncio

import pytest

from bot.inbox import InboxBatcher, RecentIds


async def test_items_are_weighed_against_the_batch_limit() -> None:
    written: list[list[str]] = []

    async def commit(items: list[str]) -> None:
        await asyncio.sleep(0)
        written.append(items)

    batcher: InboxBatcher[str] = InboxBatcher(commit, max_batch=4, linger=0.0, size=len)
    await asyncio.gather(*(batcher.submit(word) for word in ("ab", "cd", "ef", "g")))
    assert sorted(w for batch in written for w in batch) == ["ab", "cd", "ef", "g"]
    assert all(sum(map(len, batch)) <= 4 for batch in written)
    assert batcher.batches == len(written)


async def test_one_bad_item_fails_alone() -> None:
    async def commit(items: list[int]) -> None:
        if 3 in items:
            raise ValueError("bad item")

    batcher: InboxBatcher[int] = InboxBatcher(commit, max_batch=10, linger=0.0, max_turns=4)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(6)), return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["NoneType"] * 3 + ["ValueError"] + [
        "NoneType"
    ] * 2


async def test_a_cancelled_sender_still_gets_its_item_written() -> None:
    release = asyncio.Event()
    written: list[int] = []

    async def commit(items: list[int]) -> None:
        await release.wait()
        written.extend(items)

    batcher: InboxBatcher[int] = InboxBatcher(commit, max_batch=10, linger=0.0)
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)
    second = asyncio.create_task(batcher.submit(2))  # waits for the next batch
    await asyncio.sleep(0)
    second.cancel()
    release.set()
    await first
    with pytest.raises(asyncio.CancelledError):
        await second
    await batcher.close()
    assert written == [1, 2]


def test_recent_ids_forget_the_oldest_and_on_request() -> None:
    recent: RecentIds[int] = RecentIds(size=2)
    for n in (1, 2, 3):
        recent.add(n)
    assert 1 not in recent and 2 in recent and 3 in recent and len(recent) == 2
    recent.discard(3)
    assert 3 not in recent
