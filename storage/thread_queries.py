"""The lookups the inbox threads hinted messages with, once per batch, in its write.

At driver level (``storage.rawsql``): the "latest message" statement is a UNION ALL with one
arm per message of the batch, so its shape changes with every batch. Through SQLAlchemy each
new shape was a compile of ~12 ms (a long-running process pays it once per shape, a cold one
for every batch); as text it is a string join, and SQLite's statement cache keeps the shapes
it sees again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.ports import ChannelMessage, LatestQuery
from storage.rawsql import DriverConnection, chunks, instant

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


async def threads_of(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The thread of each stored (source, message id) among ``keys``."""
    raw = await DriverConnection.of(session)
    found: dict[tuple[str, str], str] = {}
    by_source: dict[str, list[str]] = {}
    for source, message_id in keys:
        by_source.setdefault(source, []).append(message_id)
    for source, ids in by_source.items():
        for part in chunks(ids):
            where, params = raw.member("m.message_id", part)
            rows = await raw.rows(
                "SELECT m.message_id, c.thread FROM messages AS m "
                "JOIN conversations AS c ON c.id = m.conversation_id "
                f"WHERE m.source = ? AND {where}",
                (source, *params),
            )
            found.update({(source, mid): thread for mid, thread in rows})
    return found


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
    await session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(k)) FROM "
            "(SELECT unnest(CAST(:ids AS bigint[])) AS k ORDER BY 1) AS ordered"
        ),
        {"ids": ids},
    )
