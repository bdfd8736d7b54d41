"""Polled-sources test kit: a config pointing every polled source at a local fake server, and
a harness wiring the real Runtime, CoreService, ``bot.wiring.polled`` (real pollers, real
httpx clients over real HTTP) and the real database together.

Time is the test's: ``Clock`` is the runtime's ``now``; the poll loop's sleep is recorded,
never waited on, unless a test runs the loop itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import Runtime
from bot.config import load_config
from bot.domain.events import InboundMessage
from bot.services.polling import PolledSource
from bot.wiring.core import CoreService
from bot.wiring.polled import Polled, assemble
from storage.models import Conversation, Message

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)

TEAM = """\
timezone: UTC
team:
  alice:
    name: Alice
    github: alice-gh
    handles: ["@alice@127.0.0.1", alice_forum, alice_x]
    owner: true
  bob:
    name: Bob
    github: bob-gh
policies:
  standard:
    reply_within: 15m
sources:
"""


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


class RecordingCore(CoreService):
    """The real core, remembering every message id handed to ingest (duplicates included)."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        self.ingested: list[tuple[str, str]] = []
        self.fail_next = 0  # the database is "away" for the next N ingests

    async def ingest(self, messages: Sequence[InboundMessage]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("database unavailable (test)")
        self.ingested.extend((m.source, m.message_id) for m in messages)
        await super().ingest(messages)


@dataclass
class Stored:
    source: str
    message_id: str
    thread: str
    is_team: bool
    person: str | None
    text: str
    url: str


@dataclass
class Harness:
    runtime: Runtime
    core: RecordingCore
    polled: Polled
    clock: Clock
    sleeps: list[float] = field(default_factory=list)

    def source(self, source_id: str) -> PolledSource:
        return self.polled.sources[source_id]

    async def step(self, source_id: str) -> float:
        return await self.source(source_id).step()

    async def drain(self, source_id: str, limit: int = 50) -> list[float]:
        """Step until the source has caught up (or failed)."""
        delays = []
        for _ in range(limit):
            delays.append(await self.step(source_id))
            status = self.source(source_id).status
            if not status.behind or status.failures:
                return delays
        raise AssertionError(f"{source_id} kept asking for more: {delays}")

    async def messages(self, source: str | None = None) -> list[Stored]:
        m, c = Message, Conversation
        query = (
            select(m.source, m.message_id, c.thread, m.is_team, m.person, m.text, m.url)
            .join(c, c.id == m.conversation_id)
            .order_by(m.at, m.message_id)
        )
        if source is not None:
            query = query.where(m.source == source)
        async with self.runtime.db.read() as session:
            rows = (await session.execute(query)).tuples()
            return [Stored(*row) for row in rows]

    async def conversations(self, source: str | None = None) -> list[Conversation]:
        query = select(Conversation).order_by(Conversation.id)
        if source is not None:
            query = query.where(Conversation.source == source)
        async with self.runtime.db.read() as session:
            return list(await session.scalars(query))

    async def waiting(self, source: str | None = None) -> list[str]:
        """Threads of the conversations waiting for a reply."""
        return [c.thread for c in await self.conversations(source) if c.waiting_since]

    def duplicates(self) -> list[tuple[str, str]]:
        seen: set[tuple[str, str]] = set()
        dups = []
        for key in self.core.ingested:
            if key in seen:
                dups.append(key)
            seen.add(key)
        return dups


def write_config(tmp_path: Path, sources: str) -> Path:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(TEAM + sources, encoding="utf-8")
    return path


@asynccontextmanager
async def harness(
    tmp_path: Path, db_url: str, sources: str, clock: Clock | None = None, **knobs: Any
) -> AsyncIterator[Harness]:
    """``knobs`` go to ``assemble`` (timeout, limit, lock_retry, sleep, rng)."""
    clock = clock or Clock()
    config = load_config(str(write_config(tmp_path, sources)))
    runtime = Runtime.from_config(config, db_url, now=clock)
    core = RecordingCore(runtime)
    sleeps: list[float] = []

    async def record(delay: float) -> None:
        sleeps.append(delay)

    knobs.setdefault("sleep", record)
    knobs.setdefault("rng", lambda: 0.5)
    polled = assemble(runtime, core, **knobs)
    for component in polled.components:
        runtime.attach(component)
    try:
        yield Harness(runtime, core, polled, clock, sleeps)
    finally:
        for component in polled.components:
            assert component.stop is not None
            await component.stop()
        await runtime.close()
