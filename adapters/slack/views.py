"""What people see outside nudges: ``/waiting``, ``/oncall``, help, App Home (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapters.slack import rich
from adapters.slack.blocks import Block, NameOf, context, duration, escape, local, section
from bot.domain.ports import OnCallItem, WaitingItem
from bot.domain.untrusted import Bold, Code, Link, md_parse, slack_link

MAX_ROWS = 30  # a slash-command answer holds 50 blocks; App Home 100
REFUSAL = (
    "Sorry, I only answer members of the team I work for. "
    "If that should include you, ask your Nudgebot owner to add you."
)
HELP = "\n".join(
    (
        "*Nudgebot* makes sure nobody who talks to us is left waiting.",
        "• `/waiting` — every conversation waiting for a reply, oldest first",
        "• `/waiting mine` — only the ones you are responsible for",
        "• `/oncall` — who is on call now",
        "• In a nudge: *Reply*, *Claim*, *Snooze* or *Not needed*.",
        "• React with :white_check_mark: on a customer message for “not needed”, "
        ":eyes: to claim it.",
    )
)


def row(item: WaitingItem, now: datetime, name_of: NameOf) -> list[rich.Element]:
    """One waiting conversation as rich_text elements: the customer's name is literal text
    (bot.slack.rich), everything else ours."""
    waited = duration((now - item.waiting_since).total_seconds())
    out = [
        rich.person(item.customer, item.platform),
        rich.text(" in "),
        rich.place(item.platform, item.channel, item.source),
        rich.text(" — waiting "),
        rich.text(waited, bold=True),
    ]
    if item.overdue:
        out += [rich.text(" · "), rich.emoji("red_circle"), rich.text(" overdue")]
    names = ", ".join(name_of(p) for p in item.responsible) or "nobody"
    out.append(rich.text(f" · {names}"))
    if (opener := rich.link(item.url, "open")) is not None:
        out += [rich.text(" · "), opener]
    return out


def _group(source: str, rows: list[list[rich.Element]]) -> Block:
    return rich.block(rich.line([rich.text(source, bold=True)]), rich.bullets(rows))


def waiting_blocks(
    items: Sequence[WaitingItem],
    now: datetime,
    name_of: NameOf,
    *,
    title: str,
    empty: str = "Nobody is waiting. :tada:",
    limit: int = MAX_ROWS,
) -> list[Block]:
    """Grouped by source, each group oldest first, groups in order of their oldest wait."""
    blocks: list[Block] = [section(f"*{escape(title)}* ({len(items)})")]
    if not items:
        return [*blocks, context(empty)]
    groups: dict[str, list[list[rich.Element]]] = {}
    for item in items[:limit]:
        groups.setdefault(item.source, []).append(row(item, now, name_of))
    for source, lines in groups.items():
        chunk: list[list[rich.Element]] = []
        used, title_ = 0, source
        for line in lines:
            if chunk and used + rich.size(line) > 2900:  # blocks of a section's size
                blocks.append(_group(title_, chunk))
                chunk, used, title_ = [], 0, f"{source} (cont.)"
            chunk.append(line)
            used += rich.size(line)
        blocks.append(_group(title_, chunk))
    if len(items) > limit:
        blocks.append(context(f"…and {len(items) - limit} more: see `nudgebot waiting`."))
    return blocks


def waiting_text(items: Sequence[WaitingItem]) -> str:
    return f"{len(items)} conversation(s) waiting" if items else "Nobody is waiting."


def oncall_text(items: Sequence[OnCallItem], now: datetime, tz: str, name_of: NameOf) -> str:
    if not items:
        return "No on-call rotation is configured."
    lines = []
    for item in items:
        person = escape(name_of(item.person)) if item.person else "nobody"
        until = f" until {local(item.until, tz, now)}" if item.until else ""
        after = f", then {escape(name_of(item.next_person))}" if item.next_person else ""
        lines.append(f"• *{escape(item.rotation)}*: {person}{until}{after}")
    return "*On call now*\n" + "\n".join(lines)


def home_view(
    mine: Sequence[WaitingItem],
    everyone: Sequence[WaitingItem],
    now: datetime,
    tz: str,
    name_of: NameOf,
) -> dict[str, Any]:
    blocks = [
        *waiting_blocks(
            mine, now, name_of, title="Waiting on you", limit=25, empty="Nothing is waiting on you."
        ),
        {"type": "divider"},
        *waiting_blocks(everyone, now, name_of, title="The team's waiting list", limit=40),
        context(f"Updated {local(now, tz, now)} · `/nudgebot help` for commands"),
    ]
    return {"type": "home", "blocks": blocks[:100]}


def stranger_home() -> dict[str, Any]:
    return {"type": "home", "blocks": [section(REFUSAL)]}


def mrkdwn(text: str) -> str:
    """The Markdown-light of ``Messenger.send_text`` as Slack mrkdwn: formatting and links
    come from the template's tokens, never from the values inserted into it."""
    parts = []
    for token in md_parse(text):
        if isinstance(token, Bold):
            parts.append(f"*{escape(token.text)}*")
        elif isinstance(token, Code):
            parts.append(f"`{escape(token.text)}`")
        elif isinstance(token, Link):
            parts.append(slack_link(token.url, token.label))
        else:
            parts.append(escape(token.text))
    return "".join(parts)
