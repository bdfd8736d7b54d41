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

Messages are resolved in batches (see ``store.Batcher``): two reads for the whole batch
(``threads_of`` and ``latest_messages``, issued together), then the rules in memory in
platform-time order, each message also seeing the ones before it in the same batch.

Lookups read the stored messages up to this one's platform time, so the result depends on
the set of messages, not on arrival order — as long as earlier messages arrive first, which
is how Telegram delivers one bot's updates. Limits: a message arriving after a later message
it would have joined can start a conversation of its own (two replicas receiving one chat's
updates at once); rule 3 reads whether the chat's conversation waits *now*, not as of the
message's time; a private chat silent for ``PRIVATE_WINDOW`` starts afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from adapters.telegram.chats import message_key
from adapters.telegram.updates import Incoming
from bot.domain.ports import ChannelMessage, LatestQuery

WINDOW = timedelta(minutes=10)
TEAM_WINDOW = timedelta(hours=24)
PRIVATE_WINDOW = timedelta(days=30)


class ThreadLookup(Protocol):
    """The part of ``Core`` threading reads."""

    async def threads_of(
        self, keys: Sequence[tuple[str, str]]
    ) -> Mapping[tuple[str, str], str]: ...

    async def latest_messages(
        self, queries: Sequence[LatestQuery]
    ) -> Sequence[ChannelMessage | None]: ...


def root(number: int) -> str:
    return str(number)


def replied_key(incoming: Incoming) -> str | None:
    if incoming.reply_to is None:
        return None
    return message_key(incoming.chat_id, incoming.reply_to)


def query_for(incoming: Incoming) -> LatestQuery | None:
    """The one "latest message" lookup rules 3–5 need for this message (none for replies)."""
    if incoming.reply_to is not None:
        return None
    own, at, where = incoming.message_id, incoming.at, (incoming.source, incoming.channel)
    if incoming.private:
        return LatestQuery(*where, at=at, since=at - PRIVATE_WINDOW, exclude=own)
    if incoming.is_team:
        return LatestQuery(*where, at=at, since=at - TEAM_WINDOW, is_team=False, exclude=own)
    return LatestQuery(*where, at=at, since=at - WINDOW, author_id=incoming.author.id,
                       exclude=own)  # fmt: skip


def decide(incoming: Incoming, known: Mapping[str, str], latest: ChannelMessage | None) -> str:
    """Rules 1–5, given the stored threads of this and the replied message and the answer to
    ``query_for(incoming)``."""
    if incoming.message_id in known:
        return known[incoming.message_id]
    replied = replied_key(incoming)
    if replied is not None and incoming.reply_to is not None:
        return known.get(replied) or root(incoming.reply_to)
    if latest is None:
        return root(incoming.number)
    if incoming.private and not latest.waiting and incoming.at - latest.at > WINDOW:
        return root(incoming.number)  # answered, and not a follow-up: a new conversation
    return latest.thread


def _matches(query: LatestQuery, candidate: Incoming) -> bool:
    return (
        candidate.source == query.source
        and candidate.channel == query.channel
        and query.since <= candidate.at <= query.at
        and candidate.message_id != query.exclude
        and (query.author_id is None or candidate.author.id == query.author_id)
        and (query.is_team is None or candidate.is_team == query.is_team)
    )


@dataclass
class _Earlier:
    """Messages of this batch already resolved, as the lookups would see them once stored."""

    items: list[tuple[Incoming, str]]

    def latest(self, query: LatestQuery) -> ChannelMessage | None:
        for candidate, thread in reversed(self.items):  # platform-time order: newest last
            if _matches(query, candidate):
                return ChannelMessage(candidate.message_id, thread, candidate.at,
                                      candidate.is_team, candidate.author.id,
                                      waiting=not candidate.is_team)  # fmt: skip
        return None


def _newer(stored: ChannelMessage | None, batch: ChannelMessage | None) -> ChannelMessage | None:
    if stored is None or batch is None:
        return stored or batch
    return batch if batch.at >= stored.at else stored  # a tie: the batch arrived later


async def resolve_threads(items: Sequence[Incoming], lookup: ThreadLookup) -> list[str]:
    """The thread of each of ``items`` (in the order given)."""
    wanted: set[tuple[str, str]] = set()
    for item in items:
        wanted.add((item.source, item.message_id))
        if (replied := replied_key(item)) is not None:
            wanted.add((item.source, replied))
    asked = {i: q for i, item in enumerate(items) if (q := query_for(item)) is not None}
    # Both reads at once (each is its own short transaction either way): a batch waits for
    # one round trip instead of two. Answers for messages that turn out to be stored already
    # are dropped, which costs a few wasted lookups in the rare redelivery but nothing in the
    # common case, where every message of a batch is new.
    stored, found = await asyncio.gather(
        lookup.threads_of(sorted(wanted)), _latest(lookup, list(asked.values()))
    )
    known = dict(stored)
    answers: dict[int, ChannelMessage | None] = dict(zip(asked, found, strict=True))
    queries = {
        i: q for i, q in asked.items() if (items[i].source, items[i].message_id) not in known
    }
    threads: dict[int, str] = {}
    earlier = _Earlier([])
    batch_known: dict[tuple[str, str], str] = {}
    for i in sorted(range(len(items)), key=lambda k: (items[k].at, k)):
        item = items[i]
        view: dict[str, str] = {}
        for mid in (item.message_id, replied_key(item)):
            if mid is not None:
                key = (item.source, mid)
                if (thread := known.get(key) or batch_known.get(key)) is not None:
                    view[mid] = thread
        query = queries.get(i)
        latest = _newer(answers.get(i), earlier.latest(query)) if query is not None else None
        threads[i] = decide(item, view, latest)
        batch_known.setdefault((item.source, item.message_id), threads[i])
        earlier.items.append((item, threads[i]))
    return [threads[i] for i in range(len(items))]


async def _latest(
    lookup: ThreadLookup, queries: Sequence[LatestQuery]
) -> Sequence[ChannelMessage | None]:
    return await lookup.latest_messages(queries) if queries else []


async def resolve_thread(incoming: Incoming, lookup: ThreadLookup) -> str:
    return (await resolve_threads([incoming], lookup))[0]
