"""Block Kit for nudges: what waits, the transcript, the buttons; and the reply modal (pure).

Customer-authored text (names, message text) never goes into a field Slack parses as mrkdwn:
escaping ``& < >`` stops mentions and links, but nothing escapes ``*bold*``, ``_italic_``
or ``~strike~``. So the customer's name is a ``plain_text`` element and the transcript is a
``rich_text`` block whose ``text`` elements Slack shows literally (formatting is ours, set
by ``style``; a Slack author is a ``user`` element built from a checked id). mrkdwn fields
carry only our own words, checked ids and escaped config names (team members, sources).
Everything is trimmed to Block Kit's limits (3,000 characters a text object, 50 blocks).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapters.slack import rich
from bot.domain.ports import NudgeUpdate, NudgeView, Outcome, Step, TranscriptLine
from bot.domain.reply_window import describe_window
from bot.domain.untrusted import safe_url, slack_link, slack_text, valid_text

Block = dict[str, Any]
NameOf = Callable[[str], str]

SECTION_LIMIT = 3000
LINE_LIMIT = 500
ACTION_REPLY = "nudge_reply"
ACTION_CLAIM = "nudge_claim"
ACTION_SNOOZE = "nudge_snooze"
ACTION_NOT_NEEDED = "nudge_not_needed"
REPLY_CALLBACK = "nudge_reply_modal"
REPLY_BLOCK, REPLY_INPUT = "reply", "text"
SNOOZES = (("30m", "30 minutes"), ("2h", "2 hours"), ("tomorrow", "Tomorrow 09:00"))
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


def escape(text: str) -> str:
    """Customer or config text in a mrkdwn field (bot.domain.untrusted.slack_text)."""
    return slack_text(text)


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def duration(seconds: float) -> str:
    """``45s``, ``18m``, ``2h 5m``, ``3d 4h``: two units at most."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if hours == 0:
        return f"{minutes}m"
    if days == 0:
        rest = minutes % 60
        return f"{hours}h {rest}m" if rest else f"{hours}h"
    rest = hours % 24
    return f"{days}d {rest}h" if rest else f"{days}d"


def slack_user(name: str, platform: str) -> bool:
    return platform == "slack" and bool(_USER_ID.match(name))


def mention(name: str, platform: str) -> str:
    """mrkdwn for a nudge's customer: a Slack user id renders as a mention (an id we
    checked); any other name is customer text, shown by ``customer_block`` in plain_text."""
    return f"<@{name}>" if slack_user(name, platform) else "A customer"


def plain(text: str, limit: int = SECTION_LIMIT) -> Block:
    """A plain_text object: shown literally (``emoji`` off, so ``:shortcodes:`` stay text);
    Slack wants 1 to 3,000 characters."""
    return {"type": "plain_text", "text": trim(valid_text(text), limit) or " ", "emoji": False}


def customer_block(name: str, platform: str) -> Block | None:
    """The customer's name as they set it, in plain_text (None for a Slack user id, which
    the headline already shows as a mention)."""
    if slack_user(name, platform):
        return None
    label = {"type": "mrkdwn", "text": "*Customer:*"}
    return {"type": "context", "elements": [label, plain(name or "unknown", LINE_LIMIT)]}


def where(platform: str, channel: str, source: str) -> str:
    if platform == "slack" and _CHANNEL_ID.match(channel):
        return f"<#{channel}>"
    return f"{escape(source)} ({escape(platform)})"


def local(at: datetime, tz: str, now: datetime) -> str:
    zone = _zone(tz)
    when, today = at.astimezone(zone), now.astimezone(zone)
    return when.strftime("%H:%M" if when.date() == today.date() else "%a %d %b %H:%M")


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


_CUT_ENTITY = re.compile(r"&[a-z]{0,3}…$")


def trim_mrkdwn(text: str, limit: int) -> str:
    """``trim`` for escaped text: a cut inside ``&lt;`` must not leave a bare ``&``."""
    out = trim(text, limit)
    return _CUT_ENTITY.sub("…", out) if out != text else out


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": trim_mrkdwn(text, SECTION_LIMIT)}}


