"""Nudges printed to a terminal with Rich: the whole loop on one machine, no accounts needed.

Customer text goes in as ``rich.text.Text`` (never parsed as Rich markup) after
``bot.domain.untrusted.terminal`` (no escape sequences reach the terminal)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from bot.domain.durations import format_duration
from bot.domain.ports import Delivered, NudgeUpdate, NudgeView, Outcome, Recipient, Step
from bot.domain.summary import SummaryView
from bot.domain.untrusted import md_display, safe_url, terminal

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
    body.append(terminal(view.customer or "A customer"), style="bold")
    body.append(f" has waited {waited} in {terminal(view.source)}")
    if view.channel:
        body.append(f" ({view.platform} {terminal(view.channel)})")
    body.append("\n")
    for line in view.transcript:
        style = "blue" if line.is_team else ""
        when = _local(line.at, view.recipient.timezone)
        body.append(f"\n{when} {terminal(line.author)}: ", style="dim")
        body.append(terminal(line.text, one_line=False), style=style)
    if safe_url(view.url):
        body.append(f"\n\n{terminal(view.url)}", style="underline")
    body.append("\n\nReply · Claim · Snooze 30m / 2h / tomorrow 09:00 · Not needed", style="dim")
    who = view.recipient.person or view.recipient.address
    title = f"#{view.conversation_id} {_TITLES[view.step]} → {who}"
    return Panel(body, title=title, title_align="left", border_style="red")


def render_update(update: NudgeUpdate, zone: str) -> Text:
    style, label = _DONE[update.outcome]
    text = f"{label}" + (f" by {terminal(update.by)}" if update.by else "")
    if update.after_seconds is not None and update.outcome is Outcome.ANSWERED:
        text += f" after {format_duration_seconds(update.after_seconds)}"
    if update.until is not None:
        text += f" until {_local(update.until, zone)}"
    return Text(text, style=style)


def render_summary(view: SummaryView) -> Panel:
    # Rich Text, not markup: customer text is shown as it is, never interpreted.
    body = Text()
    body.append(f"{view.waiting} conversations are waiting on you", style="bold")
    if view.escalated:
        body.append(f" · {view.escalated} escalated to you")
    for item in view.oldest:
        waited = format_duration(view.now - item.waiting_since)
        body.append(f"\n#{item.conversation_id} {item.customer or 'A customer'}")
        body.append(f" in {item.source} · {waited}", style="dim")
    if view.more:
        body.append(f"\n… and {view.more} more: {view.link or view.command}")
    if view.held_back:
        body.append(
            f"\n{view.held_back} nudge(s) held back (max_messages_per_hour)", style="yellow"
        )
    who = view.recipient.person or view.recipient.address
    return Panel(body, title=f"summary → {who}", title_align="left", border_style="blue")


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
        shown = Text(terminal(md_display(text), one_line=False))  # Text: no Rich markup
        self.console.print(Panel(shown, title=f"→ {recipient.person or recipient.address}"))
        return Delivered(f"console:{next(self._ids)}")

    async def send_summary(self, view: SummaryView) -> Delivered:
        ref = f"console:{next(self._ids)}"
        self.console.print(render_summary(view))
        return Delivered(ref)

    async def update_summary(self, ref: str, view: SummaryView) -> None:
        line = Text(f"{ref} summary now: {view.waiting} waiting on you", style="dim")
        self.console.print(line)
