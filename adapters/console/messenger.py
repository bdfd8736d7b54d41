"""Nudges printed to a terminal with Rich: the whole loop on one machine, no accounts needed."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from bot.domain.durations import format_duration
from bot.domain.ports import Delivered, NudgeUpdate, NudgeView, Outcome, Recipient, Step

_TITLES = {
    Step.FIRST: "waiting for a reply",
    Step.REMINDER: "still waiting",
    Step.ESCALATION: "escalated: nobody has answered",
}
_DONE = {
    Outcome.ANSWERED: ("green", "✅ answered"),
    Outcome.CLAIMED: ("cyan", "🙋 claimed"),
    Outcome.SNOOZED: ("yellow", "💤 snoozed"),
    Outcome.NOT_NEEDED: ("dim", "➖ not needed"),
}


def _local(at: datetime, zone: str) -> str:
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):
        tz = ZoneInfo("UTC")
    return f"{at.astimezone(tz):%a %H:%M}"


def render_nudge(view: NudgeView) -> Panel:
    waited = format_duration(view.now - view.waiting_since)
    body = Text()
    body.append(f"{view.customer or 'A customer'}", style="bold")
    body.append(f" has waited {waited} in {view.source}")
    if view.channel:
        body.append(f" ({view.platform} {view.channel})")
    body.append("\n")
    for line in view.transcript:
        style = "blue" if line.is_team else ""
        body.append(f"\n{_local(line.at, view.recipient.timezone)} {line.author}: ", style="dim")
        body.append(line.text, style=style)
    if view.url:
        body.append(f"\n\n{view.url}", style="underline")
    body.append("\n\nReply · Claim · Snooze 30m / 2h / tomorrow 09:00 · Not needed", style="dim")
    who = view.recipient.person or view.recipient.address
    title = f"#{view.conversation_id} {_TITLES[view.step]} → {who}"
    return Panel(body, title=title, title_align="left", border_style="red")


def render_update(update: NudgeUpdate, zone: str) -> Text:
    style, label = _DONE[update.outcome]
    text = f"{label}" + (f" by {update.by}" if update.by else "")
    if update.after_seconds is not None and update.outcome is Outcome.ANSWERED:
        text += f" after {format_duration_seconds(update.after_seconds)}"
    if update.until is not None:
        text += f" until {_local(update.until, zone)}"
    return Text(text, style=style)


def format_duration_seconds(seconds: int) -> str:
    return format_duration(timedelta(seconds=seconds))


class ConsoleMessenger:
    """Prints each nudge as a panel, and each outcome once per conversation and waiting
    period (a first nudge, a reminder and an escalation are all updated when it is answered;
    one line says so). Counts what it printed, for the demo's closing summary."""

    def __init__(self, console: Console | None = None, platform: str = "console") -> None:
        self.console = console or Console()
        self.platform = platform
        self._ids = itertools.count(1)
        self.nudges_sent = 0
        # (conversation, waiting since) -> seconds to the answer (None: not timed)
        self.answered: dict[tuple[int, datetime], int | None] = {}
        self._told: set[tuple[int, datetime, Outcome]] = set()

    async def send_nudge(self, view: NudgeView) -> Delivered:
        ref = f"console:{next(self._ids)}"
        self.nudges_sent += 1
        self.console.print(render_nudge(view))
        return Delivered(ref)

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None:
        key = (view.conversation_id, view.waiting_since, update.outcome)
        if key in self._told:
            return
        self._told.add(key)
        if update.outcome is Outcome.ANSWERED:
            self.answered[(view.conversation_id, view.waiting_since)] = update.after_seconds
        line = Text(f"#{view.conversation_id} {view.customer or 'a customer'}: ")
        line.append_text(render_update(update, view.recipient.timezone))
        self.console.print(line)

    async def send_text(self, recipient: Recipient, text: str) -> Delivered:
        self.console.print(Panel(text, title=f"→ {recipient.person or recipient.address}"))
        return Delivered(f"console:{next(self._ids)}")
