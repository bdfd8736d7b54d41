"""Threading is decided inside the write: two replicas storing one chat's messages at once
end in one conversation (PostgreSQL; SQLite is one process's database).

The interleaving is forced, not hoped for: replica A threads the customer's message and
then holds its transaction open until replica B is either waiting for A's chat lock or has
made its own threading reads. Only if those reads wait for A's commit does B's quick
follow-up find A's message and join its conversation; reads outside the lock (or outside
the transaction) would see nothing and start a second conversation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

import bot.inbox.store as inbox_store
from bot.domain.events import Author, InboundMessage, ThreadHint
from bot.inbox.inbox import Inbox
from bot.inbox.store import Rules
from storage.db import Database, connect
from storage.models import Conversation, Message
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="replicas share one PostgreSQL; SQLite is one process's database — run with "
    "NUDGEBOT_TEST_DB=postgresql",
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CHAT = "-100777"


def said(number: int, at: datetime) -> InboundMessage:
    """A customer's message in a Telegram group, as the adapter hands it to the inbox."""
    return InboundMessage(
        source="community", platform="telegram", message_id=f"{CHAT}:{number}",
        thread=str(number), at=at, author=Author("555", "Dana"), is_team=False,
        text=f"message {number}", channel=CHAT, hint=ThreadHint(root=str(number)),
    )  # fmt: skip


async def lock_waiters(db: Database) -> int:
    async with db.read() as session:
        found = await session.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
    return int(found or 0)


async def test_two_replicas_storing_one_chat_at_once_make_one_conversation(
    db: Database, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, follow_up = said(1, T0), said(2, T0 + timedelta(seconds=20))
    a_threaded, b_read = asyncio.Event(), asyncio.Event()
    real = inbox_store.thread_hinted

    async def until_b_waits_or_has_read() -> None:
        async with asyncio.timeout(30):  # a hang would be a bug: fail instead
            # (Polled: nothing signals that another connection waits for a lock.)
            while not b_read.is_set() and await lock_waiters(db) == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    async def traced(
        session: AsyncSession, messages: Sequence[InboundMessage], *, lock: bool
    ) -> list[InboundMessage]:
        out = await real(session, messages, lock=lock)
        if messages[0].message_id == first.message_id:  # replica A, before it commits
            a_threaded.set()
            await until_b_waits_or_has_read()
        else:
            b_read.set()
        return out

    monkeypatch.setattr(inbox_store, "thread_hinted", traced)
    rules = Rules()
    replicas = [connect(db_url), connect(db_url)]
    try:
        a, b = (Inbox(replica, rules) for replica in replicas)
        storing_first = asyncio.create_task(a.ingest([first]))
        await a_threaded.wait()
        await asyncio.gather(storing_first, b.ingest([follow_up]))
    finally:
        for replica in replicas:
            await replica.dispose()

    async with db.read() as session:
        conversations = await session.scalar(select(func.count()).select_from(Conversation))
        threads = (
            await session.execute(
                select(Message.message_id, Conversation.thread)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .order_by(Message.message_id)
            )
        ).all()
    assert conversations == 1
    assert [tuple(row) for row in threads] == [(f"{CHAT}:1", "1"), (f"{CHAT}:2", "1")]


def slack(number: int, at: datetime, *, team: bool) -> InboundMessage:
    """A message in one Slack thread, as the adapter hands it to the inbox (no hint)."""
    who = Author("U0ALICE", "Alice") if team else Author("U0DANA", "Dana")
    return InboundMessage(
        source="community", platform="slack", message_id=f"C1:{number}", thread="100",
        at=at, author=who, is_team=team, text=f"message {number}", channel="C1",
        person="alice" if team else None,
    )  # fmt: skip


async def test_two_replicas_recomputing_one_conversation_both_count(
    db: Database, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica A stores the customer's latest message, replica B (a retried delivery) an
    earlier team reply, in one conversation at once. A recomputes and holds its transaction
    open until B is waiting for a lock or has read the messages. B must read them only after
    A's commit: computed from what it saw before, its state says "answered" and, written
    last, leaves the customer waiting unseen."""
    rules = Rules()
    await Inbox(db, rules).ingest([slack(0, T0, team=False)])
    later, reply = (
        slack(2, T0 + timedelta(minutes=20), team=False),
        slack(1, T0 + timedelta(minutes=10), team=True),
    )
    a_saved, b_read = asyncio.Event(), asyncio.Event()
    real_save, real_load = inbox_store.save_states, inbox_store.load_facts

    async def waiters() -> int:
        async with db.read() as session:
            found = await session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
        return int(found or 0)

    async def save(*args: Any) -> None:
        await real_save(*args)
        if not a_saved.is_set():  # replica A, before it commits
            a_saved.set()
            async with asyncio.timeout(30):  # a hang would be a bug: fail instead
                while not b_read.is_set() and await waiters() == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)

    async def load(*args: Any) -> Any:
        found = await real_load(*args)
        if a_saved.is_set():
            b_read.set()
        return found

    monkeypatch.setattr(inbox_store, "save_states", save)
    monkeypatch.setattr(inbox_store, "load_facts", load)
    replicas = [connect(db_url), connect(db_url)]
    try:
        a, b = (Inbox(replica, rules) for replica in replicas)
        storing_later = asyncio.create_task(a.ingest([later]))
        await a_saved.wait()
        await asyncio.gather(storing_later, b.ingest([reply]))
    finally:
        for replica in replicas:
            await replica.dispose()

    async with db.read() as session:
        [(since, count)] = (
            await session.execute(
                select(Conversation.waiting_since, func.count()).group_by(
                    Conversation.waiting_since
                )
            )
        ).all()
    assert count == 1
    assert since is not None and since.replace(tzinfo=UTC) == later.at  # still waiting on us
