"""The one place that wires config, storage, services and adapters together."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from adapters.console.messenger import ConsoleMessenger
from adapters.console.recording import JsonlMessenger
from bot import platforms
from bot.components import Component
from bot.config import Config, load_config
from bot.domain.channel_namer import ChannelNamer
from bot.domain.clock import BusinessClock
from bot.domain.ports import Messenger, Replier
from bot.domain.routing import Routing
from bot.services.ingest import Rules
from bot.services.nudge_engine import NudgeEngine
from bot.services.nudge_settings import NudgeSettings
from bot.services.oncall import OncallService
from storage.db import Database, connect

if TYPE_CHECKING:
    from bot.scheduler import Scheduler

Now = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _person_in_hours(config: Config) -> Callable[[str, datetime], bool]:
    def in_hours(person_id: str, at: datetime) -> bool:
        person = config.person(person_id)
        if person is None or person.hours is None:
            return True
        return person.hours.contains(at.astimezone(ZoneInfo(person.timezone)).replace(tzinfo=None))

    return in_hours


def _no_rotation(_rotation: str, _at: datetime) -> str | None:
    return None


def build_rules(config: Config) -> Rules:
    clocks: dict[str, tuple[BusinessClock, object]] = {}
    for source_id in config.sources:
        policy = config.policy_for(source_id)
        if policy is not None:
            clock = BusinessClock(policy.business_hours, ZoneInfo(policy.timezone), policy.holidays)
            clocks[source_id] = (clock, policy.reply_within)

    def due_at(source: str, since: datetime) -> datetime | None:
        entry = clocks.get(source)
        if entry is None:
            return None
        clock, within = entry
        return clock.add(since, within)  # type: ignore[arg-type]

    platforms = {s.id: str(s.platform) for s in config.sources.values()}

    def platform_of(source: str) -> str:
        return platforms.get(source, "")

    return Rules(closing_words=tuple(config.closing_words), due_at=due_at, platform_of=platform_of)


def build_routing(
    config: Config, on_call: Callable[[str, datetime], str | None] = _no_rotation
) -> Routing:
    return Routing(
        source_owner={s.id: s.owner for s in config.sources.values() if s.owner},
        source_rotation={s.id: s.rotation for s in config.sources.values() if s.rotation},
        owners=config.owners(),
        in_hours=_person_in_hours(config),
        on_call=on_call,
    )


MESSENGER_ENV = "NUDGEBOT_MESSENGER"


def messengers_from_env(env: Mapping[str, str] | None = None) -> dict[str, Messenger]:
    """``NUDGEBOT_MESSENGER=console`` prints every nudge (demo, development);
    ``record:/path.jsonl`` appends them to a file (scenario tests, benchmarks). Either one
    stands in for every platform; unset, the adapters' own messengers are used."""
    raw = (env if env is not None else os.environ).get(MESSENGER_ENV, "").strip()
    if not raw:
        return {}
    messenger: Messenger
    if raw == "console":
        messenger = ConsoleMessenger()
    elif raw.startswith("record:") and raw.removeprefix("record:"):
        messenger = JsonlMessenger(raw.removeprefix("record:"))
    else:
        raise ValueError(f"{MESSENGER_ENV}={raw!r}: use console or record:/path/to/file.jsonl")
    nudging = [p.name for p in platforms.with_capability(platforms.Can.NUDGE)]
    return {platform: messenger for platform in (*nudging, "console", "record")}


@dataclass
class Runtime:
    """Config plus the things built from it; one per process.

    ``messengers``/``repliers`` are filled by the adapters' components (``attach``) or the
    environment (``NUDGEBOT_MESSENGER``); ``start()``/``stop()`` run the nudge scheduler.
    ``rules`` carries the nudge engine's ingest hook once the runtime is built.
    """

    config: Config
    db: Database
    rules: Rules
    routing: Routing
    now: Now = field(default=utcnow)
    messengers: dict[str, Messenger] = field(default_factory=dict)
    repliers: dict[str, Replier] = field(default_factory=dict)
    namers: dict[str, ChannelNamer] = field(default_factory=dict)  # channel names (dashboard)
    engine: NudgeEngine | None = None
    scheduler: Scheduler | None = None  # bot.scheduler, loaded by start()
    # The rotations (bot.services.oncall); from_config binds routing's on_call to it.
    oncall_service: OncallService | None = None

    @property
    def oncall(self) -> OncallService:
        if self.oncall_service is None:
            self.oncall_service = OncallService(self.config, self.db, now=self.now)
        return self.oncall_service

    def __post_init__(self) -> None:
        if self.engine is None:
            settings = NudgeSettings.build(self.config, self.routing)
            self.engine = NudgeEngine(
                self.db, settings, self.rules, self.now, messengers=self.messengers,
                repliers=self.repliers,
            )  # fmt: skip
        self.rules = self.engine.rules

    def attach(self, component: Component) -> None:
        """Deliver through a component's messenger (and replier) unless one is set already."""
        if component.messenger is not None:
            self.messengers.setdefault(component.messenger.platform, component.messenger)
        if component.replier is not None:
            self.repliers.setdefault(component.replier.platform, component.replier)
        if component.namer is not None:
            self.namers.setdefault(component.namer.platform, component.namer)

    async def start(self) -> None:
        """Re-plan waiting conversations under this config, then run the scheduler.
        Idempotent: a second call while running does nothing."""
        if self.scheduler is not None and self.scheduler.running:
            return
        # Only processes that run the scheduler load it (and the digests): the read-only
        # commands (`waiting`, `stats`, …) build a Runtime too and must start at once.
        from bot.scheduler import Scheduler, tick_seconds
        from bot.services.digest import oncall_reporter
        from bot.services.digest_send import DigestService, messenger_send
        from bot.services.handoffs import handoff_job

        engine = self.engine
        assert engine is not None

        digests = DigestService(self.db, self.config, oncall_reporter(self.oncall))
        send_digest = messenger_send(self.messengers)

        async def tick() -> bool:
            more = (await engine.tick()).more
            await digests.tick(self.now(), send_digest)  # weekly digests to owners
            return more

        self.scheduler = Scheduler(tick, engine.next_due, interval=tick_seconds())
        engine.wake = self.scheduler.poke
        await engine.void_stale_claims()
        await engine.reconcile()
        await self.scheduler.start()
        await self.oncall.start(handoff_job(self.db, self.oncall, self.routing, self.messengers))

    async def stop(self) -> None:
        if self.oncall_service is not None:
            await self.oncall_service.stop()
        if self.engine is not None:
            self.engine.wake = None
        if self.scheduler is not None:
            await self.scheduler.stop()
            self.scheduler = None

    @classmethod
    def build(
        cls, config_path: str | None = None, database: str | None = None, now: Now = utcnow
    ) -> Runtime:
        config = load_config(config_path)
        return cls.from_config(config, database, now)

    @classmethod
    def from_config(cls, config: Config, database: str | None = None, now: Now = utcnow) -> Runtime:
        db = connect(database)
        oncall = OncallService(config, db, now=now)
        routing = build_routing(config, on_call=oncall.on_call)
        return cls(
            config, db, build_rules(config), routing, now, messengers=messengers_from_env(),
            oncall_service=oncall,
        )  # fmt: skip

    def resolve_person(self, author_id: str) -> str | None:
        return self.config.person_by_identity(author_id)

    async def close(self) -> None:
        await self.stop()
        if self.oncall_service is not None:
            await self.oncall_service.close()
        await self.db.dispose()
