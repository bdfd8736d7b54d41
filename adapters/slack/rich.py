"""``rich_text`` elements for lines that carry customer text (pure).

Slack shows a rich_text ``text`` element exactly as written: no mrkdwn, so no ``*bold*``,
mention or link can come out of a customer's name. Formatting is ours (``style``); a Slack
user, a channel, a link and an emoji are their own elements, built only from checked ids,
``safe_url`` URLs and our own labels.
"""

from __future__ import annotations

import re
from typing import Any

from bot.domain.untrusted import slack_url, valid_text

Element = dict[str, Any]
NAME_LIMIT = 80  # a name is a label, not a paragraph
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")


def text(value: str, **style: bool) -> Element:
    # Slack wants 1+ characters and rejects lone surrogates (U+FFFD instead).
    element: Element = {"type": "text", "text": valid_text(value) or " "}
    if style:
        element["style"] = style
    return element


def person(name: str, platform: str) -> Element:
    """A Slack user id as a mention element; any other name as bold literal text."""
    if platform == "slack" and _USER_ID.match(name):
        return {"type": "user", "user_id": name}
    shown = name if len(name) <= NAME_LIMIT else name[: NAME_LIMIT - 1] + "…"
    return text(shown or "someone", bold=True)


def place(platform: str, channel: str, source: str) -> Element:
    if platform == "slack" and _CHANNEL_ID.match(channel):
        return {"type": "channel", "channel_id": channel}
    return text(f"{source} ({platform})")


def link(url: str | None, label: str) -> Element | None:
    safe = slack_url(url)
    return {"type": "link", "url": safe, "text": label} if safe else None


def emoji(name: str) -> Element:
    return {"type": "emoji", "name": name}


def size(elements: list[Element]) -> int:
    """Characters shown, roughly (a mention or channel counts as a short name)."""
    return sum(len(e.get("text", "")) or 12 for e in elements)


def line(elements: list[Element]) -> Element:
    return {"type": "rich_text_section", "elements": elements}


def block(*sections: Element) -> Element:
    return {"type": "rich_text", "elements": list(sections)}


def bullets(lines: list[list[Element]]) -> Element:
    return {"type": "rich_text_list", "style": "bullet", "elements": [line(x) for x in lines]}
