"""Which conversation a Telegram message joins (DESIGN.md, "Conversation").

A conversation's ``thread`` is the number of its first message in the chat, and its
``channel`` is the chat (``chat/topic`` in forums). In order of precedence:

1. A message already stored keeps its thread: redeliveries and edits change nothing.
2. A reply joins the replied message's conversation (or starts one rooted at the replied
   message, when that one is not stored: older than the bot, or the bot's own).
3. In a private chat with the bot the whole chat is one conversation until it is answered,
   and a follow-up within ``WINDOW`` of the chat's last message ("thanks!") still joins it.
4. In a group, a customer's message within ``WINDOW`` of their previous one joins it.
5. A team member's plain message in a group answers the chat's (topic's) latest customer
   conversation of the last ``TEAM_WINDOW``; with none, it is a broadcast on its own.

Lookups read the stored messages up to this one's platform time, so the result depends on
the set of messages, not on arrival order — as long as earlier messages arrive first, which
is how Telegram delivers one bot's updates (and one chat's messages are threaded one at a
time per process). Limits: a message arriving after a later message it would have joined
can start a conversation of its own (two replicas receiving one chat's updates at once);
rule 3 reads whether the chat's conversation waits *now*, not as of the message's time; a
private chat silent for ``PRIVATE_WINDOW`` starts afresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from adapters.telegram.updates import Incoming, message_key
from bot.domain.ports import ChannelMessage

WINDOW = timedelta(minutes=10)
TEAM_WINDOW = timedelta(hours=24)
PRIVATE_WINDOW = timedelta(days=30)


class ThreadLookup(Protocol):
    """The part of ``Core`` threading reads."""

    async def thread_of(self, source: str, message_ids: Sequence[str]) -> Mapping[str, str]: ...

    async def latest_message(
        self,
        source: str,
        channel: str,
        *,
        at: datetime,
        since: datetime,
        author_id: str | None = None,
        is_team: bool | None = None,
        exclude: str | None = None,
    ) -> ChannelMessage | None: ...


def root(number: int) -> str:
    return str(number)


async def resolve_thread(incoming: Incoming, lookup: ThreadLookup) -> str:
    own = incoming.message_id
    replied = (
        message_key(incoming.chat_id, incoming.reply_to) if incoming.reply_to is not None else None
    )
    known = await lookup.thread_of(incoming.source, [own] if replied is None else [own, replied])
    if own in known:
        return known[own]
    if replied is not None and incoming.reply_to is not None:
        return known.get(replied) or root(incoming.reply_to)
    if incoming.private:
        return await _private_thread(incoming, lookup)
    if incoming.is_team:
        latest = await lookup.latest_message(
            incoming.source, incoming.channel, at=incoming.at,
            since=incoming.at - TEAM_WINDOW, is_team=False, exclude=own,
        )  # fmt: skip
    else:
        latest = await lookup.latest_message(
            incoming.source, incoming.channel, at=incoming.at,
            since=incoming.at - WINDOW, author_id=incoming.author.id, exclude=own,
        )  # fmt: skip
    return latest.thread if latest is not None else root(incoming.number)


async def _private_thread(incoming: Incoming, lookup: ThreadLookup) -> str:
    latest = await lookup.latest_message(
        incoming.source, incoming.channel, at=incoming.at,
        since=incoming.at - PRIVATE_WINDOW, exclude=incoming.message_id,
    )  # fmt: skip
    if latest is None:
        return root(incoming.number)
    if latest.waiting or incoming.at - latest.at <= WINDOW:
        return latest.thread  # still unanswered, or a follow-up ("thanks!") to the answer
    return root(incoming.number)
