"""The channel/chat names cache (table ``channel_names``): read by the dashboard, written by
bot.services.channel_names after asking the platform."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_for
from storage.models import ChannelName
from storage.rawsql import chunks


@dataclass(frozen=True)
class Cached:
    name: str
    fetched_at: datetime


async def lookup(
    session: AsyncSession, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Cached]:
    """Cached names of (platform, channel) pairs; pairs never looked up are absent."""
    n = ChannelName
    out: dict[tuple[str, str], Cached] = {}
    for part in chunks(sorted(set(pairs)), 200):
        wanted = or_(*(and_(n.platform == p, n.channel == c) for p, c in part))
        rows = await session.execute(
            select(n.platform, n.channel, n.name, n.fetched_at).where(wanted)
        )
        for platform, channel, name, at in rows.tuples():
            out[(platform, channel)] = Cached(name, at)
    return out


async def store(
    session: AsyncSession, platform: str, channel: str, name: str, at: datetime
) -> None:
    stmt = insert_for(session, ChannelName).values(
        platform=platform, channel=channel, name=name[:255], fetched_at=at
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["platform", "channel"], set_={"name": name[:255], "fetched_at": at}
        )
    )
