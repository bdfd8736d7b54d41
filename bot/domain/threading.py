"""Which conversation a message with a ``ThreadHint`` joins (DESIGN.md, "Conversation").

Telegram chats have no threads: a conversation's ``thread`` is the number of its first
message in the chat, and its ``channel`` is the chat (``chat/topic`` in forums). In order of
precedence:

1. A message already stored keeps its thread: redeliveries and edits change nothing.
2. A reply joins the replied message's conversation (or starts one rooted at the replied
   message, when that one is not stored: older than the bot, or the bot's own).
3. In a private chat with the bot the whole chat is one conversation until it is answered,
   and a follow-up within ``WINDOW`` of the chat's last message ("thanks!") still joins it.
4. In a group, a customer's message within ``WINDOW`` of their previous one joins it.
5. A team member's plain message in a group answers the chat's (topic's) latest customer
   conversation of the last ``TEAM_WINDOW``; with none, it is a broadcast on its own.

Pure: the inbox makes the two reads (``wanted`` and ``query_for``) inside the transaction
that stores the batch, with the chats locked, and ``resolve`` applies the rules in memory in
platform-time order, each message also seeing the ones before it in the same batch. So two
replicas storing one chat's messages at once take turns and the second sees the first's.
Lookups read the stored messages up to this one's platform time, so the result depends on
the set of messages, not on which replica stores them — as long as earlier messages arrive
first, which is how Telegram delivers one bot's updates. Limits: a message stored after a
later one it would have joined can start a conversation of its own; rule 3 reads whether the
chat's conversation waits *now*, not as of the message's time; a private chat silent for
``PRIVATE_WINDOW`` starts afresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta

from bot.domain.events import InboundMessage, ThreadHint
from bot.domain.ports import ChannelMessage, LatestQuery

WINDOW = timedelta(minutes=10)
TEAM_WINDOW = timedelta(hours=24)
PRIVATE_WINDOW = timedelta(days=30)

Key = tuple[str, str]  # (source, message id)


def _hint(m: InboundMessage) -> ThreadHint:
    if m.hint is None:
        raise ValueError(f"{m.source}/{m.message_id}: no threading hint")
    return m.hint


def wanted(items: Sequence[InboundMessage]) -> list[Key]:
    """The stored threads rules 1–2 read: each message's own and its replied message's."""
    keys: set[Key] = set()
    for m in items:
        keys.add((m.source, m.message_id))
        if (replied := _hint(m).reply_to) is not None:
            keys.add((m.source, replied))
    return sorted(keys)


def query_for(m: InboundMessage) -> LatestQuery | None:
    """The one "latest message" lookup rules 3–5 need for this message (none for replies)."""
    hint = _hint(m)
    if hint.reply_to is not None:
        return None
    own, at, where = m.message_id, m.at, (m.source, m.channel)
    if hint.private:
        return LatestQuery(*where, at=at, since=at - PRIVATE_WINDOW, exclude=own)
    if m.is_team:
        return LatestQuery(*where, at=at, since=at - TEAM_WINDOW, is_team=False, exclude=own)
    return LatestQuery(*where, at=at, since=at - WINDOW, author_id=m.author.id, exclude=own)


def decide(m: InboundMessage, known: Mapping[str, str], latest: ChannelMessage | None) -> str:
    """Rules 1–5, given the stored threads of this and the replied message (by message id)
    and the answer to ``query_for(m)``."""
    hint = _hint(m)
    if m.message_id in known:
        return known[m.message_id]
    if hint.reply_to is not None:
        return known.get(hint.reply_to) or hint.reply_root or hint.root
    if latest is None:
        return hint.root
    if hint.private and not latest.waiting and m.at - latest.at > WINDOW:
        return hint.root  # answered, and not a follow-up: a new conversation
    return latest.thread


def _matches(query: LatestQuery, candidate: InboundMessage) -> bool:
    return (
        candidate.source == query.source
        and candidate.channel == query.channel
        and query.since <= candidate.at <= query.at
        and candidate.message_id != query.exclude
        and (query.author_id is None or candidate.author.id == query.author_id)
        and (query.is_team is None or candidate.is_team == query.is_team)
    )


def _in_batch(
    query: LatestQuery, earlier: Sequence[tuple[InboundMessage, str]]
) -> ChannelMessage | None:
    """The latest of this batch's messages already resolved that ``query`` would find once
    they are stored (platform-time order: newest last)."""
    for candidate, thread in reversed(earlier):
        if _matches(query, candidate):
            return ChannelMessage(candidate.message_id, thread, candidate.at, candidate.is_team,
                                  candidate.author.id, waiting=not candidate.is_team)  # fmt: skip
    return None


def _newer(stored: ChannelMessage | None, batch: ChannelMessage | None) -> ChannelMessage | None:
    if stored is None or batch is None:
        return stored or batch
    return batch if batch.at >= stored.at else stored  # a tie: the batch arrived later


def resolve(
    items: Sequence[InboundMessage],
    known: Mapping[Key, str],
    answers: Mapping[int, ChannelMessage | None],
) -> list[str]:
    """The thread of each of ``items`` (in the order given). ``known``: stored threads of
    ``wanted(items)``; ``answers``: by index, the stored answer to each ``query_for``."""
    threads: dict[int, str] = {}
    earlier: list[tuple[InboundMessage, str]] = []
    batch_known: dict[Key, str] = {}
    for i in sorted(range(len(items)), key=lambda k: (items[k].at, k)):
        m = items[i]
        view: dict[str, str] = {}
        for mid in (m.message_id, _hint(m).reply_to):
            if mid is not None:
                key = (m.source, mid)
                if (thread := known.get(key) or batch_known.get(key)) is not None:
                    view[mid] = thread
        stored_already = (m.source, m.message_id) in known
        query = None if stored_already else query_for(m)
        latest = _newer(answers.get(i), _in_batch(query, earlier)) if query is not None else None
        threads[i] = decide(m, view, latest)
        batch_known.setdefault((m.source, m.message_id), threads[i])
        earlier.append((m, threads[i]))
    return [threads[i] for i in range(len(items))]
