"""Writes behind the nudge buttons (claim, snooze, not needed, reply) and a conversation's
history as people see it: messages, actions and nudges in time order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActionRecord, Conversation, Message, Nudge, WaitingPeriod


@dataclass(frozen=True)
class Locked:
    id: int
    source: str
    platform: str
    channel: str
    thread: str
    waiting_since: datetime | None
    claimed_by: str | None


async def lock_conversation(
    session: AsyncSession, conversation_id: int, *, lock: bool = True
) -> Locked | None:
    """Read a conversation under a row lock (PostgreSQL; SQLite holds the write lock)."""
    c = Conversation
    stmt = select(
        c.id, c.source, c.platform, c.channel, c.thread, c.waiting_since, c.claimed_by
    ).where(c.id == conversation_id)
    row = (await session.execute(stmt.with_for_update() if lock else stmt)).first()
    return Locked(*row) if row else None


async def record_action(
    session: AsyncSession,
    conversation_id: int,
    kind: str,
    person: str,
    at: datetime,
    *,
    until: datetime | None = None,
    note: str = "",
    via: str = "",
) -> None:
    await session.execute(
        insert(ActionRecord).values(
            conversation_id=conversation_id, kind=kind, person=person, at=at, until=until,
            note=note, via=via,
        )
    )  # fmt: skip


async def set_claim(session: AsyncSession, conversation_id: int, person: str | None) -> None:
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(claimed_by=person)
    )


async def set_snooze(session: AsyncSession, conversation_id: int, until: datetime | None) -> None:
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(snoozed_until=until)
    )


@dataclass(frozen=True)
class LastPeriod:
    ended_at: datetime | None
    end_reason: str | None
    answered_by: str | None


async def last_period(session: AsyncSession, conversation_id: int) -> LastPeriod | None:
    p = WaitingPeriod
    row = (
        await session.execute(
            select(p.ended_at, p.end_reason, p.answered_by)
            .where(p.conversation_id == conversation_id)
            .order_by(p.started_at.desc())
            .limit(1)
        )
    ).first()
    return LastPeriod(*row) if row else None


async def last_customer_message(session: AsyncSession, conversation_id: int) -> str | None:
    m = Message
    found: str | None = await session.scalar(
        select(m.message_id)
        .where(m.conversation_id == conversation_id, m.is_team.is_(False), m.deleted.is_(False))
        .order_by(m.at.desc(), m.message_id.desc())
        .limit(1)
    )
    return found


async def last_customer_message_at(session: AsyncSession, conversation_id: int) -> datetime | None:
    """When the customer last wrote (reply windows run from it)."""
    m = Message
    found: datetime | None = await session.scalar(
        select(func.max(m.at)).where(
            m.conversation_id == conversation_id, m.is_team.is_(False), m.deleted.is_(False)
        )
    )
    return found


@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # message | action | nudge
    who: str
    what: str  # text, action kind, or nudge step
    detail: str = ""  # team flag, snooze target, nudge state …
    is_team: bool = False


async def events(session: AsyncSession, conversation_id: int) -> list[Event]:
    m, a, n = Message, ActionRecord, Nudge
    out: list[Event] = []
    rows = await session.execute(
        select(m.at, m.person, m.author_name, m.author_id, m.text, m.is_team, m.deleted).where(
            m.conversation_id == conversation_id
        )
    )
    for at, person, name, author, text, team, deleted in rows.tuples():
        detail = "deleted" if deleted else ""
        out.append(Event(at, "message", person or name or author, text, detail, team))
    rows2 = await session.execute(
        select(a.at, a.person, a.kind, a.until, a.note).where(a.conversation_id == conversation_id)
    )
    for at, person, kind, until, note in rows2.tuples():
        detail = until.isoformat() if until else note
        out.append(Event(at, "action", person, kind, detail, True))
    rows3 = await session.execute(
        select(n.created_at, n.sent_at, n.recipient_key, n.step, n.state, n.last_error).where(
            n.conversation_id == conversation_id, n.state != "skipped"
        )
    )
    for created, sent, key, step, state, error in rows3.tuples():
        detail = state if not error else f"{state}: {error}"
        out.append(Event(sent or created, "nudge", key, step, detail, True))
    out.sort(key=lambda e: (e.at, e.kind))
    return out
