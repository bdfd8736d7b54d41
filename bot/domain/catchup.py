"""Catch-up as a capability: an adapter reads back "messages since a cursor" on its platform.

The core's catch-up service (``bot.services.catchup``) decides *when* (start, reconnect,
every ``reconcile_every``), *from where* (the store's newest message, or ``backfill`` ago),
holds the one-replica lock and stores what comes back through the same ingest as live events.
The adapter only knows *how* to read its platform. The cursor is the platform time of what is
stored, so it needs no table of its own and can never run ahead of the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.events import InboundMessage

# Re-read a little before the newest stored message: a message stored live may have
# overtaken an older one still in flight when the process stopped. Ingest is idempotent,
# so the overlap costs nothing but a few redelivered rows.
OVERLAP = timedelta(minutes=2)
DEFAULT_BACKFILL = timedelta(days=7)
DEFAULT_EVERY = timedelta(minutes=10)
# Threads active this recently are re-read for follow-ups (see ``window``).
RECENT = timedelta(days=1)


@dataclass(frozen=True)
class Scope:
    """One place to catch up on: a channel of a source."""

    source: str
    platform: str
    channel: str
    backfill: timedelta = DEFAULT_BACKFILL
    every: timedelta = DEFAULT_EVERY

    @property
    def key(self) -> str:
        return f"catchup:{self.platform}:{self.source}:{self.channel}"


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    at: datetime
    author_id: str
    is_team: bool


@dataclass(frozen=True)
class ThreadState:
    """What the store holds of one thread."""

    thread: str
    started: datetime | None  # its first message
    newest: datetime | None  # newest live message stored in it
    live: int = 0  # live messages stored in it, the opening one included
    waiting: tuple[StoredMessage, ...] = ()  # live customer messages of its open wait


@dataclass(frozen=True)
class Window:
    """What to read: everything after ``since`` (exclusive), and every ``open`` thread
    (threads waiting for a reply), wherever their parent lies."""

    since: datetime
    open: tuple[ThreadState, ...] = ()
    floor: datetime | None = None  # history before this is read thread by thread


def window(
    now: datetime,
    newest: datetime | None,
    open_threads: Sequence[ThreadState],
    backfill: timedelta,
    recent: Sequence[datetime] = (),
) -> Window:
    """From the store's newest message minus ``OVERLAP``, or ``backfill`` ago when nothing is
    stored; stretched back to the start of the oldest open thread (and of threads active
    lately, ``recent``: a follow-up there during downtime opens a new wait) so that one paged
    history read sees their parents' ``latest_reply`` — but never past ``backfill``. Open
    threads older than that are read one by one, which costs a call each."""
    floor = now - backfill
    since = floor if newest is None else max(floor, newest - OVERLAP)
    starts = [t.started for t in open_threads if t.started is not None] + list(recent)
    if starts:
        since = min(since, max(floor, min(starts) - OVERLAP))
    return Window(since=since, open=tuple(open_threads), floor=floor)


class StoredThreads(Protocol):
    """The store's view of threads, asked by an adapter while it reads."""

    async def threads(self, scope: Scope, threads: Sequence[str]) -> Mapping[str, ThreadState]:
        """State of each of ``threads`` that has messages stored; others are absent."""
        ...


class CatchUpFeed(Protocol):
    """What a platform adapter offers: its scopes, and the messages since a window."""

    platform: str

    def scopes(self) -> Sequence[Scope]: ...

    def read(
        self, scope: Scope, since: Window, stored: StoredThreads
    ) -> AsyncIterator[Sequence[InboundMessage]]:
        """Batches to store, in any order (ingest is idempotent and order-independent).
        Messages that are gone from the platform come back as ``Kind.DELETE``."""
        ...

    def calls(self) -> int:
        """Platform API calls made so far (for /metrics and the benchmark)."""
        ...
