"""Slack's side of catch-up: ``conversations.history`` and ``conversations.replies`` read back
into the same ``InboundMessage``s live events become.

Per channel: history after the window's start (newest first, paged by ``cursor``); a parent
whose ``latest_reply`` is newer than what the store holds of its thread — or, for a thread
waiting for a reply, any different, or fewer replies than stored — has its replies read
from there. Threads waiting for a reply whose parent lies before the window are read one by
one. An edited message comes back as an edit; a waiting message missing from its thread (or
a waiting top-level message missing from history) was deleted.

Both methods are Tier 3 (about 50 calls a minute per workspace): a ``MethodPacer`` spaces
them, a 429's ``Retry-After`` holds the method, and nothing here runs inside an event's
acknowledgement.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.actors import UserTeams, marks
from adapters.slack.events import ChannelWatch, Workspace, message_id, translate, ts_time, valid_ts
from adapters.slack.pacing import retry_after
from adapters.slack.runtime import Identity
from bot.config import Source
from bot.domain.catchup import (
    DEFAULT_BACKFILL,
    DEFAULT_EVERY,
    Scope,
    StoredMessage,
    StoredThreads,
    ThreadState,
    Window,
)
from bot.domain.events import Author, InboundMessage, Kind

log = logging.getLogger("nudgebot.slack.catchup")
PAGE = 200  # Slack's advice for history pages
TIER3_PER_MINUTE = 50.0
MAX_ATTEMPTS = 6
Page = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RateLimited(RuntimeError):
    """Slack kept answering 429; the catch-up service retries the channel later."""


def slack_ts(at: datetime) -> str:
    """The exact inverse of ``ts_time`` (no float on the way)."""
    delta = at - EPOCH
    return f"{delta.days * 86_400 + delta.seconds}.{delta.microseconds:06d}"


class MethodPacer:
    """At most ``per_minute`` calls per method, with a small burst; ``hold`` after a 429."""

    def __init__(
        self,
        per_minute: float = TIER3_PER_MINUTE,
        burst: int = 5,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.burst = burst
        self.clock = clock
        self.sleep = sleep
        self._next: dict[str, float] = {}
        self._held: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def wait(self, method: str) -> None:
        lock = self._locks.setdefault(method, asyncio.Lock())
        async with lock:
            now = self.clock()
            # A bucket of ``burst`` calls refilled one per interval, kept as the time it would
            # be empty: a call may go while that lies less than ``burst`` intervals ahead.
            earliest = self._next.get(method, now)
            wait = max(earliest - now - self.interval * (self.burst - 1), 0.0)
            wait = max(wait, self._held.get(method, 0.0) - now)
            if wait > 0:
                await self.sleep(wait)
            self._next[method] = max(earliest, self.clock()) + self.interval

    def hold(self, method: str, seconds: float) -> None:
        """Slack said Retry-After: no call to ``method`` before then."""
        self._held[method] = max(self._held.get(method, 0.0), self.clock() + seconds)


def _sources(watch: ChannelWatch) -> list[Source]:
    return [s for s in watch.config.sources.values() if s.platform == "slack"]


class SlackCatchUp:
    platform = "slack"

    def __init__(
        self,
        client: AsyncWebClient,
        watch: ChannelWatch,
        identity: Identity,
        *,
        pacer: MethodPacer | None = None,
        user_teams: UserTeams | None = None,
        page: int = PAGE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = client
        self.watch = watch
        self.identity = identity
        self.pacer = pacer or MethodPacer(sleep=sleep)
        self.user_teams = user_teams
        self.page = page
        self.sleep = sleep
        self._calls = 0

    def calls(self) -> int:
        return self._calls

    def scopes(self) -> Sequence[Scope]:
        out: list[Scope] = []
        for source in _sources(self.watch):
            backfill = source.backfill or DEFAULT_BACKFILL
            every = source.reconcile_every or DEFAULT_EVERY
            for channel in source.channels:
                if self.watch.source(channel) is source:  # a channel listed twice: first wins
                    out.append(Scope(source.id, "slack", channel, backfill, every))
        return out

    # -- calls -----------------------------------------------------------------------------
    async def _call(self, method: str, **params: Any) -> Page:
        for _attempt in range(MAX_ATTEMPTS):
            await self.pacer.wait(method)
            self._calls += 1
            try:
                response = await self.client.api_call(method, params=params)
            except SlackApiError as exc:
                if exc.response.status_code != 429:
                    raise
                wait = retry_after(exc.response.headers)
                wait = 1.0 if wait is None else wait
                log.info("%s: rate limited, retrying after %.0fs", method, wait)
                self.pacer.hold(method, wait)
                continue
            data: Page = response.data if isinstance(response.data, dict) else {}
            return data
        raise RateLimited(f"{method}: still rate limited after {MAX_ATTEMPTS} tries")

    async def _paged(self, method: str, **params: Any) -> AsyncIterator[list[Page]]:
        cursor = ""
        while True:
            extra = {"cursor": cursor} if cursor else {}
            try:
                data = await self._call(method, limit=self.page, **params, **extra)
            except SlackApiError as exc:
                if exc.response is not None and exc.response.get("error") == "thread_not_found":
                    return
                raise
            items = data.get("messages")
            yield [m for m in items if isinstance(m, dict)] if isinstance(items, list) else []
            meta = data.get("response_metadata")
            cursor = str(meta.get("next_cursor") or "") if isinstance(meta, Mapping) else ""
            if not cursor:
                return

    # -- translation -----------------------------------------------------------------------
    async def _translate(
        self, raw: Sequence[Page], scope: Scope, workspace: Workspace
    ) -> list[InboundMessage]:
        source = self.watch.config.sources[scope.source]
        out: list[InboundMessage] = []
        for m in raw:
            ts = valid_ts(m.get("ts"))
            if ts is None:
                continue
            event: Page = {**m, "channel": scope.channel}
            if m.get("subtype") == "tombstone" or isinstance(m.get("edited"), Mapping):
                # Read back as the event Slack would have sent: an edit, or a deletion.
                event = {"type": "message", "subtype": "message_changed",
                         "channel": scope.channel, "message": m, "ts": ts}  # fmt: skip
            looked_up = None
            user = str(m.get("user") or "")
            if self.user_teams and user and not marks(m) and self.watch.person(user) is None:
                looked_up = await self.user_teams.team_of(user)
            found = translate(event, source, self.watch, workspace, looked_up=looked_up)
            if found is not None:
                out.append(found)
        return out

    @staticmethod
    def _deleted(scope: Scope, thread: str, gone: Sequence[StoredMessage]) -> list[InboundMessage]:
        out = []
        for g in gone:
            out.append(InboundMessage(
                source=scope.source, platform="slack", message_id=g.message_id, thread=thread,
                at=g.at, author=Author(g.author_id), is_team=g.is_team, channel=scope.channel,
                kind=Kind.DELETE,
            ))  # fmt: skip
        return out

    # -- reading ---------------------------------------------------------------------------
    async def _thread(
        self, scope: Scope, state: ThreadState | None, thread: str, workspace: Workspace
    ) -> AsyncIterator[Sequence[InboundMessage]]:
        """Replies from what is stored on (from the open wait's first message when it waits,
        so a waiting message that is gone can be told apart)."""
        params: dict[str, Any] = {"channel": scope.channel, "ts": thread}
        start: datetime | None = None
        if state is not None:
            start = state.waiting[0].at if state.waiting else state.newest
        if start is not None:
            params.update(oldest=slack_ts(start), inclusive=True)
        seen: set[str] = set()
        async for raw in self._paged("conversations.replies", **params):
            seen.update(message_id(scope.channel, str(m.get("ts"))) for m in raw)
            yield await self._translate(raw, scope, workspace)
        if state is not None and state.waiting:
            gone = [w for w in state.waiting if w.message_id not in seen]
            if gone:
                yield self._deleted(scope, thread, gone)

    async def read(
        self, scope: Scope, since: Window, stored: StoredThreads
    ) -> AsyncIterator[Sequence[InboundMessage]]:
        workspace = await self.identity.get()
        waiting = {t.thread: t for t in since.open}
        seen: set[str] = set()
        async for raw in self._paged(
            "conversations.history", channel=scope.channel, oldest=slack_ts(since.since)
        ):
            parents = [m for m in raw if valid_ts(m.get("ts"))]
            seen.update(str(m["ts"]) for m in parents)
            yield await self._translate(parents, scope, workspace)
            threaded = [
                str(m["ts"]) for m in parents if m.get("latest_reply") and m["ts"] not in waiting
            ]
            states = dict(await stored.threads(scope, threaded)) if threaded else {}
            for m in parents:
                ts = str(m["ts"])
                state = waiting.get(ts) or states.get(ts)
                if _replies_changed(m, state, ts in waiting):
                    async for batch in self._thread(scope, state, ts, workspace):
                        yield batch
        for thread, state in waiting.items():
            if thread in seen:
                continue
            parent = valid_ts(thread)
            if parent is not None and ts_time(parent) > since.since:
                # Inside the window yet not in history: gone, with no replies to keep it.
                yield self._deleted(scope, thread, state.waiting)
            else:
                async for batch in self._thread(scope, state, thread, workspace):
                    yield batch


def _replies_changed(parent: Mapping[str, Any], state: ThreadState | None, waiting: bool) -> bool:
    """Whether the thread's replies must be read: newer than stored, or — for a thread that
    waits — different or fewer than stored (a waiting reply may have been deleted)."""
    latest = valid_ts(parent.get("latest_reply"))
    if state is None or state.newest is None:
        return latest is not None
    if latest is not None and ts_time(latest) > state.newest:
        return True
    if not waiting:
        return False
    count = parent.get("reply_count")
    if (count if isinstance(count, int) else 0) < state.live - 1:
        return True
    return latest is not None and ts_time(latest) != state.newest
