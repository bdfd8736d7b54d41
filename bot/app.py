"""The one place that wires config, storage, services and adapters together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.config import Config, load_config
from bot.domain.clock import BusinessClock
from bot.domain.routing import Routing
from bot.services.ingest import Rules
from storage.db import Database, connect

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

    return Rules(closing_words=tuple(config.closing_words), due_at=due_at)


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


@dataclass
class Runtime:
    """Config plus the things built from it; one per process."""

    config: Config
    db: Database
    rules: Rules
    routing: Routing
    now: Now = field(default=utcnow)

    @classmethod
    def build(
        cls, config_path: str | None = None, database: str | None = None, now: Now = utcnow
    ) -> Runtime:
        config = load_config(config_path)
        return cls.from_config(config, database, now)

    @classmethod
    def from_config(cls, config: Config, database: str | None = None, now: Now = utcnow) -> Runtime:
        return cls(config, connect(database), build_rules(config), build_routing(config), now)

    def resolve_person(self, author_id: str) -> str | None:
        return self.config.person_by_identity(author_id)

    async def close(self) -> None:
        await self.db.dispose()
