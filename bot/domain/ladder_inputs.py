"""What the nudge ladder is given: its policy, who a slot can reach, and what it already planned.

``LadderPolicy`` and ``EscalateTo`` come from config, ``Planned`` rows (on a ``Track``) are read
back from the outbox, and ``People`` answers for one conversation who is responsible and when
someone can be reached, as ``Target``s. The services build these without needing the planning
in ``bot.domain.ladder``, so they are kept apart from it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.clock import BusinessClock
from bot.domain.routing import Route


class Track(enum.StrEnum):
    RESPONSIBLE = "responsible"
    ESCALATION = "escalation"


@dataclass(frozen=True)
class Target:
    """Someone a slot can reach: a person (``key`` ``person:ID``) or a channel."""

    key: str
    person: str | None = None
    always: bool = False  # reachable at any hour (on call, a channel)

    @classmethod
    def of(cls, person: str, *, always: bool = False) -> Target:
        return cls(f"person:{person}", person, always)


@dataclass(frozen=True)
class EscalateTo:
    kind: str  # owner | rotation | person | slack-channel
    target: str | None = None


@dataclass(frozen=True)
class LadderPolicy:
    clock: BusinessClock
    remind_every: timedelta | None = None
    escalate_after: timedelta | None = None
    escalate_to: EscalateTo | None = None


@dataclass(frozen=True)
class Planned:
    """A nudge already in the outbox for this period, in any state."""

    track: Track
    seq: int
    recipient: str
    slot_at: datetime
    not_before: datetime
    created_at: datetime
    live: bool = True  # False once cancelled
    placeholder: bool = False  # merged or nobody: records the slot, sends nothing

    @property
    def effective(self) -> datetime:
        return max(self.not_before, self.created_at)


class People(Protocol):
    """Config-bound answers about people for one conversation (its source and claim)."""

    def route(self, at: datetime) -> Route: ...

    def available_from(self, person: str, at: datetime) -> datetime:
        """``at`` when the person may be nudged then (in hours or on call), else their next
        opening."""
        ...

    def escalation(self, to: EscalateTo, at: datetime) -> tuple[Target, ...]: ...
