"""Normalised facts every adapter produces: messages (with edits and deletions) and actions."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.records import quick_init
from bot.domain.untrusted import safe_url


class Kind(enum.StrEnum):
    MESSAGE = "message"
    EDIT = "edit"
    DELETE = "delete"


@quick_init
@dataclass(frozen=True)
class Author:
    id: str
    name: str = ""


@dataclass(frozen=True)
class ThreadHint:
    """For platforms without threads (Telegram): what the inbox needs to decide, inside the
    transaction that stores the message, which conversation it joins (bot.domain.threading).

    ``root`` is the thread the message starts when it joins none (its own number);
    ``reply_to`` the replied message's id in the same source and ``reply_root`` the thread a
    reply starts when that message is not stored (older than the bot, or the bot's own);
    ``private``: a one-to-one chat with the bot (one conversation until answered).
    """

    root: str
    reply_to: str | None = None
    reply_root: str | None = None
    private: bool = False


@quick_init
@dataclass(frozen=True)
class InboundMessage:
    """One customer or team message, as a platform reported it.

    ``thread`` is the platform's conversation key inside ``channel`` (Slack ``thread_ts``,
    a webhook's ``thread`` field, …). ``person`` is the team member id when the author is on
    the team and known; ``is_team`` may be true with ``person`` unknown (imported history).
    ``edited_at`` is set on edits: the latest edit by platform time wins, whatever the arrival
    order. A ``DELETE`` removes the message from every computation. ``hint`` set: ``thread``
    is decided by the inbox when it stores the message (see ``ThreadHint``); ``joins_only``:
    whether it is stored at all.
    """

    source: str
    platform: str
    message_id: str
    thread: str
    at: datetime
    author: Author
    is_team: bool
    text: str = ""
    channel: str = ""
    url: str = ""
    person: str | None = None
    kind: Kind = Kind.MESSAGE
    edited_at: datetime | None = None
    hint: ThreadHint | None = None
    # Stored only if its thread's conversation exists when the inbox writes it, or starts in
    # the same batch; else it is not ours and dropped. Slack: a reply, outside the watched
    # channels, in a thread an @-mention may have started. Decided in the storing
    # transaction, so a mention and its first reply stored together are never split.
    joins_only: bool = False

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("InboundMessage.at must be timezone-aware")
        if self.url:
            # Only http(s) is ever a link (bot.domain.untrusted): every source's URL is
            # checked once here, at ingest, and anything else is not kept.
            safe = safe_url(self.url) or ""
            if safe != self.url:
                object.__setattr__(self, "url", safe)


class ActionKind(enum.StrEnum):
    CLAIM = "claim"
    SNOOZE = "snooze"
    NOT_NEEDED = "not_needed"
    REPLY = "reply"
    UNCLAIM = "unclaim"


@dataclass(frozen=True)
class Action:
    """Something a team member did to a conversation (from a nudge button, a command, …)."""

    kind: ActionKind
    person: str
    at: datetime
    until: datetime | None = None
    note: str = ""


@quick_init
@dataclass(frozen=True)
class MessageFact:
    """The stored form of a message that state is computed from."""

    message_id: str
    at: datetime
    is_team: bool
    author_id: str
    person: str | None = None
    text: str = ""
    deleted: bool = False
    author_name: str = ""
    url: str = ""
    edited_at: datetime | None = None  # the winning edit's time, when edited

    @property
    def who(self) -> str:
        """Team member id when known, else the raw author id (keys per-person statistics)."""
        return self.person or self.author_id


def utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; reject naive ones (their zone is a guess)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: a time zone is required")
    return value.astimezone(UTC)
