"""The waiting list a page at a time: keyset paging, filters and per-filter counts.

Every query reads only waiting rows (``waiting_since IS NOT NULL``, the partial index
``ix_conversations_waiting``), so answered history — the bulk of the table — costs nothing.
Paging is by key, never by offset: a page starts after the last row of the one before, so
rows inserted meanwhile neither repeat nor hide rows on later pages, and page 400 costs what
page 1 does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, func, nulls_last, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conversation_queries import WaitingRecord, record_columns
from storage.models import Conversation

SORTS = ("waiting", "due")  # longest waiting first | soonest due first (no due time last)


@dataclass(frozen=True)
class Group:
    """Waiting conversations alike in everything the filters look at, and how many."""

    source: str
    platform: str
    claimed_by: str | None
    overdue: bool
    count: int


@dataclass(frozen=True)
class Key:
    """Where a page ended: the sort key of its last row (``at`` is waiting_since or due_at)."""

    at: datetime | None
    id: int


@dataclass(frozen=True)
class PageFilter:
    source: str | None = None
    platform: str | None = None
    overdue: bool | None = None
    # The person filter, resolved by the caller (who is responsible lives in the config):
    # the (source, claimed_by) pairs whose responsible people include them. None: no filter.
    groups: Sequence[tuple[str, str | None]] | None = None


async def groups(session: AsyncSession, now: datetime) -> list[Group]:
    c = Conversation
    overdue = and_(c.due_at.is_not(None), c.due_at <= now)
    stmt = (
        select(c.source, c.platform, c.claimed_by, overdue, func.count())
        .where(c.waiting_since.is_not(None))
        .group_by(c.source, c.platform, c.claimed_by, overdue)
    )
    return [
        Group(s, p, who, bool(late), int(n))
        for s, p, who, late, n in (await session.execute(stmt)).tuples()
    ]


def _where(f: PageFilter, now: datetime) -> list[ColumnElement[bool]]:
    c = Conversation
    out: list[ColumnElement[bool]] = [c.waiting_since.is_not(None)]
    if f.source is not None:
        out.append(c.source == f.source)
    if f.platform is not None:
        out.append(c.platform == f.platform)
    if f.overdue is True:
        out.append(and_(c.due_at.is_not(None), c.due_at <= now))
    elif f.overdue is False:
        out.append(or_(c.due_at.is_(None), c.due_at > now))
    if f.groups is not None:
        pairs = [
            and_(c.source == s, c.claimed_by.is_(None) if who is None else c.claimed_by == who)
            for s, who in f.groups
        ]
        out.append(or_(*pairs) if pairs else false())
    return out


def _after(sort: str, key: Key | None) -> ColumnElement[bool]:
    c = Conversation
    if key is None:
        return true()
    if sort == "waiting":
        assert key.at is not None
        return or_(c.waiting_since > key.at, and_(c.waiting_since == key.at, c.id > key.id))
    if key.at is None:  # already among the rows without a due time, which come last
        return and_(c.due_at.is_(None), c.id > key.id)
    return or_(c.due_at > key.at, and_(c.due_at == key.at, c.id > key.id), c.due_at.is_(None))


async def page(
    session: AsyncSession,
    f: PageFilter,
    now: datetime,
    *,
    sort: str = "waiting",
    after: Key | None = None,
    limit: int = 50,
) -> list[WaitingRecord]:
    """Up to ``limit`` waiting conversations after ``after`` in ``sort`` order."""
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    c = Conversation
    order = (c.waiting_since, c.id) if sort == "waiting" else (nulls_last(c.due_at.asc()), c.id)
    stmt = (
        select(*record_columns())
        .where(*_where(f, now), _after(sort, after))
        .order_by(*order)
        .limit(limit)
    )  # fmt: skip
    return [WaitingRecord(*row) for row in (await session.execute(stmt)).tuples()]


def not_in_groups(pairs: Sequence[tuple[str, str | None]]) -> ColumnElement[bool]:
    """Conversations whose (source, claimed_by) is none of ``pairs``."""
    c = Conversation
    if not pairs:
        return true()
    return ~or_(*(
        and_(c.source == s, c.claimed_by.is_(None) if who is None else c.claimed_by == who)
        for s, who in pairs
    ))  # fmt: skip


def key_of(record: WaitingRecord, sort: str) -> Key:
    return Key(record.waiting_since if sort == "waiting" else record.due_at, record.id)