def context(text: str) -> Block:
    element = {"type": "mrkdwn", "text": trim_mrkdwn(text, SECTION_LIMIT)}
    return {"type": "context", "elements": [element]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    out: Block = {
        "type": "button",
        "action_id": action_id,
        "value": value,
        "text": {"type": "plain_text", "text": text, "emoji": True},
    }
    if style:
        out["style"] = style
    return out


def transcript(
    lines: Sequence[TranscriptLine], platform: str, tz: str, now: datetime
) -> Block | None:
    """A rich_text block, newest last: per line the author and time, then the words as a
    quote. Customer text sits in ``text`` elements, which Slack never parses. The oldest
    lines go first when the whole would pass ``SECTION_LIMIT`` characters."""
    rendered: list[tuple[int, list[Block]]] = []
    for line in lines:
        body = trim(" ".join(line.text.split()), LINE_LIMIT)
        badge = " (team)" if line.is_team else ""
        said = [
            rich.person(line.author, platform),
            rich.text(f"{badge} · {local(line.at, tz, now)}"),
        ]
        words = [rich.text(body) if body else rich.text("(no text)", italic=True)]
        elements = [rich.line(said), {"type": "rich_text_quote", "elements": words}]
        rendered.append((rich.size(said) + rich.size(words) + 2, elements))
    while rendered and sum(size for size, _ in rendered) > SECTION_LIMIT:
        rendered.pop(0)
    if not rendered:
        return None
    return {"type": "rich_text", "elements": [e for _, pair in rendered for e in pair]}


def headline(view: NudgeView, name_of: NameOf) -> str:
    text = _headline(view, name_of)
    if view.reply_window_closes is None:
        return text
    closes = local(view.reply_window_closes, view.recipient.timezone, view.now)
    note = describe_window(view.reply_window_closes, view.now)
    return f"{text}\n:hourglass_flowing_sand: {note} (window closes {closes})."


def _headline(view: NudgeView, name_of: NameOf) -> str:
    waited = duration(view.waiting_seconds)
    customer, place = (
        mention(view.customer, view.platform),
        where(view.platform, view.channel, view.source),
    )
    if view.step == Step.ESCALATION:
        names = ", ".join(escape(name_of(p)) for p in view.responsible) or "nobody"
        return (
            f":rotating_light: *Escalation:* {customer} has waited *{waited}* in {place} "
            f"and nobody has answered. Responsible: {names}."
        )
    if view.step == Step.REMINDER:
        return f":alarm_clock: *Still waiting:* {customer} in {place}, for *{waited}* now."
    return f":wave: {customer} is waiting for a reply in {place} — *{waited}* so far."


def fallback(view: NudgeView) -> str:
    """The notification text. Slack parses it as mrkdwn (chat.update has no switch to stop
    that), so it names no customer text: a Slack customer by mention, others as "A
    customer"; the name itself is in the blocks, in plain_text."""
    place = f"#{view.channel}" if view.platform == "slack" else view.source
    waited = duration(view.waiting_seconds)
    return f"{mention(view.customer, view.platform)} is waiting in {escape(place)} ({waited})"


def action_value(view: NudgeView, extra: str = "") -> str:
    return f"{view.conversation_id}:{view.nudge_id}" + (f":{extra}" if extra else "")


def actions(
    view: NudgeView,
    *,
    reply: bool = True,
    claim: bool = True,
    snooze: bool = True,
    not_needed: bool = True,
) -> Block | None:
    elements: list[Block] = []
    if reply and view.can_reply:
        elements.append(button("Reply", ACTION_REPLY, action_value(view), "primary"))
    if claim:
        elements.append(button("Claim", ACTION_CLAIM, action_value(view)))
    if snooze:
        elements.append(
            {
                "type": "static_select",
                "action_id": ACTION_SNOOZE,
                "placeholder": {"type": "plain_text", "text": "Snooze"},
                "options": [
                    {
                        "text": {"type": "plain_text", "text": label},
                        "value": action_value(view, key),
                    }
                    for key, label in SNOOZES
                ],
            }
        )
    if not_needed:
        no = button("Not needed", ACTION_NOT_NEEDED, action_value(view))
        no["confirm"] = {
            "title": {"type": "plain_text", "text": "No reply needed?"},
            "text": {"type": "mrkdwn", "text": "This ends the wait without a reply."},
            "confirm": {"type": "plain_text", "text": "Not needed"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
        elements.append(no)
    if not elements:
        return None
    return {"type": "actions", "block_id": f"nudge:{view.nudge_id}", "elements": elements}


def _body(view: NudgeView, link: str) -> list[Block]:
    blocks = []
    name = customer_block(view.customer, view.platform)
    if name is not None:
        blocks.append(name)
    lines = transcript(view.transcript, view.platform, view.recipient.timezone, view.now)
    if lines is not None:
        blocks.append(lines)
    prompt = "Reply in the thread" + (
        ", or press *Reply* to answer from here." if view.can_reply else "."
    )
    opener = f"{slack_link(link, 'Open thread')} · " if safe_url(link) else ""
    blocks.append(context(opener + prompt))
    return blocks


def nudge_blocks(view: NudgeView, link: str, name_of: NameOf) -> list[Block]:
    blocks = [section(headline(view, name_of)), *_body(view, link)]
    buttons = actions(view)
    return [*blocks, buttons] if buttons else blocks


def _by_recipient(view: NudgeView, update: NudgeUpdate, name_of: NameOf) -> bool:
    """``update.by`` may be a member id or, from the engine, their display name."""
    me = view.recipient.person
    return bool(update.by and me and update.by in (me, name_of(me)))


def update_line(view: NudgeView, update: NudgeUpdate, name_of: NameOf) -> str:
    by = escape(name_of(update.by)) if update.by else "someone"
    mine = _by_recipient(view, update, name_of)
    after = f" after {duration(update.after_seconds)}" if update.after_seconds is not None else ""
    if update.outcome == Outcome.ANSWERED:
        return f":white_check_mark: *Answered* by {by}{after}."
    if update.outcome == Outcome.CLAIMED:
        return ":eyes: *You claimed this.*" if mine else f":eyes: *Claimed* by {by}."
    if update.outcome == Outcome.SNOOZED:
        until = local(update.until, view.recipient.timezone, update.at) if update.until else "later"
        return f":zzz: *Snoozed* until {until} by {by}."
    return f":heavy_minus_sign: Marked *not needed* by {by}."


def updated_blocks(view: NudgeView, update: NudgeUpdate, link: str, name_of: NameOf) -> list[Block]:
    """The nudge after something happened: the outcome on top, buttons only while they help."""
    blocks = [
        section(
            update_line(view, update, name_of)
            + "\n"
            + (
                _headline(view, name_of)  # answered: the reply window no longer matters
                if update.outcome in (Outcome.ANSWERED, Outcome.NOT_NEEDED)
                else headline(view, name_of)
            )
        ),
        *_body(view, link),
    ]
    buttons: Block | None = None
    if update.outcome == Outcome.CLAIMED and _by_recipient(view, update, name_of):
        buttons = actions(view, claim=False)
    elif update.outcome == Outcome.SNOOZED:
        buttons = actions(view, snooze=False)
    return [*blocks, buttons] if buttons else blocks


def reply_modal(conversation_id: int, nudge_id: int | None, place: str) -> Block:
    return {
        "type": "modal",
        "callback_id": REPLY_CALLBACK,
        "private_metadata": f"{conversation_id}:{nudge_id if nudge_id is not None else ''}",
        "title": {"type": "plain_text", "text": "Reply"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            context(f"Your reply is posted in the thread in {place}, signed with your name."),
            {
                "type": "input",
                "block_id": REPLY_BLOCK,
                "label": {"type": "plain_text", "text": "Reply"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REPLY_INPUT,
                    "multiline": True,
                    "max_length": 3000,
                },
            },
        ],
    }
