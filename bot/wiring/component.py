"""What a platform integration contributes to a running process.

Each platform's wiring module (``bot/wiring/<platform>.py``) turns config and environment
into a ``Component``; the process assembly (``bot.wiring.process``) mounts its routes, runs
its start/stop and attaches it to the ``Runtime``, whose nudge engine delivers through its
messenger.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from starlette.routing import BaseRoute

from bot.domain.catchup import CatchUpFeed
from bot.domain.channel_namer import ChannelNamer
from bot.domain.ports import Messenger, Replier

Hook = Callable[[], Awaitable[None]]


@dataclass
class Component:
    name: str
    routes: Sequence[BaseRoute] = ()
    messenger: Messenger | None = None
    replier: Replier | None = None  # posts the Reply button's text into customer threads
    namer: ChannelNamer | None = None  # channel/chat names for the dashboard
    start: Hook | None = None
    stop: Hook | None = None
    # Reported by /readyz: a component that failed to start makes the replica not ready.
    ready: Callable[[], bool] = field(default=lambda: True)
    # Why it is not ready, when it knows better than "has not started" (a folder gone).
    problem: Callable[[], str | None] = field(default=lambda: None)
    # Reads back what the platform delivered while we were away (bot.services.catchup).
    catchup: CatchUpFeed | None = None
