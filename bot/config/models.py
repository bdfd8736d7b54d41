"""The validated configuration: immutable, typed, with the lookups the rest of the bot needs.

Every model can also be built directly (keyword arguments, sensible defaults) so tests
elsewhere need no YAML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.domain.hours import WeeklyHours

Platform = Literal[
    "slack", "telegram", "webhook", "mastodon", "discourse", "github", "x", "whatsapp", "email",
    "import",
]  # fmt: skip
PLATFORMS: tuple[Platform, ...] = (
    "slack", "telegram", "webhook", "mastodon", "discourse", "github", "x", "whatsapp", "email",
    "import",
)  # fmt: skip
Notify = Literal["slack", "telegram", "email"]
EscalationKind = Literal["owner", "rotation", "person", "slack-channel"]
DEFAULT_CLOSING_WORDS: tuple[str, ...] = ("thanks", "thank you", "ok", "great", "👍")
DEFAULT_ICAL_REFRESH = timedelta(minutes=10)


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return mapping if isinstance(mapping, MappingProxyType) else MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True, kw_only=True)
class NudgeLimits:
    """``nudges:`` — how much Nudgebot may say to one person (top level, or on a member).

    More than ``batch_after`` nudges within ``batch_window`` become one summary message,
    updated in place; nobody gets more than ``max_messages_per_hour`` new messages.
    """

    batch_after: int = 3
    batch_window: timedelta = timedelta(minutes=2)
    max_messages_per_hour: int = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class NudgeOverrides:
    """A member's own ``nudges:`` keys; None: the top-level value."""

    batch_after: int | None = None
    batch_window: timedelta | None = None
    max_messages_per_hour: int | None = None

    def over(self, base: NudgeLimits) -> NudgeLimits:
        return NudgeLimits(
            batch_after=base.batch_after if self.batch_after is None else self.batch_after,
            batch_window=base.batch_window if self.batch_window is None else self.batch_window,
            max_messages_per_hour=base.max_messages_per_hour
            if self.max_messages_per_hour is None
            else self.max_messages_per_hour,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    id: str
    name: str = ""  # defaults to the id
    slack: str | None = None  # Slack user ID
    telegram: str | None = None  # Telegram user ID, as text
    timezone: str = "UTC"
    hours: WeeklyHours | None = None  # None: any time
    notify: Notify | None = None  # None: Slack if known, else Telegram, else nowhere
    owner: bool = False
    email: str | None = None
    github: str | None = None  # login
    handles: tuple[str, ...] = ()  # e.g. @alice@mastodon.social, forum names
    nudges: NudgeOverrides | None = None  # their own ``nudges:`` limits

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.id)
        if self.notify is None:
            default: Notify | None = (
                "slack" if self.slack else "telegram" if self.telegram else None
            )
            object.__setattr__(self, "notify", default)

    @property
    def notify_address(self) -> str | None:
        """Where ``notify`` reaches them: Slack user ID, Telegram ID or email address."""
        return {"slack": self.slack, "telegram": self.telegram, "email": self.email}.get(
            self.notify or ""
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class Handoff:
    """When turns change: ``weekday`` 0=Monday, or None for every day."""

    weekday: int | None
    time: time


@dataclass(frozen=True, slots=True, kw_only=True)
class Override:
    who: str
    start: datetime  # aware; written as ``from``
    end: datetime  # aware, after start; written as ``to``


@dataclass(frozen=True, slots=True, kw_only=True)
class Rotation:
    id: str
    timezone: str = "UTC"
    members: tuple[str, ...] = ()
    shift: timedelta | None = None
    handoff: Handoff | None = None
    start: date | None = None
    overrides: tuple[Override, ...] = ()
    ical: str | None = None  # URL or file path; replaces members/shift/handoff/start
    refresh: timedelta = DEFAULT_ICAL_REFRESH

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_ical(self) -> bool:
        return self.ical is not None


@dataclass(frozen=True, slots=True)
class Escalation:
    kind: EscalationKind
    target: str | None = None  # rotation id, person id or Slack channel id; None for owner

    def __str__(self) -> str:
        return self.kind if self.target is None else f"{self.kind}:{self.target}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    id: str
    reply_within: timedelta
    business_hours: WeeklyHours | None = None  # None: 24/7
    timezone: str = "UTC"
    holidays: str | None = None  # canonical code: "DE" or "DE-BE"
    remind_every: timedelta | None = None
    escalate_after: timedelta | None = None
    escalate_to: Escalation | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def holiday_country(self) -> str | None:
        return self.holidays.split("-", 1)[0] if self.holidays else None

    @property
    def holiday_subdivision(self) -> str | None:
        if not self.holidays or "-" not in self.holidays:
            return None
        return self.holidays.split("-", 1)[1]


# For sources without `policy:` when the config has no policy named `default`.
BUILTIN_POLICY = Policy(
    id="built-in default", reply_within=timedelta(hours=1), remind_every=timedelta(hours=1)
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    id: str
    platform: Platform
    owner: str | None = None
    rotation: str | None = None
    policy: str | None = None
    channels: tuple[str, ...] = ()  # slack
    chats: tuple[str, ...] = ()  # telegram, as text
    customers: str | None = None  # "everyone-else" | "external"
    # Credentials stay out of repr() so a logged config leaks nothing.
    secret: str | None = field(default=None, repr=False)  # webhook
    instance: str | None = None  # mastodon
    token: str | None = field(default=None, repr=False)
    poll_every: timedelta | None = None
    url: str | None = None  # discourse
    api_key: str | None = field(default=None, repr=False)
    api_username: str | None = None
    categories: tuple[str, ...] = ()
    repo: str | None = None  # github "owner/name"
    api_url: str | None = None
    backfill: timedelta | None = None  # slack: how far back a channel with nothing stored is read
    reconcile_every: timedelta | None = None  # slack: how often history is re-read
    phone_number_id: str | None = None  # whatsapp: the business number's Graph API id
    extra: Mapping[str, Any] = field(default_factory=dict)  # other platform-specific keys

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", _frozen(self.extra))


def _norm_handle(value: str) -> str:
    return value.strip().lstrip("@").lower()


def _identity_keys(person: Person) -> list[tuple[str, str]]:
    """(kind, normalised value) pairs under which a person can be recognised."""
    keys: list[tuple[str, str]] = []
    if person.slack:
        keys.append(("slack", person.slack))
    if person.telegram:
        keys.append(("telegram", person.telegram))
    if person.github:
        keys.append(("github", person.github.lower()))
    if person.email:
        keys.append(("email", person.email.strip().lower()))
    keys.extend(("handle", _norm_handle(h)) for h in person.handles)
    return keys


@dataclass(frozen=True, slots=True, kw_only=True)
class DigestSettings:
    """``digest:``: the weekly digest to owners, at ``weekday`` (0=Monday) ``at`` on each
    owner's own clock."""

    weekday: int = 0
    at: time = time(9, 0)
    enabled: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    timezone: str = "UTC"
    closing_words: tuple[str, ...] = DEFAULT_CLOSING_WORDS
    team: Mapping[str, Person] = field(default_factory=dict)
    rotations: Mapping[str, Rotation] = field(default_factory=dict)
    policies: Mapping[str, Policy] = field(default_factory=dict)
    sources: Mapping[str, Source] = field(default_factory=dict)
    digest: DigestSettings = field(default_factory=DigestSettings)
    nudges: NudgeLimits = field(default_factory=NudgeLimits)
    path: Path | None = None  # the file it came from; None for the built-in empty config
    _identities: Mapping[tuple[str, str], str] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for name in ("team", "rotations", "policies", "sources"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        index: dict[tuple[str, str], str] = {}
        for person in self.team.values():
            for key in _identity_keys(person):
                index.setdefault(key, person.id)
        object.__setattr__(self, "_identities", MappingProxyType(index))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def person(self, person_id: str) -> Person | None:
        return self.team.get(person_id)

    def rotation(self, rotation_id: str) -> Rotation | None:
        return self.rotations.get(rotation_id)

    def policy(self, policy_id: str) -> Policy | None:
        return self.policies.get(policy_id)

    def source(self, source_id: str) -> Source | None:
        return self.sources.get(source_id)

    def nudge_limits(self, person_id: str | None) -> NudgeLimits:
        """The ``nudges:`` limits for one person: theirs over the top-level ones."""
        found = self.team.get(person_id) if person_id else None
        if found is None or found.nudges is None:
            return self.nudges
        return found.nudges.over(self.nudges)

    def display_name(self, person_id: str) -> str:
        """A member's name for people to read (``Alice``, not ``person:alice``)."""
        person = self.team.get(person_id.removeprefix("person:"))
        return (person.name or person.id) if person is not None else person_id

    def owners(self) -> tuple[str, ...]:
        """Ids of every member with ``owner: true``, in file order."""
        return tuple(p.id for p in self.team.values() if p.owner)

    def policy_for(self, source_id: str) -> Policy | None:
        """The source's ``policy``; without one, the policy named ``default`` (the loader
        fills that in), else the built-in default: a source is never silently not nudged."""
        source = self.sources.get(source_id)
        if source is None:
            return None
        if source.policy is None:
            return BUILTIN_POLICY
        return self.policies.get(source.policy)

    def person_by_platform(self, platform: str, user_id: str | int) -> str | None:
        """The team member behind a platform identity, or None for customers and strangers.

        ``platform`` is ``slack``, ``telegram``, ``github``, ``email``, or any other
        platform, whose ids are matched against members' ``handles`` and emails.
        """
        raw = str(user_id).strip()
        if not raw:
            return None
        if platform in ("slack", "telegram"):
            return self._identities.get((platform, raw))
        if platform == "github":
            return self._identities.get(("github", raw.lower())) or self._identities.get(
                ("handle", _norm_handle(raw))
            )
        if platform == "email":
            return self._identities.get(("email", raw.lower()))
        return self._identities.get(("handle", _norm_handle(raw))) or self._identities.get(
            ("email", raw.lower())
        )

    def person_by_identity(self, value: str | int) -> str | None:
        """A member id, or any platform identity of a member (imports do not say which)."""
        raw = str(value).strip()
        if raw in self.team:
            return raw
        for kind in ("slack", "telegram", "github", "email", "handle"):
            found = self.person_by_platform(kind, raw)
            if found is not None:
                return found
        return None
