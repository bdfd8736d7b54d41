"""Write transactions on SQLite run in the event-loop thread (storage/sqlite_inline.py).

A writer waiting on SQLite's lock would hold the whole loop, and with it the writer it waits
for: so writers of one process (and of every ``Database`` on the same file) take turns on an
asyncio lock, and readers never wait for a writer.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import func, insert, select

from storage.db import Database, connect
from storage.models import Conversation
from tests.conftest import BACKEND

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def _row(key: str) -> dict[str, object]:
    return {
        "source": "s", "thread_key": key, "platform": "webhook", "channel": "", "thread": key,
        "url": "", "customer_id": "c", "customer_name": "", "started_at": NOW,
        "last_message_at": NOW, "customer_messages": 1, "team_messages": 0, "version": 1,
        "last_text": "",
    }  # fmt: skip


async def _count(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Conversation)) or 0)


async def test_writers_that_yield_inside_a_transaction_take_turns(db: Database) -> None:
    events: list[tuple[str, int]] = []
    seen_by_reader: list[int] = []

    async def writer(n: int) -> None:
        async with db.write() as session:
            await session.execute(insert(Conversation).values(**_row(f"t{n}")))
            events.append(("in", n))
            await asyncio.sleep(0.01)  # the loop runs others while this transaction is open
            async with db.quick() as quick:  # a reader is not held up by the open write
                found = await quick.scalar(select(func.count()).select_from(Conversation))
                seen_by_reader.append(int(found or 0))
            events.append(("out", n))

    await asyncio.wait_for(asyncio.gather(*(writer(n) for n in range(4))), timeout=30)
    assert await _count(db) == 4
    if BACKEND == "sqlite":
        # One at a time: each transaction ends before the next begins.
        assert [kind for kind, _ in events] == ["in", "out"] * 4
        assert [n for _, n in events[::2]] == [n for _, n in events[1::2]]
        # Readers see only what committed before (not the open transaction's own row).
        assert seen_by_reader == [0, 1, 2, 3]


async def test_two_databases_on_one_file_share_the_turns(db_url: str) -> None:
    """Replicas in one process on one SQLite file (as the tests of hand-offs run them)."""
    first, second = connect(db_url), connect(db_url)
    try:

        async def writer(db: Database, n: int) -> None:
            async with db.write() as session:
                await session.execute(insert(Conversation).values(**_row(f"r{n}")))
                await asyncio.sleep(0.005)

        await asyncio.wait_for(
            asyncio.gather(*(writer(first if n % 2 else second, n) for n in range(6))),
            timeout=30,
        )
        assert await _count(first) == 6
    finally:
        await first.dispose()
        await second.dispose()
