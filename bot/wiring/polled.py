"""Polled sources from the config: every source whose platform declares a ``poller`` in the
registry (``mastodon``, ``discourse``, ``github``, ``x``, ``email``) becomes a
``PolledSource`` (its own httpx client, cursor, lock and loop), grouped into one
``Component`` per platform whose ``replier`` posts the Reply button's text as the account.

    components = build(runtime, core)     # [] when no polled source is configured
    for c in components: runtime.attach(c)  # repliers for the nudge engine's Reply action
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

from bot import platforms
from bot.app import Runtime
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
from bot.wiring.component import Component

log = logging.getLogger("nudgebot.polling")


def _poller(source: Source, runtime: Runtime, core: Core) -> SourcePoller | None:
    """The registry's poller class for the source's platform (``Platform.poller``). A class
    with a ``from_source`` (email: it reads its own keys, threads replies by the core's
    conversations and counts skipped mail in /metrics) is also handed those services."""
    spec = platforms.get(source.platform)
    if spec is None or spec.poller is None:
        return None
    cls = platforms.load(spec.poller)
    poller: SourcePoller
    if hasattr(cls, "from_source"):
        poller = cls.from_source(source, runtime.config, runtime.now, threads_of=core.thread_of,
                                 observe=metrics.platform_event)  # fmt: skip
    else:
        poller = cls(source, runtime.config, runtime.now)
    return poller


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

    # Optional hooks on the platform's poller class (email has both): a messenger for
    # members' ``notify:`` built from the sources, and the number of failed polls in a row
    # (password changed, folder gone) after which /readyz shows the platform not ready,
    # beside the log line of every failed poll.
    cls = _poller_class(platform)
    messenger = getattr(cls, "messenger", None)
    unready_after: int | None = getattr(cls, "UNREADY_AFTER", None)

    def problem() -> str | None:
        # A poller's ``failing`` (email: a configured folder gone) is a problem though its
        # polls succeed: the other folders are still read.
        for name, p in sources.items():
            if unready_after is not None and p.status.failures >= unready_after:
                return f"{name} failed {p.status.failures} polls in a row"
            if failing := getattr(p.poller, "failing", None):
                return f"{name}: {failing}"
        return None

    return Component(
        name=f"polled-{platform}",
        replier=PollReplier(platform, sources),
        messenger=messenger(sources) if messenger is not None else None,
        ready=lambda: problem() is None,
        problem=problem,
        start=start,
        stop=stop,
    )


def _poller_class(platform: str) -> object:
    spec = platforms.get(platform)
    return platforms.load(spec.poller) if spec is not None and spec.poller else None


def assemble(
    runtime: Runtime,
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
    for source in runtime.config.sources.values():
        try:
            poller = _poller(source, runtime, core)
        except ValueError as exc:  # e.g. a bad backfill duration in the source's extra keys
            log.error("%s: not polled: %s", source.id, exc)
            continue
        if poller is None:
            continue
        every = source.poll_every.total_seconds() if source.poll_every else DEFAULT_EVERY
        polled = PolledSource(
            poller, make_client(transport=transport, limit=limit, timeout=timeout), runtime.db,
            core.ingest, every=every, now=runtime.now, sleep=sleep, rng=rng, lock_retry=lock_retry,
        )  # fmt: skip
        by_platform.setdefault(source.platform, {})[source.id] = polled
        out.sources[source.id] = polled
    out.components = [_component(p, sources) for p, sources in by_platform.items()]
    return out


def build(runtime: Runtime, core: Core) -> list[Component]:
    """One component per polled platform in the config; [] when there is none."""
    return assemble(runtime, core).components
