"""Read queries behind the CSV export and the digest's slowest conversations.

Each one is a range over an index: conversations by ``(started_at, id)`` through
``ix_conversations_started_at`` (read page by page, keyset-paginated, so an export of years
never holds more than a page), waiting periods by ``ix_waiting_periods_started_at`` or
``ix_waiting_periods_conversation_id``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Conversation, WaitingPeriod


@dataclass(frozen=True)
class ExportConversation:
    id: int
    source: str
    platform: str
    channel: str
    thread: str
    customer_id: str | None
    customer_name: str | None
    started_at: datetime
    first_response_at: datetime | None
    first_responder: str | None
    customer_messages: int
    team_messages: int
    waiting_since: datetime | None
    last_text: str
    url: str


async def conversations_page(
    session: AsyncSession,
    since: datetime,
    until: datetime,
    *,
    after: tuple[datetime, int] | None = None,
    limit: int = 500,
) -> list[ExportConversation]:
    """Customer conversations started in [since, until), ordered by (started_at, id), the
    first ``limit`` after the key ``after``. Broadcast threads (no customer ever spoke, so no
    ``started_at``) are not conversations here."""
    c = Conversation
    stmt = (
        select(
            c.id,
            c.source,
            c.platform,
            c.channel,
            c.thread,
            c.customer_id,
            c.customer_name,
            c.started_at,
            c.first_response_at,
            c.first_responder,
            c.customer_messages,
            c.team_messages,
            c.waiting_since,
            c.last_text,
            c.url,
        )
        .where(c.started_at >= since, c.started_at < until)
        .order_by(c.started_at, c.id)
        .limit(limit)
    )
    if after is not None:
        at, last_id = after
        stmt = stmt.where(or_(c.started_at > at, and_(c.started_at == at, c.id > last_id)))
    rows = (await session.execute(stmt)).tuples()
    return [ExportConversation(*row) for row in rows if row[7] is not None]


@dataclass(frozen=True)
class PeriodRow:
    conversation_id: int
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    answered_by: str | None
    due_at: datetime | None


async def periods_of(session: AsyncSession, conversation_ids: Sequence[int]) -> list[PeriodRow]:
    """Every waiting period of these conversations, oldest first."""
    if not conversation_ids:
        return []
    p = WaitingPeriod
    stmt = (
        select(p.conversation_id, p.started_at, p.ended_at, p.end_reason, p.answered_by, p.due_at)
        .where(p.conversation_id.in_(list(conversation_ids)))
        .order_by(p.conversation_id, p.started_at, p.id)
    )
    return [PeriodRow(*row) for row in (await session.execute(stmt)).tuples()]


@dataclass(frozen=True)
class SlowPeriod:
    conversation_id: int
    source: str
    customer: str
    started_at: datetime
    ended_at: datetime | None  # None: still waiting
    answered_by: str | None
    seconds: int  # to the answer, or to ``now`` while still waiting
    url: str


async def slowest_periods(
    session: AsyncSession, since: datetime, until: datetime, now: datetime, limit: int = 5
) -> list[SlowPeriod]:
    """The longest waits among periods that started in [since, until): answered ones by their
    reply time, open ones by how long they have waited so far; "not needed" ones are not
    waits anybody owed. Ties go to the older period."""
    p, c = WaitingPeriod, Conversation
    stmt = (
        select(
            p.conversation_id,
            c.source,
            c.customer_name,
            c.customer_id,
            p.started_at,
            p.ended_at,
            p.end_reason,
            p.answered_by,
            c.url,
        )
        .join(c, c.id == p.conversation_id)
        .where(p.started_at >= since, p.started_at < until)
    )
    found: list[SlowPeriod] = []
    for cid, source, name, customer_id, started, ended, reason, by, url in (
        await session.execute(stmt)
    ).tuples():
        if ended is not None and reason != "reply":
            continue
        seconds = int(((ended or now) - started).total_seconds())
        found.append(
            SlowPeriod(cid, source, name or customer_id or "", started, ended, by, seconds, url)
        )
    found.sort(key=lambda s: (-s.seconds, s.started_at, s.conversation_id))
    return found[:limit]
