"""Runs polled sources (Mastodon, Discourse, GitHub, X): each on its own ``poll_every``, its
cursor in the database, backoff with jitter on failures, rate limits honoured, and — on
PostgreSQL — only one replica polling a given source at a time.

One ``PolledSource`` per source, each an asyncio task of its own, so a source that is down,
slow or hostile never delays the others. A step is: read the cursor, fetch (the adapter's
``poll``), store the messages, then save the new cursor. The cursor moves only after the
messages it covers are stored, and ingest is idempotent, so a crash anywhere in between
repeats a little work and never loses any.

APScheduler is not involved: like the nudge scheduler it would hold no truth here, and a
sleeping task per source is the whole schedule. ``sleep``, ``now`` and ``rng`` are injected
so tests drive the loop without wall-clock waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx

from bot.domain.events import InboundMessage
from bot.domain.polling import (
    MAX_WAIT,
    BadItem,
    PollError,
    PollResult,
    RateLimited,
    backoff_delay,
)
from bot.domain.ports import DeadLetter, Delivered, DeliveryError, ReplyTarget
from bot.services.dead_letters import keep_dead_letter
from storage.cursors_repo import SourceLock, load_cursor, save_cursor
from storage.db import Database

log = logging.getLogger("nudgebot.polling")

Ingest = Callable[[Sequence[InboundMessage]], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
DEFAULT_EVERY = 60.0
LOCK_RETRY = 30.0
MAX_PAGES = 100  # consecutive "more" pages before a regular pause (a server always "full")
MAX_BACKOFF = 900.0
# One poll, all its requests: the client's timeouts bound each read, so a server trickling a
# byte at a time could otherwise hold its source (only its own: each polls in its own task).
POLL_DEADLINE = 120.0


class SourcePoller(Protocol):
    """What each platform adapter provides (structurally; adapters import nothing from here).

    ``poll`` fetches what happened after ``cursor`` — raising ``PollError`` (or any
    ``httpx.HTTPError``) when the fetch as a whole failed; malformed single items are the
    adapter's to log and skip. ``reply`` posts as the account into a conversation and returns
    the id its own ``poll`` gives that post, or raises ``DeliveryError``.
    """

    source: str
    platform: str

    async def poll(self, client: httpx.AsyncClient, cursor: str | None) -> PollResult: ...

    async def reply(
        self, client: httpx.AsyncClient, target: ReplyTarget, text: str, person: str
    ) -> Delivered: ...


@dataclass
class PollStatus:
    polls: int = 0  # successful steps
    failures: int = 0  # consecutive failed steps
    stored: int = 0  # messages handed to ingest
    last_ok: datetime | None = None
    last_error: str | None = None
    polling: bool = False  # this replica holds the source's lock
    behind: bool = False  # the last poll came back with a full page: more to fetch


class PolledSource:
    def __init__(
        self,
        poller: SourcePoller,
        client: httpx.AsyncClient,
        db: Database,
        ingest: Ingest,
        *,
        every: float = DEFAULT_EVERY,
        now: Callable[[], datetime],
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        lock: SourceLock | None = None,
        lock_retry: float = LOCK_RETRY,
        backoff_cap: float | None = None,
        deadline: float = POLL_DEADLINE,
    ) -> None:
        self.poller = poller
        self.client = client
        self.db = db
        self.ingest = ingest
        self.every = max(every, 1.0)
        self.now = now
        self.sleep = sleep
        self.rng = rng
        self.lock = lock if lock is not None else SourceLock(db, poller.source)
        self.lock_retry = lock_retry
        self.backoff_cap = backoff_cap or min(max(self.every * 10, 60.0), MAX_BACKOFF)
        self.deadline = deadline
        self.status = PollStatus()
        self._pages = 0
        self._task: asyncio.Task[None] | None = None
        self._waiting_told = False

    @property
    def source(self) -> str:
        return self.poller.source

    def _backoff(self) -> float:
        base = min(self.every, 5.0)
        return backoff_delay(
            self.status.failures, base=base, cap=self.backoff_cap, jitter=self.rng()
        )

    def _failed(self, exc: BaseException, *, expected: bool) -> float:
        self.status.failures += 1
        self.status.last_error = f"{exc.__class__.__name__}: {exc}"[:300]
        delay = self._backoff()
        if isinstance(exc, PollError) and exc.retry_after is not None:
            delay = max(delay, min(exc.retry_after, MAX_WAIT))
        if expected or self.status.failures > 1:
            log.warning("%s: poll failed (%s); next try in %.0fs", self.source,
                        self.status.last_error, delay)  # fmt: skip
        else:  # a bug rather than the network: say where, once per streak
            log.exception("%s: poll failed unexpectedly; next try in %.0fs", self.source, delay)
        return delay

    async def step(self) -> float:
        """One poll: fetch, store, save the cursor. Returns the seconds until the next one."""
        try:
            cursor = await load_cursor(self.db, self.source)
            try:
                async with asyncio.timeout(self.deadline):
                    result = await self.poller.poll(self.client, cursor)
            except TimeoutError:
                raise PollError(f"no complete answer within {self.deadline:g}s") from None
            if result.messages:
                await self.ingest(result.messages)
            for item in result.rejected:  # before the cursor moves past them
                letter = DeadLetter(self.poller.platform, self.source, item.reason,
                                    item.payload, self.now())  # fmt: skip
                await keep_dead_letter(self.db, letter)
            if result.cursor is not None and result.cursor != cursor:
                await save_cursor(self.db, self.source, result.cursor, self.now())
        except asyncio.CancelledError:
            raise
        except RateLimited as exc:
            self.status.failures += 1
            wait = exc.retry_after if exc.retry_after is not None else self._backoff()
            self.status.last_error = f"rate limited: {exc}"
            log.warning("%s: rate limited; next try in %.0fs", self.source, wait)
            return min(max(wait, 1.0), MAX_WAIT)
        except (PollError, BadItem, httpx.HTTPError, OSError) as exc:
            return self._failed(exc, expected=True)
        except Exception as exc:  # storage away, or a bug: never the end of the loop
            return self._failed(exc, expected=False)
        if self.status.failures:
            log.info("%s: polling again after %d failed tries", self.source, self.status.failures)
        self.status.failures = 0
        self.status.polls += 1
        self.status.stored += len(result.messages)
        self.status.last_ok = self.now()
        self.status.behind = result.more
        self._pages = self._pages + 1 if result.more else 0
        delay = 0.0 if 0 < self._pages < MAX_PAGES else self.every
        if self._pages >= MAX_PAGES:
            self._pages = 0
        if result.retry_after is not None:
            delay = max(delay, min(result.retry_after, MAX_WAIT))
        return delay

    async def _hold_lock(self) -> bool:
        try:
            held = await (self.lock.check() if self.status.polling else self.lock.acquire())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: cannot take the poll lock (%s)", self.source, exc)
            held = False
        if held and not self.status.polling:
            log.info("%s: this replica polls it", self.source)
            self._waiting_told = False
        elif not held and not self._waiting_told:
            log.info("%s: another replica polls it (or the database is away); waiting",
                     self.source)  # fmt: skip
            self._waiting_told = True
        self.status.polling = held
        return held

    async def _pause(self, delay: float) -> None:
        """Until the next step. A poller with a ``wait`` (email: IMAP IDLE) may end it early
        when the platform announces news; only after a good poll: a backoff or rate-limit
        delay is always slept in full."""
        wait = getattr(self.poller, "wait", None)
        if wait is None or delay <= 0 or self.status.failures:
            await self.sleep(delay)
        else:
            await wait(delay, self.sleep)

    async def run(self) -> None:
        while True:
            if not await self._hold_lock():
                await self.sleep(self.lock_retry)
                continue
            delay = await self.step()
            await self._pause(delay)

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"poll-{self.source}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.lock.release()
        self.status.polling = False


class PollReplier:
    """The ``Replier`` of one platform: posts through the poller of the conversation's source
    (several sources may share a platform), as the account the source is configured with."""

    def __init__(self, platform: str, sources: Mapping[str, PolledSource]) -> None:
        self.platform = platform
        self.sources = dict(sources)

    async def send_reply(self, target: ReplyTarget, text: str, person: str) -> Delivered:
        source = self.sources.get(target.source)
        if source is None:
            raise DeliveryError(f"{target.source} is not a polled {self.platform} source",
                                permanent=True)  # fmt: skip
        try:
            return await source.poller.reply(source.client, target, text, person)
        except DeliveryError:
            raise
        except PollError as exc:
            raise DeliveryError(
                str(exc), retry_after=exc.retry_after, permanent=exc.permanent
            ) from exc
        except (httpx.HTTPError, OSError, ValueError) as exc:
            raise DeliveryError(f"{exc.__class__.__name__}: {exc}") from exc
