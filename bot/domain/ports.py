"""The narrow interfaces between the core and the platform adapters.

Adapters implement ``Messenger`` (nudges out) and are handed a ``Core`` (events and actions
in, queries for commands). Neither side imports the other's modules: the wiring in
``bot.app`` connects them. Everything crossing this line is a frozen dataclass.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain.events import ActionKind, InboundMessage


class Step(enum.StrEnum):
    FIRST = "first"  # at the due time, to the responsible person
    REMINDER = "reminder"  # every remind_every while still waiting
    ESCALATION = "escalation"  # at escalate_after, to escalate_to


@dataclass(frozen=True)
class Recipient:
    """Where a message goes: ``platform`` is slack | telegram | console | recording.

    ``address`` is the platform's id: a Slack user or channel id, a Telegram chat id.
    ``person`` is the team member id, or None for a channel.
    """

    platform: str
    address: str
    person: str | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class TranscriptLine:
    author: str
    is_team: bool
    at: datetime
    text: str


@dataclass(frozen=True)
class NudgeView:
    """Everything a messenger needs to render one nudge, already decided by the core."""

    nudge_id: int
    conversation_id: int
    step: Step
    recipient: Recipient
    source: str
    platform: str  # where the customer is
    channel: str
    thread: str
    customer: str
    waiting_since: datetime
    due_at: datetime | None
    now: datetime
    responsible: tuple[str, ...]
    transcript: tuple[TranscriptLine, ...]  # newest last, already trimmed
    url: str
    can_reply: bool  # the customer's platform accepts a reply posted by us
    # WhatsApp: when a free-form reply stops being possible (None: no such window)
    reply_window_closes: datetime | None = None

    @property
    def waiting_seconds(self) -> int:
        return max(0, int((self.now - self.waiting_since).total_seconds()))


class Outcome(enum.StrEnum):
    ANSWERED = "answered"
    CLAIMED = "claimed"
    SNOOZED = "snoozed"
    NOT_NEEDED = "not_needed"


@dataclass(frozen=True)
class NudgeUpdate:
    """A sent nudge's new state, to be shown in place ("answered by Bob after 18m")."""

    outcome: Outcome
    by: str | None
    at: datetime
    after_seconds: int | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Delivered:
    """The platform's handle on a sent message (e.g. ``C123:1700000000.0001``), for updates."""

    ref: str


class DeliveryError(Exception):
    """A send that did not go through. ``retry_after`` (seconds) comes from the platform;
    ``permanent`` means retrying cannot help (unknown user, bot blocked, bad request)."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Messenger(Protocol):
    platform: str

    async def send_nudge(self, view: NudgeView) -> Delivered: ...

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None: ...

    async def send_text(self, recipient: Recipient, text: str) -> Delivered:
        """Plain notices: rotation hand-offs, digests. ``text`` is Markdown-light."""
        ...


@dataclass(frozen=True)
class ReplyTarget:
    """Where a team member's reply goes: the customer's thread, answering ``reply_to``."""

    source: str
    platform: str
    channel: str
    thread: str
    reply_to: str | None = None  # platform id of the last customer message (Telegram reply_to)


class Replier(Protocol):
    """Posts a reply into the customer's thread for the Reply button (modal, reply-to-message).

    Adapters implement it next to their ``Messenger``. The core then stores the posted message
    as the replying member's team message (``message_id`` = ``Delivered.ref``), so the waiting
    period ends with them as the responder whether or not the platform echoes the bot's own
    post back. ``ref`` must therefore be the id the adapter's ingest gives that message.
    """

    platform: str

    async def send_reply(self, target: ReplyTarget, text: str, person: str) -> Delivered: ...


@dataclass(frozen=True)
class ActionRequest:
    """A team member acting on a conversation from a platform (button, command, reaction)."""

    conversation_id: int
    kind: ActionKind
    person: str
    at: datetime
    until: datetime | None = None  # snooze target
    text: str = ""  # reply text
    nudge_id: int | None = None
    via: str = ""  # where it was done: slack | telegram | web (shown in the history)
    note: str = ""  # kept with the action, e.g. "assigned by Alice" from the web


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    message: str  # one line for the person: "Snoozed until 14:30", "Already answered by Bob"


@dataclass(frozen=True)
class WaitingItem:
    conversation_id: int
    source: str
    platform: str
    channel: str
    customer: str
    waiting_since: datetime
    due_at: datetime | None
    overdue: bool
    responsible: tuple[str, ...]
    last_message: str
    url: str


@dataclass(frozen=True)
class ChannelMessage:
    """A stored message as thread lookups see it (``bot.domain.threading``, in the inbox)."""

    message_id: str
    thread: str
    at: datetime
    is_team: bool
    author_id: str
    waiting: bool = False  # its conversation waits for a reply (now, not as of ``at``)


@dataclass(frozen=True)
class LatestQuery:
    """The newest live message in ``channel`` with ``since <= at' <= at`` (platform time, ties
    by arrival), optionally only by ``author_id`` / only team or customer messages, never
    ``exclude``. Threading rules that join a message to a recent conversation ask it (Telegram:
    a customer's messages within 10 minutes); the bound keeps it a short index range."""

    source: str
    channel: str
    at: datetime
    since: datetime
    author_id: str | None = None
    is_team: bool | None = None
    exclude: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    """An inbound payload that passed authentication but could not be read (an update PTB
    rejects, a body nested too deeply, a field of the wrong type): kept for a person to look
    at (``nudgebot dead-letters``), never dropped silently."""

    platform: str  # telegram | slack | webhook | …
    source: str  # the config source it came for; "" when the payload names none we know
    reason: str  # one line: what could not be read
    payload: bytes  # the body exactly as received
    received_at: datetime


@dataclass(frozen=True)
class OnCallItem:
    rotation: str
    person: str | None
    since: datetime | None
    until: datetime | None
    next_person: str | None


class Core(Protocol):
    """What adapters may ask of the core."""

    async def ingest(self, messages: Sequence[InboundMessage]) -> None: ...

    async def act(self, request: ActionRequest) -> ActionResult: ...

    async def waiting(self, person: str | None = None) -> Sequence[WaitingItem]: ...

    async def on_call(self) -> Sequence[OnCallItem]: ...

    async def conversation_ref(self, conversation_id: int) -> ReplyTarget | None:
        """Where a conversation lives (``reply_to`` unset), for posting replies."""
        ...

    async def thread_of(self, source: str, message_ids: Sequence[str]) -> Mapping[str, str]:
        """The ``thread`` of each of ``message_ids`` already stored in ``source`` (deleted ones
        too); ids not stored are absent. Replies join the replied message's conversation."""
        ...

    async def conversation_of(self, source: str, message_id: str) -> int | None:
        """The conversation a stored message of ``source`` belongs to (deleted ones too), or
        None. Slack reactions name a message, not a thread; actions need the conversation."""
        ...

    async def keep_dead_letter(self, letter: DeadLetter) -> None:
        """Store a payload that could not be read; the same payload again only counts up.
        Raises when it could not be stored (the caller must then not acknowledge it)."""
        ...

    def catch_up_now(self) -> None:
        """The adapter reconnected after a gap (Slack's Socket Mode "hello"): read every
        channel back now rather than at its next round. Returns at once."""
        ...
