"""Everything stored about one conversation, for its page: each part one indexed read by
conversation id (messages, periods, nudges and actions all have one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ActionRecord, Conversation, Message, Nudge, WaitingPeriod


@dataclass(frozen=True)
class Head:
    id: int
    source: str
    platform: str
    channel: str
    thread: str
    url: str
    customer_id: str | None
    customer_name: str | None
    started_at: datetime | None
    waiting_since: datetime | None
    due_at: datetime | None
    claimed_by: str | None
    snoozed_until: datetime | None


@dataclass(frozen=True)
class Line:
    at: datetime
    author: str  # the team member's id, else the author's name, else their platform id
    is_team: bool
    text: str
    deleted: bool
    edited_at: datetime | None
    url: str


@dataclass(frozen=True)
class Period:
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    answered_by: str | None
    due_at: datetime | None


@dataclass(frozen=True)
class NudgeLine:
    at: datetime  # sent, else created
    step: str
    person: str | None
    recipient: str  # recipient_key: person:ID | slack-channel:CID
    platform: str
    state: str
    outcome: str | None
    outcome_by: str | None
    error: str


@dataclass(frozen=True)
class ActionLine:
    at: datetime
    kind: str
    person: str
    until: datetime | None
    note: str
    via: str


@dataclass(frozen=True)
class Stored:
    head: Head
    lines: list[Line]
    periods: list[Period]
    nudges: list[NudgeLine]
    actions: list[ActionLine]


async def load(session: AsyncSession, conversation_id: int, max_lines: int = 500) -> Stored | None:
    c, m, p, n, a = Conversation, Message, WaitingPeriod, Nudge, ActionRecord
    row = (
        await session.execute(
            select(
                c.id, c.source, c.platform, c.channel, c.thread, c.url, c.customer_id,
                c.customer_name, c.started_at, c.waiting_since, c.due_at, c.claimed_by,
                c.snoozed_until,
            ).where(c.id == conversation_id)
        )
    ).first()  # fmt: skip
    if row is None:
        return None
    head = Head(*row)
    # The newest max_lines messages, shown oldest first (a thread of thousands stays a page).
    newest = (
        select(m.at, m.id, m.person, m.author_name, m.author_id, m.is_team, m.text, m.deleted,
               m.edited_at, m.url)
        .where(m.conversation_id == conversation_id)
        .order_by(m.at.desc(), m.id.desc())
        .limit(max_lines)
    )  # fmt: skip
    lines = [
        Line(at, person or name or author, bool(team), text, bool(deleted), edited, url)
        for at, _id, person, name, author, team, text, deleted, edited, url in reversed(
            (await session.execute(newest)).tuples().all()
        )
    ]
    periods = [
        Period(*r)
        for r in (
            await session.execute(
                select(p.started_at, p.ended_at, p.end_reason, p.answered_by, p.due_at)
                .where(p.conversation_id == conversation_id)
                .order_by(p.started_at)
            )
        ).tuples()
    ]
    nudges = [
        NudgeLine(sent or created, step, person, key, platform, state, outcome, by, error)
        for sent, created, step, person, key, platform, state, outcome, by, error in (
            await session.execute(
                select(n.sent_at, n.created_at, n.step, n.recipient_person, n.recipient_key,
                       n.recipient_platform, n.state, n.outcome, n.outcome_by, n.last_error)
                .where(n.conversation_id == conversation_id, n.state != "skipped")
                .order_by(n.slot_at, n.id)
            )
        ).tuples()
    ]  # fmt: skip
    actions = [
        ActionLine(*r)
        for r in (
            await session.execute(
                select(a.at, a.kind, a.person, a.until, a.note, a.via)
                .where(a.conversation_id == conversation_id)
                .order_by(a.at, a.id)
            )
        ).tuples()
    ]
    return Stored(head, lines, periods, nudges, actions)
