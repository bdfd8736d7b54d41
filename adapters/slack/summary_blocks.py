"""Block Kit for a summary message: many nudges to one person as one message (pure).

The oldest few conversations carry the nudge buttons (same action ids and values as a
nudge's, so the existing handlers act on them); the rest are one link away.
"""

from __future__ import annotations

from adapters.slack import blocks, rich
from adapters.slack.blocks import Block, NameOf, button, context, duration, section
from bot.domain.summary import SummaryItem, SummaryReason, SummaryView

_HEADS = {
    SummaryReason.BATCH: ":inbox_tray: *{n} waiting on you*",
    SummaryReason.CATCH_UP: ":inbox_tray: *Catching up: {n} waiting on you*",
    SummaryReason.IMPORT: ":inbox_tray: *Imported history: {n} waiting on you*",
    SummaryReason.CAP: ":inbox_tray: *{n} waiting on you*",
}


# --- customer and config text: every escape of this module is here ------------------------


def _text(value: str) -> str:
    return blocks.escape(value)


def _link(url: str, label: str) -> str:
    """A link only for http(s); Slack's ``<url|label>`` breaks on ``|``/``>``, so both go."""
    if not url.startswith(("http://", "https://")) or any(c in url for c in "|<> \n"):
        return ""
    return f"<{url}|{_text(label)}>"


# -------------------------------------------------------------------------------------------


def _headline(view: SummaryView) -> str:
    head = _HEADS[view.reason].format(n=view.waiting)
    if view.escalated:
        head += f" · *{view.escalated} escalated to you*"
    return head


def _item_line(item: SummaryItem, view: SummaryView) -> Block:
    """rich_text: the customer's name is literal text (bot.slack.rich), the rest ours."""
    waited = duration(item.waiting_seconds(view.now))
    elements = [
        rich.person(item.customer, item.platform),
        rich.text(" in "),
        rich.place(item.platform, item.channel, item.source),
        rich.text(" — waiting "),
        rich.text(waited, bold=True),
    ]
    if (opener := rich.link(item.url, "Open thread")) is not None:
        elements += [rich.text(" · "), opener]
    return rich.block(rich.line(elements))


def _item_actions(item: SummaryItem, view: SummaryView) -> Block:
    value = f"{item.conversation_id}:{item.nudge_id or ''}"
    elements: list[Block] = []
    if item.can_reply:
        elements.append(button("Reply", blocks.ACTION_REPLY, value, "primary"))
    elements.append(button("Claim", blocks.ACTION_CLAIM, value))
    elements.append(
        {
            "type": "static_select",
            "action_id": blocks.ACTION_SNOOZE,
            "placeholder": {"type": "plain_text", "text": "Snooze"},
            "options": [
                {"text": {"type": "plain_text", "text": label}, "value": f"{value}:{key}"}
                for key, label in blocks.SNOOZES
            ],
        }
    )
    elements.append(button("Not needed", blocks.ACTION_NOT_NEEDED, value))
    return {
        "type": "actions",
        "block_id": f"summary:{view.summary_id}:{item.conversation_id}",
        "elements": elements,
    }


def _rest(view: SummaryView) -> str:
    where = _link(view.link, "the dashboard") if view.link else ""
    places = " or ".join(x for x in (where, f"`{view.command}`") if x)
    if view.more:
        return f"… and *{view.more} more*: see {places}."
    return f"All of them are above; {places} lists them any time."


def _team(view: SummaryView, name_of: NameOf) -> list[Block]:
    if view.team_waiting is None:
        return []
    sources = ", ".join(f"{_text(k)} {n}" for k, n in view.by_source)
    people = ", ".join(f"{_text(k)} {n}" for k, n in view.by_person)
    return [
        section(
            f"*Team: {view.team_waiting} waiting after the import*\n"
            f"By source: {sources or '—'}\nBy responsible person: {people or '—'}"
        )
    ]


def summary_blocks(view: SummaryView, name_of: NameOf) -> list[Block]:
    out: list[Block] = [section(_headline(view))]
    for item in view.oldest:
        out.append(_item_line(item, view))
        out.append(_item_actions(item, view))
    if not view.oldest:
        out.append(section("Nothing is waiting on you any more. :white_check_mark:"))
    out.extend(_team(view, name_of))
    notes = [_rest(view)]
    if view.held_back:
        notes.append(
            f"{view.held_back} nudge(s) were held back: you reached the limit of "
            "messages per hour (`nudges.max_messages_per_hour`)."
        )
    out.append(context(" ".join(notes)))
    return out[:50]


def summary_fallback(view: SummaryView) -> str:
    return f"{view.waiting} conversations are waiting on you"
