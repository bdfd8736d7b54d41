"""Assemble one `nudgebot run` process: adapters' components, the web app, their lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from starlette.applications import Starlette

from bot import platforms
from bot.app import Runtime
from bot.domain.ports import Core
from bot.services.catchup import CatchUpService, CatchUpWake
from bot.web.app import create_app
from bot.web.metrics import metrics
from bot.web.state import ReadyCheck
from bot.wiring import polled
from bot.wiring.component import Component
from bot.wiring.core import CoreService

log = logging.getLogger("nudgebot.process")


def build_components(runtime: Runtime, core: Core | None = None) -> list[Component]:
    """Every platform that the config and environment switch on; each attached to the
    runtime so the nudge engine delivers (and replies) through it."""
    core = core or CoreService(runtime)
    components = [
        c for spec in platforms.all_platforms() for c in platform_components(spec, runtime, core)
    ]
    components.extend(polled.build(runtime, core))
    for component in components:
        runtime.attach(component)
    return components


def platform_components(spec: platforms.Platform, runtime: Runtime, core: Core) -> list[Component]:
    """What the platform's wiring builds (``Platform.wiring``): a component, several, or
    none when the config and environment leave it off."""
    if spec.wiring is None:
        return []
    built = platforms.load(spec.wiring)(runtime, core)
    if built is None:
        return []
    return [built] if isinstance(built, Component) else list(built)


def _ready_check(component: Component) -> ReadyCheck:
    """/readyz's part for a component, under its name: not ready until it has started."""

    async def check() -> str | None:
        if component.ready():
            return None
        return component.problem() or f"{component.name} has not started"

    return ReadyCheck(component.name, check)


@dataclass
class Process:
    runtime: Runtime
    components: Sequence[Component]
    app: Starlette
    catchup: CatchUpService | None = None

    async def start(self) -> None:
        """Adapters first (so nudges have somewhere to go), then the scheduler; catch-up
        reads back what was missed in the background, beside live events."""
        for component in self.components:
            if component.start is not None:
                await component.start()
            log.info("%s started", component.name)
        await self.runtime.start()
        if self.catchup is not None:
            await self.catchup.start()

    async def stop(self) -> None:
        if self.catchup is not None:
            await self.catchup.stop()
        await self.runtime.stop()
        for component in reversed(self.components):
            if component.stop is not None:
                try:
                    await component.stop()
                except Exception:  # one adapter failing to stop must not keep others running
                    log.exception("stopping %s failed", component.name)
        await self.runtime.close()


def catch_up_service(
    runtime: Runtime, components: Sequence[Component], wake: CatchUpWake | None = None
) -> CatchUpService | None:
    """One catch-up service for every component that can read back what it missed, waiting
    on ``wake`` (the one the components' core pulls when an adapter reconnects)."""
    feeds = [c.catchup for c in components if c.catchup is not None]
    if not feeds:
        return None
    return CatchUpService(
        runtime.db, CoreService(runtime).ingest, feeds, now=runtime.now,
        observe=metrics.caught_up, wake=wake,
    )  # fmt: skip


def catch_up_check(service: CatchUpService) -> ReadyCheck:
    """/readyz's ``catch-up`` component: not ready while a channel's last round failed
    (advisory: shown, but 503 only for ``?required=catch-up``)."""

    async def check() -> str | None:
        return service.problem()

    return ReadyCheck("catch-up", check, advisory=True)


def assemble(runtime: Runtime) -> Process:
    """In dependency order, nothing patched in afterwards: the catch-up wake, the core the
    adapters are handed (which pulls it), the adapters, the catch-up service over their
    feeds (which waits on it), the web app."""
    wake = CatchUpWake()
    components = build_components(runtime, CoreService(runtime, catch_up=wake))
    catchup = catch_up_service(runtime, components, wake)
    checks = [_ready_check(c) for c in components]
    if catchup is not None:
        checks.append(catch_up_check(catchup))
    app = create_app(
        runtime,
        routes=[route for c in components for route in c.routes],
        ready_checks=checks,
    )
    return Process(runtime, components, app, catchup)
