"""The composition root: config, storage, the inbox, the nudge engine and the adapters'
messengers, built in dependency order (config rules → nudge planner → inbox → engine)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from adapters.console.messenger import ConsoleMessenger
from adapters.console.recording import JsonlMessenger
from bot import platforms
from bot.config import Config, load_config
from bot.domain.channel_namer import ChannelNamer
from bot.domain.clock import BusinessClock
from bot.domain.ports import Messenger, Replier
from bot.domain.routing import Routing
from bot.inbox.store import Rules
from bot.services.oncall import OncallService
from bot.services.routes import build_routing
from storage.db import Database, connect

if TYPE_CHECKING:
    from bot.inbox.inbox import Inbox
    from bot.scheduler import Scheduler
    from bot.services.nudge_engine import Delivery, NudgeEngine
    from bot.services.nudge_settings import NudgeSettings

__all__ = ["Runtime", "build_routing", "build_rules", "compose_nudging", "messengers_from_env"]

Now = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


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

    windows = {s.id: platforms.reply_window(str(s.platform)) for s in config.sources.values()}

    def reply_window_of(source: str) -> timedelta | None:
        return windows.get(source)

    return Rules(
        closing_words=tuple(config.closing_words), due_at=due_at, reply_window_of=reply_window_of
    )


def compose_nudging(
    db: Database,
    settings: NudgeSettings,
    rules: Rules,
    now: Now,
    delivery: Delivery,
) -> NudgeEngine:
    """The write side, in dependency order: the wake-up the scheduler will bind
    (``Wakeup``), the planner ingest calls (``NudgeChanges``), the inbox that calls it, the
    engine that records replies and re-plans through the inbox. Nothing is patched in
    afterwards; ``engine.inbox`` is the process's one inbox and ``engine.wakeup`` goes to
    the scheduler's constructor. Loaded on first use: the read-only commands never import it."""
    from bot.inbox.inbox import Inbox
    from bot.services.nudge_changes import NudgeChanges, Wakeup
    from bot.services.nudge_engine import NudgeEngine
    from bot.services.nudge_plan import Planner

    changes = NudgeChanges(Planner(settings), now, Wakeup())
    inbox = Inbox(db, rules, changes)
    return NudgeEngine(db, settings, inbox, changes, now, delivery)


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


class Contribution(Protocol):
    """What ``Runtime.attach`` reads of a platform's ``bot.wiring.component.Component``: a
    protocol, because the composition root sits below the wiring and imports none of it."""

    @property
    def messenger(self) -> Messenger | None: ...
    @property
    def replier(self) -> Replier | None: ...
    @property
    def namer(self) -> ChannelNamer | None: ...


@dataclass
class Runtime:
    """Config plus the things built from it; one per process.

    ``messengers``/``repliers`` are filled by the adapters' components (``attach``) or the
    environment (``NUDGEBOT_MESSENGER``); ``start()``/``stop()`` run the nudge scheduler.
    The inbox and the nudge engine are built together when first used (``inbox``,
    ``engine``, ``start()``; ``compose_nudging``): the read-only commands never load them.
    """

    config: Config
    db: Database
    rules: Rules  # the config's, for the inbox
    routing: Routing
    # The rest by keyword only: a field added among them must not shift a caller's
    # positional arguments into the wrong slot (an engine passed as ``namers`` once made
    # ``__post_init__`` quietly build a default engine in its place).
    _: KW_ONLY
    now: Now = field(default=utcnow)
    messengers: dict[str, Messenger] = field(default_factory=dict)
    repliers: dict[str, Replier] = field(default_factory=dict)
    namers: dict[str, ChannelNamer] = field(default_factory=dict)  # channel names (dashboard)
    built_engine: NudgeEngine | None = None  # see ``engine``
    scheduler: Scheduler | None = None  # bot.scheduler, loaded by start()
    # The rotations (bot.services.oncall); from_config binds routing's on_call to it.
    oncall_service: OncallService | None = None

    @property
    def oncall(self) -> OncallService:
        if self.oncall_service is None:
            self.oncall_service = OncallService(self.config, self.db, now=self.now)
        return self.oncall_service

    @property
    def engine(self) -> NudgeEngine:
        if self.built_engine is None:
            from bot.services.nudge_engine import Delivery
            from bot.services.nudge_settings import NudgeSettings

            settings = NudgeSettings.build(self.config, self.routing)
            delivery = Delivery(self.messengers, self.repliers)
            self.built_engine = compose_nudging(self.db, settings, self.rules, self.now, delivery)
        return self.built_engine

    @property
    def inbox(self) -> Inbox:
        """The one door inbound messages come in by (built with the engine it plans with)."""
        return self.engine.inbox

    def attach(self, component: Contribution) -> None:
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
        digests = DigestService(self.db, self.config, oncall_reporter(self.oncall))
        send_digest = messenger_send(self.messengers)

        async def tick() -> bool:
            more = (await engine.tick()).more
            await digests.tick(self.now(), send_digest)  # weekly digests to owners
            return more

        self.scheduler = Scheduler(
            tick, engine.next_due, interval=tick_seconds(), wakeup=engine.wakeup
        )
        await engine.void_stale_claims()
        await engine.reconcile()
        await self.scheduler.start()
        await self.oncall.start(handoff_job(self.db, self.oncall, self.routing, self.messengers))

    async def stop(self) -> None:
        if self.oncall_service is not None:
            await self.oncall_service.stop()
        if self.built_engine is not None:
            if self.scheduler is not None:  # the inbox's last batches wake no tick
                self.built_engine.wakeup.release(self.scheduler.poke)
            await self.built_engine.inbox.close()
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
            config, db, build_rules(config), routing, now=now, messengers=messengers_from_env(),
            oncall_service=oncall,
        )  # fmt: skip

    def resolve_person(self, author_id: str) -> str | None:
        return self.config.person_by_identity(author_id)

    async def close(self) -> None:
        await self.stop()
        if self.oncall_service is not None:
            await self.oncall_service.close()
        await self.db.dispose()
