"""Nudge buttons: what their ``callback_data`` says and when a snooze ends. Pure.

``callback_data`` is ``nb:<button>:<nudge id>:<conversation id>`` — at most 52 bytes with
19-digit ids, inside Telegram's 64. It carries both ids so a press means the same thing on
every replica and after a restart: nothing about a sent nudge is kept in memory.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.events import ActionKind

PREFIX = "nb"
MAX_CALLBACK_BYTES = 64
TOMORROW_AT = time(9, 0)
_DATA = re.compile(r"^nb:([a-z0-9]+):(\d{1,19}):(\d{1,19})$")


class Button(enum.StrEnum):
    CLAIM = "claim"
    SNOOZE_30M = "s30m"
    SNOOZE_2H = "s2h"
    SNOOZE_TOMORROW = "stom"
    NOT_NEEDED = "nn"


LABELS: dict[Button, str] = {
    Button.CLAIM: "🙋 Claim",
    Button.SNOOZE_30M: "⏰ 30m",
    Button.SNOOZE_2H: "⏰ 2h",
    Button.SNOOZE_TOMORROW: "⏰ Tomorrow",
    Button.NOT_NEEDED: "✖ Not needed",
}
KINDS: dict[Button, ActionKind] = {
    Button.CLAIM: ActionKind.CLAIM,
    Button.SNOOZE_30M: ActionKind.SNOOZE,
    Button.SNOOZE_2H: ActionKind.SNOOZE,
    Button.SNOOZE_TOMORROW: ActionKind.SNOOZE,
    Button.NOT_NEEDED: ActionKind.NOT_NEEDED,
}
_FIXED: dict[Button, timedelta] = {
    Button.SNOOZE_30M: timedelta(minutes=30),
    Button.SNOOZE_2H: timedelta(hours=2),
}


@dataclass(frozen=True)
class Press:
    button: Button
    nudge_id: int
    conversation_id: int

    @property
    def kind(self) -> ActionKind:
        return KINDS[self.button]


def encode(button: Button, nudge_id: int, conversation_id: int) -> str:
    data = f"{PREFIX}:{button.value}:{nudge_id}:{conversation_id}"
    if len(data.encode()) > MAX_CALLBACK_BYTES:  # only with ids beyond 19 digits
        raise ValueError(f"callback data longer than {MAX_CALLBACK_BYTES} bytes: {data!r}")
    return data


def decode(data: str | None) -> Press | None:
    """The press a ``callback_data`` describes, or None for anything we did not send."""
    match = _DATA.match(data or "")
    if match is None:
        return None
    try:
        button = Button(match.group(1))
    except ValueError:
        return None
    return Press(button, int(match.group(2)), int(match.group(3)))


def tomorrow_morning(now: datetime, timezone: str) -> datetime:
    """09:00 tomorrow in ``timezone`` (the person's), as an aware datetime in that zone."""
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    day = local.date() + timedelta(days=1)
    return datetime.combine(day, TOMORROW_AT, tzinfo=zone)


def snooze_until(button: Button, now: datetime, timezone: str) -> datetime | None:
    """When a snooze button's snooze ends; None for buttons that are not snoozes."""
    if button is Button.SNOOZE_TOMORROW:
        return tomorrow_morning(now, timezone)
    step = _FIXED.get(button)
    return now + step if step is not None else None
