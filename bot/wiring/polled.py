"""Polled sources from the config: every ``mastodon``, ``discourse``, ``github``, ``x`` and
``email`` source becomes a ``PolledSource`` (its own httpx client, cursor, lock and loop),
grouped into one ``Component`` per platform whose ``replier`` posts the Reply button's text as
the account.

    components = build(rt, core)          # [] when no polled source is configured
    for c in components: rt.attach(c)     # repliers for the nudge engine's Reply action
    ... await c.start() / await c.stop()  # in the web app's lifespan

``assemble`` is the same with the knobs tests turn: a transport (or base URLs pointing at a
local fake server), the sleep, the jitter source, the client timeout and the body cap.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

from adapters.discourse import DiscoursePoller
from adapters.email import EmailPoller, email_messenger, settings_of
from adapters.github import GitHubPoller
from adapters.mastodon import MastodonPoller
from adapters.x import XPoller
from bot.app import Runtime
from bot.components import Component
from bot.config import Source
from bot.domain.ports import Core
from bot.services.polling import (
    DEFAULT_EVERY,
    LOCK_RETRY,
    PolledSource,
    PollReplier,
    Sleep,
    SourcePoller,
)
from bot.services.polling_http import MAX_BODY, TIMEOUT, make_client
from bot.web.metrics import metrics

log = logging.getLogger("nudgebot.polling")
EMAIL_FAILURES = 3  # consecutive failed polls of a mailbox before /readyz says so


def _poller(source: Source, rt: Runtime, core: Core) -> SourcePoller | None:
    if source.platform == "email":
        return EmailPoller(source, settings_of(source), rt.config, rt.now,
                           threads_of=core.thread_of, observe=metrics.platform_event)  # fmt: skip
    if source.platform == "mastodon":
        return MastodonPoller(source, rt.config, rt.now)
    if source.platform == "discourse":
        return DiscoursePoller(source, rt.config, rt.now)
    if source.platform == "github":
        return GitHubPoller(source, rt.config, rt.now)
    if source.platform == "x":
        return XPoller(source, rt.config, rt.now)
    return None


@dataclass
class Polled:
    components: list[Component] = field(default_factory=list)
    sources: dict[str, PolledSource] = field(default_factory=dict)


def _component(platform: str, sources: Mapping[str, PolledSource]) -> Component:
    async def start() -> None:
        for polled in sources.values():
            await polled.start()

    async def stop() -> None:
        for polled in sources.values():
            await polled.stop()
            await polled.client.aclose()

    return Component(
        name=f"polled-{platform}",
        replier=PollReplier(platform, sources),
        messenger=email_messenger(sources) if platform == "email" else None,  # notify: email
        # Email: a mailbox that keeps refusing (password changed, folder gone) is shown in
        # /readyz as not ready, beside the log line of every failed poll.
        ready=(lambda: all(p.status.failures < EMAIL_FAILURES for p in sources.values()))
        if platform == "email"
        else (lambda: True),
        start=start,
        stop=stop,
    )


def assemble(
    rt: Runtime,
    core: Core,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
    rng: Callable[[], float] = random.random,
    timeout: httpx.Timeout | float = TIMEOUT,
    limit: int = MAX_BODY,
    lock_retry: float = LOCK_RETRY,
) -> Polled:
    out = Polled()
    by_platform: dict[str, dict[str, PolledSource]] = {}
    for source in rt.config.sources.values():
        try:
            poller = _poller(source, rt, core)
        except ValueError as exc:  # e.g. a bad backfill duration in the source's extra keys
            log.error("%s: not polled: %s", source.id, exc)
            continue
        if poller is None:
            continue
        every = source.poll_every.total_seconds() if source.poll_every else DEFAULT_EVERY
        polled = PolledSource(
            poller, make_client(transport=transport, limit=limit, timeout=timeout), rt.db,
            core.ingest, every=every, now=rt.now, sleep=sleep, rng=rng, lock_retry=lock_retry,
        )  # fmt: skip
        by_platform.setdefault(source.platform, {})[source.id] = polled
        out.sources[source.id] = polled
    out.components = [_component(p, sources) for p, sources in by_platform.items()]
    return out


def build(rt: Runtime, core: Core) -> list[Component]:
    """One component per polled platform in the config; [] when there is none."""
    return assemble(rt, core).components
