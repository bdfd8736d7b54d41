"""The lookups the inbox threads hinted messages with, once per batch, in its write.

At driver level (``storage.rawsql``). The "latest message" lookups of a batch are one
statement. On PostgreSQL its text is fixed — the lookups travel as arrays, each row of
``unnest`` running the same ``LATERAL`` subquery — so psycopg prepares it once and the server
plans it once per connection; a UNION ALL with one arm per lookup was a new statement for
every batch, and planning 32 arms took the server longer (13–48 ms) than running them. On
SQLite (no ``LATERAL``) it is that UNION ALL: planning there is cheap and its statement
cache keeps the shapes it sees again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.ports import ChannelMessage, LatestQuery
from storage.rawsql import DriverConnection, instant

_ARMS = 100  # UNION ALL arms per statement (SQLite allows 500)
_ARM = """SELECT {k} AS k, * FROM (
  SELECT m.message_id, c.thread, m.at, m.is_team, m.author_id, c.waiting_since
  FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id
  WHERE m.source = ? AND m.at >= ? AND m.at <= ? AND NOT m.deleted
    AND c.channel = ? AND {author} AND coalesce(?, m.is_team) = m.is_team
    AND m.message_id <> ?
  ORDER BY m.at DESC, m.id DESC LIMIT 1) AS arm{k}"""


async def latest_messages(
    session: AsyncSession, queries: Sequence[LatestQuery]
) -> list[ChannelMessage | None]:
    """One statement per hundred lookups. Each arm is a range of ix_messages_source_at (or of
    ix_messages_source_author_at when it names the author), so its cost grows with the
    source's messages inside ``[since, at]``, which the callers keep short."""
    raw = await DriverConnection.of(session)
    if not raw.sqlite:
        return await _latest_lateral(raw, queries)
    found: list[ChannelMessage | None] = [None] * len(queries)
    order = sorted(range(len(queries)), key=lambda i: queries[i].author_id is None)
    for start in range(0, len(order), _ARMS):
        part = order[start : start + _ARMS]
        arms: list[str] = []
        params: list[Any] = []
        for k, i in enumerate(part):
            q = queries[i]
            by_author = q.author_id is not None
            arms.append(_ARM.format(k=k, author="m.author_id = ?" if by_author else "1 = 1"))
            params += [q.source, raw.value(q.since), raw.value(q.at), q.channel]
            if by_author:
                params.append(q.author_id)
            params += [raw.value(q.is_team), q.exclude or ""]
        for k, mid, thread, at, team, author, waiting in await raw.rows(
            "\nUNION ALL\n".join(arms), params
        ):
            stamp = instant(at)
            found[part[k]] = ChannelMessage(
                mid, thread, stamp, bool(team), author, waiting is not None
            )
    return found


# One per kind of lookup. By author, a range of ix_messages_source_author_at: that author's
# messages in the source, a handful. By position only (a team reply's customer, a private
# chat), the chat's conversations active since ``since`` (ix_conversations_source_channel_
# last), each a short range of ix_messages_conversation_at: walking the source's messages
# back in time instead visits every other chat's messages of the window (a day for team
# replies), and with statistics not yet gathered the planner sorted all of them.
_UNNEST = """SELECT q.k, arm.message_id, arm.thread, arm.at, arm.is_team, arm.author_id,
  arm.waiting_since
FROM unnest(CAST(? AS integer[]), CAST(? AS text[]), CAST(? AS timestamp[]),
            CAST(? AS timestamp[]), CAST(? AS text[]), CAST(? AS text[]),
            CAST(? AS boolean[]), CAST(? AS text[]))
  AS q(k, source, since, at, channel, author, team, exclude)
CROSS JOIN LATERAL ({arm}) AS arm"""
_FILTER = """m.at >= q.since AND m.at <= q.at AND NOT m.deleted
    AND coalesce(q.team, m.is_team) = m.is_team AND m.message_id <> q.exclude
  ORDER BY m.at DESC, m.id DESC LIMIT 1"""
_BY_AUTHOR = _UNNEST.format(
    arm=f"""
  SELECT m.message_id, c.thread, m.at, m.is_team, m.author_id, c.waiting_since
  FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id
  WHERE m.source = q.source AND m.author_id = q.author AND c.channel = q.channel
    AND {_FILTER}"""
)
_ANYONE = _UNNEST.format(
    arm=f"""
  SELECT m.message_id, c.thread, m.at, m.is_team, m.author_id, c.waiting_since
  FROM conversations AS c JOIN messages AS m ON m.conversation_id = c.id
  WHERE c.source = q.source AND c.channel = q.channel AND c.last_message_at >= q.since
    AND {_FILTER}"""
)


async def _latest_lateral(
    raw: DriverConnection, queries: Sequence[LatestQuery]
) -> list[ChannelMessage | None]:
    found: list[ChannelMessage | None] = [None] * len(queries)
    for by_author in (True, False):
        part = [i for i, q in enumerate(queries) if (q.author_id is not None) is by_author]
        if not part:
            continue
        qs = [queries[i] for i in part]
        params = (
            part, [q.source for q in qs], [raw.value(q.since) for q in qs],
            [raw.value(q.at) for q in qs], [q.channel for q in qs], [q.author_id for q in qs],
            [q.is_team for q in qs], [q.exclude or "" for q in qs],
        )  # fmt: skip
        sql = _BY_AUTHOR if by_author else _ANYONE
        for k, mid, thread, at, team, author, waiting in await raw.rows(sql, params):
            found[k] = ChannelMessage(mid, thread, instant(at), bool(team), author,
                                      waiting is not None)  # fmt: skip
    return found


async def threads_of(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The thread of each stored (source, message id) among ``keys``."""
    raw = await DriverConnection.of(session)
    rows = await raw.rows_by_pairs(
        "SELECT m.source, m.message_id, c.thread FROM messages AS m "
        "JOIN conversations AS c ON c.id = m.conversation_id",
        ("m.source", "m.message_id"),
        keys,
    )
    return {(source, mid): thread for source, mid, thread in rows}


def _lock_id(source: str, channel: str) -> int:
    digest = hashlib.blake2b(f"{source}\x1f{channel}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def lock_channels(session: AsyncSession, channels: Sequence[tuple[str, str]]) -> None:
    """PostgreSQL: hold a transaction-scoped advisory lock per (source, channel) until commit,
    so two replicas threading one chat's messages take turns and the second reads what the
    first stored. Taken in one order (sorted ids) so that two batches cannot deadlock.
    (SQLite needs none: its writers hold the whole file.)"""
    ids = sorted({_lock_id(source, channel) for source, channel in channels})
    if not ids:
        return
    raw = await DriverConnection.of(session)
    await raw.rows(
        "SELECT count(pg_advisory_xact_lock(k)) FROM "
        "(SELECT unnest(CAST(? AS bigint[])) AS k ORDER BY 1) AS ordered",
        (ids,),
    )
