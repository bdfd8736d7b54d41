"""Nudges and command answers as Telegram HTML (``parse_mode=HTML``). Pure.

Everything that came from a person is escaped; Telegram rejects a message with a stray
``<`` or ``&`` ("can't parse entities"), so escaping is correctness, not just safety.
A message may hold 4096 characters: transcripts are trimmed oldest-first to stay inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from adapters.telegram import actions
from adapters.telegram.actions import Button
from bot.domain.durations import format_duration
from bot.domain.ports import NudgeUpdate, NudgeView, OnCallItem, Outcome, Step, WaitingItem
from bot.domain.reply_window import describe_window
from bot.domain.untrusted import Bold, Code, Link, html_link, html_text, md_parse, safe_url

MAX_MESSAGE = 4096
_BUDGET = 3800  # room for the header, status and footer around the transcript
_LINE = 300  # characters of one transcript message
_LIST = 20  # rows of /waiting
PROMPT_TELEGRAM = "↩️ <i>Reply to this message to answer {who} — I post it as you.</i>"
PROMPT_ELSEWHERE = "↩️ <i>Reply to this message to answer {who}.</i>"
_HEADERS = {
    Step.FIRST: "⏳ <b>{who}</b> is waiting for a reply",
    Step.REMINDER: "⏳ Still waiting: <b>{who}</b>",
    Step.ESCALATION: "🚨 Nobody has answered <b>{who}</b>",
}


def esc(text: str) -> str:
    """Anything from a person, a server or the config (bot.domain.untrusted.html_text)."""
    return html_text(text)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def clock(at: datetime, zone: str, now: datetime | None = None) -> str:
    """``14:05``, with the date when it is not today's (in the reader's zone)."""
    local = at.astimezone(_zone(zone))
    today = (now or at).astimezone(_zone(zone)).date()
    return f"{local:%H:%M}" if local.date() == today else f"{local:%a %d %b %H:%M}"


def _trim(text: str, limit: int = _LINE) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def transcript(view: NudgeView, budget: int = _BUDGET) -> str:
    """The newest messages that fit in ``budget`` characters, newest last."""
    zone = view.recipient.timezone
    lines: list[str] = []
    used = 0
    for line in reversed(view.transcript):
        mark = "👤" if not line.is_team else "💬"
        rendered = (
            f"{mark} <b>{esc(_trim(line.author, 64))}</b> · {clock(line.at, zone, view.now)}\n"
            f"{esc(_trim(line.text))}"
        )
        if lines and used + len(rendered) + 1 > budget:
            lines.append("…")
            break
        lines.append(rendered)
        used += len(rendered) + 1
    return "\n".join(reversed(lines))


def status_line(update: NudgeUpdate, zone: str) -> str:
    by = esc(update.by or "someone")
    after = (
        f" after {format_duration(timedelta(seconds=update.after_seconds))}"
        if update.after_seconds is not None
        else ""
    )
    if update.outcome is Outcome.ANSWERED:
        return f"✅ <b>Answered</b> by {by}{after}"
    if update.outcome is Outcome.CLAIMED:
        return f"🙋 <b>Claimed</b> by {by}"
    if update.outcome is Outcome.SNOOZED:
        until = f" until {clock(update.until, zone, update.at)}" if update.until else ""
        return f"⏰ <b>Snoozed</b>{until} by {by}"
    return f"✖ <b>Not needed</b> — {by}"


def nudge_html(view: NudgeView, update: NudgeUpdate | None = None) -> str:
    zone = view.recipient.timezone
    who = esc(_trim(view.customer or "A customer", 64))
    waited = format_duration(timedelta(seconds=view.waiting_seconds))
    parts: list[str] = []
    if update is not None:
        parts.append(status_line(update, zone))
    parts.append(_HEADERS[view.step].format(who=who))
    where = f"in <b>{esc(view.source)}</b> ({esc(view.platform)})"
    parts.append(
        f"{where} for <b>{waited}</b> · since {clock(view.waiting_since, zone, view.now)}"
        + (f", due {clock(view.due_at, zone, view.now)}" if view.due_at else "")
    )
    resolved = update is not None and update.outcome in (Outcome.ANSWERED, Outcome.NOT_NEEDED)
    if view.reply_window_closes is not None and not resolved:
        note = describe_window(view.reply_window_closes, view.now)
        closes = clock(view.reply_window_closes, zone, view.now)
        parts.append(f"⏳ {esc(note)} (window closes {closes})")
    if view.step is Step.ESCALATION and view.responsible:
        parts.append("Responsible: " + esc(", ".join(view.responsible)))
    if view.transcript:
        parts.append(f"<blockquote>{transcript(view)}</blockquote>")
    if safe_url(view.url):
        parts.append(html_link(view.url, "Open the conversation"))
    resolved = update is not None and update.outcome in (Outcome.ANSWERED, Outcome.NOT_NEEDED)
    if view.can_reply and not resolved:
        prompt = PROMPT_TELEGRAM if view.platform == "telegram" else PROMPT_ELSEWHERE
        parts.append(prompt.format(who=who))
    parts.append(f"<i>Conversation #{view.conversation_id}</i>")
    return "\n".join(parts)


def keyboard(view: NudgeView, update: NudgeUpdate | None = None) -> InlineKeyboardMarkup | None:
    """Claim / Snooze 30m, 2h, tomorrow / Not needed; none once the conversation is resolved,
    no Claim once claimed."""
    if update is not None and update.outcome in (Outcome.ANSWERED, Outcome.NOT_NEEDED):
        return None

    def button(which: Button) -> InlineKeyboardButton:
        data = actions.encode(which, view.nudge_id, view.conversation_id)
        return InlineKeyboardButton(actions.LABELS[which], callback_data=data)

    top = [button(Button.NOT_NEEDED)]
    if update is None or update.outcome is not Outcome.CLAIMED:
        top.insert(0, button(Button.CLAIM))
    snoozes = [button(Button.SNOOZE_30M), button(Button.SNOOZE_2H),
               button(Button.SNOOZE_TOMORROW)]  # fmt: skip
    return InlineKeyboardMarkup([top, snoozes])


def markdown_light(text: str) -> str:
    """``**bold**``/``*bold*``, ```code``` and ``[text](http…)`` to HTML from the template's
    tokens; the values inserted into it (``md_literal``) stay escaped text."""
    parts = []
    for token in md_parse(text):
        if isinstance(token, Bold):
            parts.append(f"<b>{esc(token.text)}</b>")
        elif isinstance(token, Code):
            parts.append(f"<code>{esc(token.text)}</code>")
        elif isinstance(token, Link):
            parts.append(html_link(token.url, token.label))
        else:
            parts.append(esc(token.text))
    return "".join(parts)


def waiting_list(items: Sequence[WaitingItem], zone: str, now: datetime, title: str) -> str:
    if not items:
        return f"<b>{esc(title)}</b>\nNobody is waiting. 🎉"
    rows = [f"<b>{esc(title)}</b> ({len(items)})"]
    for item in items[:_LIST]:
        waited = format_duration(now - item.waiting_since)
        flag = "🔴" if item.overdue else "🟡"
        who = esc(_trim(item.customer or "?", 40))
        owner = esc(", ".join(item.responsible) or "nobody")
        link = f" · {html_link(item.url, 'open')}" if safe_url(item.url) else ""
        rows.append(
            f"{flag} #{item.conversation_id} <b>{who}</b> in {esc(item.source)} · {waited}"
            f" → {owner}{link}\n    {esc(_trim(item.last_message, 80))}"
        )
    if len(items) > _LIST:
        rows.append(f"… and {len(items) - _LIST} more")
    return "\n".join(rows)


def oncall_list(items: Sequence[OnCallItem], zone: str, now: datetime) -> str:
    if not items:
        return "No rotations are configured."
    rows = ["<b>On call</b>"]
    for item in items:
        until = f" until {clock(item.until, zone, now)}" if item.until else ""
        nxt = f", then {esc(item.next_person)}" if item.next_person else ""
        rows.append(f"• {esc(item.rotation)}: <b>{esc(item.person or 'nobody')}</b>{until}{nxt}")
    return "\n".join(rows)


HELP = """\
<b>Nudgebot</b> keeps customers from waiting.
/waiting — everyone waiting for a reply
/mine — conversations waiting on you
/oncall — who is on call now
/snooze &lt;#conversation&gt; [30m|2h|tomorrow] — snooze a conversation's nudges
/whoami — your Telegram user id and this chat's id
Reply to a nudge to answer the customer; its buttons claim, snooze or close it."""

REFUSAL = (
    "Sorry, I only answer that for the team. /whoami tells you your Telegram ids, "
    "if someone set up this bot asks for them."
)
TEAM_NOTE = "Reply to one of my nudges to answer the customer, or see /help."
UNKNOWN = "I don't know that command. /help lists what I can do."


def whoami(user_id: int, chat_id: int, chat_type: str, person: str | None) -> str:
    lines = [f"Your Telegram user id: <code>{user_id}</code>"]
    lines.append(f"This chat's id: <code>{chat_id}</code> ({esc(chat_type)})")
    if person is not None:
        lines.append(f"You are <b>{esc(person)}</b> in the team config.")
    return "\n".join(lines)
