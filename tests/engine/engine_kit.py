"""Engine test kit: an injected clock, a config built in code, and a harness wiring the real
Runtime (inbox, engine, actions) to recording messengers on a real database."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from adapters.console.recording import RecordingMessenger
from bot.app import Runtime, build_routing, build_rules, compose_nudging
from bot.config import Config, Escalation, NudgeLimits, Person, Policy, Source
from bot.domain.events import ActionKind, Author, InboundMessage
from bot.domain.hours import parse_hours
from bot.domain.ports import ActionRequest, ActionResult, Messenger, NudgeView, Replier, Step
from bot.services.delivery_results import Backoff
from bot.services.nudge_engine import Delivery, NudgeEngine, TickResult
from bot.services.nudge_settings import NudgeSettings
from storage.db import Database
from storage.models import Conversation, Nudge

BERLIN = ZoneInfo("Europe/Berlin")
SOURCE = "acme"


# The ladder and outbox tests count single nudges: batching (tests/engine/test_no_floods.py)
# is off for them unless a test passes its own ``nudges``.
# (A window of years also keeps the catch-up rule, "overdue by more than the window", out.)
UNBATCHED = NudgeLimits(
    batch_after=1_000_000, batch_window=timedelta(days=3650), max_messages_per_hour=1_000_000
)


def berlin(text: str) -> datetime:
    """A Berlin wall time (fold=0) as aware UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Clock:
    """The injected clock: time moves only when a test moves it."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> datetime:
        self.at = at
        return at

    def advance(self, **kwargs: float) -> datetime:
        self.at += timedelta(**kwargs)
        return self.at


def person(pid: str, **kw: Any) -> Person:
    if "hours" in kw and isinstance(kw["hours"], str):
        kw["hours"] = parse_hours(kw["hours"])
    kw.setdefault("slack", f"U{pid.upper()}")
    kw.setdefault("name", pid.capitalize())
    return Person(id=pid, **kw)


def make_config(
    *,
    team: Mapping[str, Person] | None = None,
    owner: str | None = "alice",
    rotation: str | None = None,
    reply_within: str = "15m",
    business_hours: str | None = None,
    timezone: str = "Europe/Berlin",
    holidays: str | None = None,
    remind_every: str | None = "30m",
    escalate_after: str | None = None,
    escalate_to: Escalation | None = None,
    nudges: NudgeLimits | None = None,
) -> Config:
    from bot.domain.durations import parse_duration

    members = (
        dict(team)
        if team is not None
        else {
            "alice": person("alice", owner=True, timezone="Europe/Berlin"),
            "bob": person("bob", timezone="Europe/Berlin"),
        }
    )
    policy = Policy(
        id="standard",
        reply_within=parse_duration(reply_within),
        business_hours=parse_hours(business_hours) if business_hours else None,
        timezone=timezone,
        holidays=holidays,
        remind_every=parse_duration(remind_every) if remind_every else None,
        escalate_after=parse_duration(escalate_after) if escalate_after else None,
        escalate_to=escalate_to,
    )
    source = Source(id=SOURCE, platform="slack", owner=owner, rotation=rotation, policy="standard",
                    channels=("C0CUST001",))  # fmt: skip
    return Config(timezone=timezone, team=members, policies={"standard": policy},
                  sources={SOURCE: source}, nudges=nudges or UNBATCHED)  # fmt: skip


OnCall = Callable[[str, datetime], str | None]


def nobody(_rotation: str, _at: datetime) -> str | None:
    return None


@dataclass
class Harness:
    db: Database
    clock: Clock
    config: Config
    on_call: OnCall = nobody
    messenger: RecordingMessenger = field(default_factory=lambda: RecordingMessenger("slack"))
    runtime: Runtime = field(init=False)
    _ids: count[int] = field(default_factory=lambda: count(1))

    def __post_init__(self) -> None:
        self.runtime = self.build(self.config)

    def build(self, config: Config) -> Runtime:
        """A runtime for ``config`` on the same database and clock (a restart)."""
        routing = build_routing(config, on_call=self.on_call)
        rules = build_rules(config)
        messengers: dict[str, Messenger] = {"slack": self.messenger, "telegram": self.messenger}
        repliers: dict[str, Replier] = {"slack": self.messenger}
        delivery = Delivery(
            messengers, repliers, rng=random.Random(7),
            backoff=Backoff(base=5.0, cap=600.0, max_attempts=5),
        )  # fmt: skip
        engine = compose_nudging(
            self.db, NudgeSettings.build(config, routing), rules, self.clock, delivery
        )
        return Runtime(
            config, self.db, rules, routing, now=self.clock, messengers=messengers,
            repliers=repliers, built_engine=engine,
        )  # fmt: skip

    @property
    def engine(self) -> NudgeEngine:
        return self.runtime.engine

    async def restart(self, config: Config) -> int:
        self.config = config
        self.runtime = self.build(config)
        return await self.engine.reconcile()

    # --- the world --------------------------------------------------------------------------

    async def customer(self, thread: str, at: datetime, text: str = "Where is my order?") -> int:
        return await self._say(thread, at, text, team=False, who="cust-9")

    async def team(self, thread: str, at: datetime, who: str, text: str = "On it!") -> int:
        return await self._say(thread, at, text, team=True, who=who)

    async def _say(self, thread: str, at: datetime, text: str, *, team: bool, who: str) -> int:
        msg = InboundMessage(
            source=SOURCE, platform="slack", message_id=f"m{next(self._ids)}", thread=thread,
            channel="C0CUST001", at=at, author=Author(who, "Dana" if not team else who),
            is_team=team, text=text, person=who if team else None,
            url=f"https://acme.slack.com/archives/C0CUST001/p{thread}",
        )  # fmt: skip
        result = await self.runtime.inbox.ingest_batch([msg])
        return result.conversations[0] if result.conversations else await self.cid(thread)

    async def cid(self, thread: str) -> int:
        async with self.db.read() as s:
            found = await s.scalar(select(Conversation.id).where(Conversation.thread == thread))
        assert found is not None
        return int(found)

    async def act(
        self, cid: int, kind: ActionKind, who: str, *, until: datetime | None = None,
        text: str = "",
    ) -> ActionResult:  # fmt: skip
        return await self.engine.act(
            ActionRequest(cid, kind, who, self.clock(), until=until, text=text)
        )

    async def tick(self, at: datetime | None = None) -> TickResult:
        if at is not None:
            self.clock.set(at)
        return await self.engine.tick()

    # --- what happened ----------------------------------------------------------------------

    @property
    def sent(self) -> list[NudgeView]:
        return self.messenger.nudges

    def sent_to(self) -> list[tuple[str | None, Step]]:
        return [(v.recipient.person or v.recipient.address, v.step) for v in self.sent]

    async def rows(self) -> list[Nudge]:
        async with self.db.read() as s:
            return list((await s.scalars(select(Nudge).order_by(Nudge.id))).all())

    async def next_nudge_at(self, cid: int) -> datetime | None:
        async with self.db.read() as s:
            found: datetime | None = await s.scalar(
                select(Conversation.next_nudge_at).where(Conversation.id == cid)
            )
        return found
