"""What a platform declaration says: pure data, so config, wiring and web can all read it
without importing any adapter (adapters pull in their SDKs; config must stay light)."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import Any


class Can(enum.StrEnum):
    """The capabilities a platform may offer; the wiring and the web read these."""

    ROUTE = "route"  # receives events on an HTTP route of ours
    POLL = "poll"  # reads the platform's API on a timer (bot.services.polling)
    CATCH_UP = "catch_up"  # reads back what was missed since a stored cursor
    NUDGE = "nudge"  # a messenger: delivers nudges and digests to team members
    REPLY = "reply"  # posts the Reply button's text into the customer's thread
    NAMES = "names"  # display names of channels/chats for the dashboard
    # Keeps unreadable inbound payloads; /metrics reports its count even when 0.
    DEAD_LETTERS = "dead_letters"


@dataclass(frozen=True, kw_only=True)
class PersonAddress:
    """A team member's address on a platform that delivers nudges: the YAML key under
    ``team.<id>`` (``slack:``, ``telegram:`` …), named after the platform."""

    label: str  # "slack ID": used in messages about the key
    example: str  # a valid value, for fixes
    placeholder: str  # what to write, in "add slack: <…>"
    # None: any text. Else the value (text or a number) must match in full.
    pattern: re.Pattern[str] | None = None
    invalid: str = ""  # "is not a Telegram user ID" (after the value's description)
    invalid_fix: str = ""
    # A member with this address and no ``notify:`` is nudged here (first in registry order).
    default_notify: bool = True


# A wiring factory: (Runtime, Core) -> Component | Sequence[Component] | None. Typed loosely
# because the registry sits below bot.app and bot.wiring in the layers.
Build = Callable[[Any, Any], Any]


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, kw_only=True)
class Platform:
    """One platform, declared once (see bot/platforms/builtin.py for the real ones).

    ``wiring`` and ``poller`` are ``"module:attribute"`` paths, imported only when a process
    is assembled, or (in tests) the objects themselves.
    """

    name: str  # the ``platform:`` value of its sources, and its messenger's ``platform``
    title: str  # for people: "Slack", "GitHub"
    can: frozenset[Can] = frozenset()
    source_keys: tuple[str, ...] = ()  # YAML keys its sources read (besides the common ones)
    own_keys: tuple[str, ...] = ()  # keys no other platform's source may carry
    required: Mapping[str, str] = field(default_factory=dict)  # key -> how to fix its absence
    strict: bool = False  # any key beyond the common ones and source_keys is an error
    keys_note: str = ""  # said after the list of keys a strict platform takes
    options: tuple[str, ...] = ()  # extra options its adapter reads itself (Source.extra)
    address: PersonAddress | None = None
    messenger_env: str | None = None  # the variable without which its messenger is off
    wiring: str | Build | None = None  # builds its Component(s) for `nudgebot run`
    poller: str | type | None = None  # a SourcePoller class: run by bot.wiring.polled
    # How long after a customer's last message a free-form reply is allowed (WhatsApp: 24 h,
    # then only a template); None: always. Caps the ladder's due time and gates Reply.
    reply_window: timedelta | None = None
    # Hooks for what a key list cannot say, each a ``"module:function"`` path (or the function):
    # ``check(source)`` raises ValueError("key: problem") for a bad platform-specific key
    # (config validation, after the common checks passed); ``credentials(source)`` returns
    # (what the startup report says, a warning or None); ``notify_check(config)`` returns why
    # a member's ``notify:`` here cannot be delivered, or None.
    check: str | Callable[[Any], None] | None = None
    credentials: str | Callable[[Any], tuple[str, str | None]] | None = None
    notify_check: str | Callable[[Any], str | None] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "required", _frozen(self.required))
        object.__setattr__(self, "can", frozenset(self.can))

    def __hash__(self) -> int:
        return hash(self.name)
