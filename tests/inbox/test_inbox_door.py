"""The inbox on a real database: concurrent callers share one transaction (group commit),
and the planner it was built with hears about what each transaction stored."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.events import Author, InboundMessage, Kind
from bot.inbox.inbox import Inbox
from bot.inbox.store import Rules
from storage.db import Database
from storage.models import Conversation, Message

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES = Rules(due_at=lambda _source, since: since + timedelta(minutes=30))


def customer(n: int, thread: str | None = None) -> InboundMessage:
    return InboundMessage(
        "acme", "slack", f"C1:{n}.000001", thread or f"{n}.000001", T0 + timedelta(seconds=n),
        Author("U1"), False, "hi", "C1",
    )  # fmt: skip


class Recorded:
    """A planner that remembers what the inbox told it, in which transaction."""

    def __init__(self) -> None:
        self.first: list[tuple[str, datetime]] = []
        self.changed_calls: list[tuple[list[int], list[datetime], bool]] = []

    def first_nudge(self, source: str, waiting_since: datetime, due: datetime) -> datetime | None:
        self.first.append((source, due))
        return due - timedelta(minutes=5)

    async def changed(
        self, session: AsyncSession, ids: Sequence[int], planned: Sequence[datetime]
    ) -> None:
        self.changed_calls.append((list(ids), list(planned), session.in_transaction()))


async def count(db: Database, table: type[Message] | type[Conversation]) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_concurrent_callers_share_one_transaction(db: Database) -> None:
    inbox = Inbox(db, RULES)
    await asyncio.gather(*(inbox.ingest([customer(n)]) for n in range(50)))
    assert inbox.batcher.batches == 1  # all fifty arrived before the writer first ran
    assert await count(db, Message) == 50 and await count(db, Conversation) == 50
    await inbox.ingest([customer(99)])  # the writer ran dry: a new one starts
    assert inbox.batcher.batches == 2
    await inbox.close()


async def test_the_planner_is_called_in_the_storing_transaction(db: Database) -> None:
    planner = Recorded()
    inbox = Inbox(db, RULES, planner)
    await inbox.ingest([customer(1)])
    due = T0 + timedelta(seconds=1, minutes=30)
    assert planner.first == [("acme", due)]
    # A new conversation: its first-nudge time only, nothing recomputed from the store.
    assert planner.changed_calls == [([], [due - timedelta(minutes=5)], True)]
    async with db.read() as session:
        written = await session.scalar(select(Conversation.next_nudge_at))
    assert written is not None and written.replace(tzinfo=UTC) == due - timedelta(minutes=5)
    await inbox.ingest([customer(2, thread="1.000001")])  # a follow-up in the same thread
    assert planner.changed_calls[-1][0] != [] and planner.changed_calls[-1][1:] == ([], True)


async def test_an_import_batch_creates_history_without_first_nudges(db: Database) -> None:
    planner = Recorded()
    inbox = Inbox(db, RULES, planner)
    result = await inbox.ingest_batch([customer(1), customer(2)], nudge_new=False)
    assert result.received == 2 and len(result.conversations) == 2
    assert planner.first == []  # history: not asked, and nothing written
    async with db.read() as session:
        assert (await session.scalars(select(Conversation.next_nudge_at))).all() == [None, None]


async def test_a_redelivered_message_costs_no_transaction(db: Database) -> None:
    inbox = Inbox(db, RULES)
    await inbox.ingest([customer(1)])
    await inbox.ingest([customer(1)])  # a platform's retry, or a poller reading it again
    assert inbox.batcher.batches == 1
    edited = dataclasses.replace(customer(1), kind=Kind.EDIT, text="hi!", edited_at=T0)
    await inbox.ingest([edited, customer(1)])  # an edit always goes through, alone
    assert inbox.batcher.batches == 2
    async with db.read() as session:
        assert (await session.scalars(select(Message.text))).all() == ["hi!"]


async def test_a_message_that_only_joins_is_stored_only_with_its_conversation(
    db: Database,
) -> None:
    """Slack replies outside the watched channels (``joins_only``): decided in the storing
    transaction, so a mention and its first reply in one batch stay together, and a reply
    in a thread nobody mentioned us in is dropped whole, not half-written."""
    inbox = Inbox(db, RULES)
    mention = customer(1)
    reply = dataclasses.replace(customer(2, thread=mention.thread), joins_only=True)
    stray = dataclasses.replace(customer(3), joins_only=True)
    await inbox.ingest_batch([mention, reply, stray])
    async with db.read() as session:
        stored = set(await session.scalars(select(Message.message_id)))
    assert stored == {mention.message_id, reply.message_id}
    assert await count(db, Conversation) == 1
    # Later, a reply joins the existing conversation; another stray still does not.
    late = dataclasses.replace(customer(4, thread=mention.thread), joins_only=True)
    await inbox.ingest([late, dataclasses.replace(customer(5), joins_only=True)])
    assert await count(db, Message) == 3 and await count(db, Conversation) == 1
    await inbox.close()
