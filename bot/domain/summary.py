"""A summary message: one message standing for many nudges to one person (no floods).

Built by the core (``bot.services.nudge_summaries``), rendered by each messenger. Everything
in it that came from a customer (names, channels, sources) is data: the renderers escape it
for where it lands.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.domain.ports import Delivered, Recipient


class SummaryReason(enum.StrEnum):
    BATCH = "batch"  # more than batch_after nudges within batch_window
    CATCH_UP = "catch-up"  # overdue nudges after downtime
    IMPORT = "import"  # conversations still waiting at the end of an import
    CAP = "cap"  # max_messages_per_hour reached: the nudges held back


@dataclass(frozen=True)
class SummaryItem:
    conversation_id: int
    nudge_id: int  # the batched nudge behind it, 0 when none (imported history)
    customer: str
    source: str
    platform: str
    channel: str
    waiting_since: datetime
    url: str
    can_reply: bool

    def waiting_seconds(self, now: datetime) -> int:
        return max(0, int((now - self.waiting_since).total_seconds()))


@dataclass(frozen=True)
class SummaryView:
    summary_id: int
    recipient: Recipient
    reason: SummaryReason
    now: datetime
    waiting: int  # conversations waiting on them now (what `waiting --json` lists for them)
    escalated: int  # batched escalations of conversations they are not responsible for
    oldest: tuple[SummaryItem, ...]  # the oldest few, with buttons
    held_back: int = 0  # nudges not sent on their own: max_messages_per_hour
    link: str = ""  # the dashboard filtered to them; "" without NUDGEBOT_PUBLIC_URL
    command: str = "/waiting mine"  # the chat command that lists the rest
    # Owners, after an import: the whole team's waiting conversations.
    team_waiting: int | None = None
    by_source: tuple[tuple[str, int], ...] = ()
    by_person: tuple[tuple[str, int], ...] = ()

    @property
    def more(self) -> int:
        return max(0, self.waiting + self.escalated - len(self.oldest))


@runtime_checkable
class SummaryMessenger(Protocol):
    """What a messenger adds to send summaries; one without it gets a plain-text notice."""

    async def send_summary(self, view: SummaryView) -> Delivered: ...

    async def update_summary(self, ref: str, view: SummaryView) -> None: ...
