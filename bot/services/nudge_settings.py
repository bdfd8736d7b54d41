"""The config, bound once into what the ladder and the deliverer ask about people and sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.domain.clock import BusinessClock
from bot.domain.ladder_inputs import EscalateTo, LadderPolicy, Target
from bot.domain.ports import Recipient
from bot.domain.routing import Route, Routing

CHANNEL_PREFIX = "slack-channel:"


@dataclass(frozen=True)
class SourcePeople:
    """``People`` (bot.domain.ladder_inputs) for one source and claim."""

    settings: NudgeSettings
    source: str
    claimed_by: str | None

    def route(self, at: datetime) -> Route:
        return self.settings.routing.route(self.source, self.claimed_by, at)

    def available_from(self, person: str, at: datetime) -> datetime:
        rotation = self.settings.routing.source_rotation.get(self.source)
        if rotation and self.settings.routing.on_call(rotation, at) == person:
            return at
        clock = self.settings.person_clocks.get(person)
        return clock.next_open(at) if clock is not None else at

    def escalation(self, to: EscalateTo, at: datetime) -> tuple[Target, ...]:
        if to.kind == "owner":
            return tuple(Target.of(p) for p in self.settings.routing.owners)
        if to.kind == "rotation" and to.target:
            person = self.settings.routing.on_call(to.target, at)
            return (Target.of(person, always=True),) if person else ()
        if to.kind == "person" and to.target:
            return (Target.of(to.target),)
        if to.kind == "slack-channel" and to.target:
            return (Target(f"{CHANNEL_PREFIX}{to.target}", None, always=True),)
        return ()


@dataclass(frozen=True)
class NudgeSettings:
    config: Config
    routing: Routing
    policies: dict[str, LadderPolicy] = field(default_factory=dict)
    person_clocks: dict[str, BusinessClock] = field(default_factory=dict)

    @classmethod
    def build(cls, config: Config, routing: Routing) -> NudgeSettings:
        policies: dict[str, LadderPolicy] = {}
        for source_id in config.sources:
            policy = config.policy_for(source_id)
            if policy is None:
                continue
            clock = BusinessClock(policy.business_hours, ZoneInfo(policy.timezone), policy.holidays)
            escalate = policy.escalate_to
            policies[source_id] = LadderPolicy(
                clock=clock,
                remind_every=policy.remind_every,
                escalate_after=policy.escalate_after,
                escalate_to=EscalateTo(escalate.kind, escalate.target) if escalate else None,
            )
        clocks = {
            p.id: BusinessClock(p.hours, ZoneInfo(p.timezone))
            for p in config.team.values()
            if p.hours is not None
        }
        return cls(config, routing, policies, clocks)

    def ladder(self, source: str) -> LadderPolicy | None:
        return self.policies.get(source)

    def people(self, source: str, claimed_by: str | None) -> SourcePeople:
        return SourcePeople(self, source, claimed_by)

    def timezone(self, person: str | None) -> str:
        found = self.config.person(person) if person else None
        return found.timezone if found is not None else self.config.timezone

    def recipient(self, key: str) -> Recipient | None:
        """Where a ladder target's nudge goes; None when the config gives no address."""
        if key.startswith(CHANNEL_PREFIX):
            return Recipient("slack", key.removeprefix(CHANNEL_PREFIX), None, self.config.timezone)
        person_id = key.removeprefix("person:")
        person = self.config.person(person_id)
        if person is None:
            return None
        address = person.notify_address
        if person.notify is None or not address:
            return None
        return Recipient(person.notify, address, person.id, person.timezone)

    def name(self, person: str | None) -> str:
        found = self.config.person(person) if person else None
        return found.name if found is not None else (person or "")
