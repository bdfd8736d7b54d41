"""HTML and buttons for a summary message: many nudges to one person as one message (pure).

Each of the oldest few conversations gets a numbered row of the nudge buttons (same
callback data as a nudge's, so the existing handler acts on them).
"""

from __future__ import annotations

import html
from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from adapters.telegram import actions, render
from adapters.telegram.actions import Button
from bot.domain.durations import format_duration
from bot.domain.summary import SummaryItem, SummaryReason, SummaryView

COMMAND = "/mine"  # Telegram's "waiting on me" command
_HEADS = {
    SummaryReason.BATCH: "📥 <b>{n} waiting on you</b>",
    SummaryReason.CATCH_UP: "📥 <b>Catching up: {n} waiting on you</b>",
    SummaryReason.IMPORT: "📥 <b>Imported history: {n} waiting on you</b>",
    SummaryReason.CAP: "📥 <b>{n} waiting on you</b>",
}


# --- customer and config text: every escape of this module is here ------------------------


def _text(value: str, limit: int = 64) -> str:
    return render.esc(" ".join(value.split())[:limit])


def _href(url: str) -> str:
    """An ``href`` only for http(s) links, attribute-escaped."""
    return html.escape(url, quote=True) if url.startswith(("http://", "https://")) else ""


# -------------------------------------------------------------------------------------------


def _item(number: int, item: SummaryItem, view: SummaryView) -> str:
    waited = format_duration(timedelta(seconds=item.waiting_seconds(view.now)))
    who = _text(item.customer or "A customer")
    line = f"{number}. <b>{who}</b> in {_text(item.source)} ({_text(item.platform)}) · {waited}"
    href = _href(item.url)
    if href:
        line += f' · <a href="{href}">open</a>'
    return line + f" · #{item.conversation_id}"


def summary_html(view: SummaryView) -> str:
    head = _HEADS[view.reason].format(n=view.waiting)
    if view.escalated:
        head += f" · <b>{view.escalated} escalated to you</b>"
    parts = [head]
    if view.oldest:
        parts.append("\n".join(_item(i, it, view) for i, it in enumerate(view.oldest, 1)))
    else:
        parts.append("Nothing is waiting on you any more. ✅")
    if view.team_waiting is not None:
        sources = ", ".join(f"{_text(k)} {n}" for k, n in view.by_source) or "—"
        people = ", ".join(f"{_text(k)} {n}" for k, n in view.by_person) or "—"
        parts.append(
            f"<b>Team: {view.team_waiting} waiting after the import</b>\n"
            f"By source: {sources}\nBy responsible person: {people}"
        )
    href = _href(view.link)
    where = f'<a href="{href}">the dashboard</a> or {COMMAND}' if href else COMMAND
    if view.more:
        parts.append(f"… and <b>{view.more} more</b>: see {where}.")
    else:
        parts.append(f"{where} lists them any time.")
    if view.held_back:
        parts.append(
            f"<i>{view.held_back} nudge(s) were held back: you reached the limit of "
            "messages per hour.</i>"
        )
    return "\n\n".join(parts)[: render.MAX_MESSAGE]


def summary_keyboard(view: SummaryView) -> InlineKeyboardMarkup | None:
    rows = []
    for number, item in enumerate(view.oldest, 1):

        def press(which: Button, label: str, item: SummaryItem = item) -> InlineKeyboardButton:
            data = actions.encode(which, item.nudge_id, item.conversation_id)
            return InlineKeyboardButton(label, callback_data=data)

        rows.append([
            press(Button.CLAIM, f"{number}. 🙋 Claim"),
            press(Button.SNOOZE_2H, f"{number}. ⏰ 2h"),
            press(Button.NOT_NEEDED, f"{number}. ✖"),
        ])  # fmt: skip
    return InlineKeyboardMarkup(rows) if rows else None
