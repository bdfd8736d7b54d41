"""Who's waiting on us: the rows behind `nudgebot waiting`, `/api/waiting` and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot import platforms
from bot.domain.reply_window import window_closes_at
from bot.domain.routing import Routing

if TYPE_CHECKING:  # SQLAlchemy only where the database is read through it: the fast read
    # path (bot.cli.fastpath) builds these rows without importing it.
    from storage.db import Database
    from storage.records import WaitingRecord


@dataclass(frozen=True)
class WaitingRow:
    conversation: int
    source: str
    platform: str
    channel: str
    thread: str
    customer: str
    waiting_since: datetime
    waiting_seconds: int
    due_at: datetime | None
    overdue: bool
    responsible: str | None
    responsible_all: tuple[str, ...]
    responsible_reason: str
    nudges_sent: int
    last_message: str
    url: str
    reply_window_closes_at: datetime | None = None  # WhatsApp's 24 h window; None elsewhere

    def as_json(self) -> dict[str, Any]:
        return {
            "conversation": self.conversation,
            "source": self.source,
            "platform": self.platform,
            "channel": self.channel,
            "thread": self.thread,
            "customer": self.customer,
            "waiting_since": iso(self.waiting_since),
            "waiting_seconds": self.waiting_seconds,
            "due_at": iso(self.due_at) if self.due_at else None,
            "overdue": self.overdue,
            "responsible": self.responsible,
            "responsible_all": list(self.responsible_all),
            "responsible_reason": self.responsible_reason,
            "nudges_sent": self.nudges_sent,
            "last_message": self.last_message,
            "url": self.url,
            "reply_window_closes_at": (
                iso(self.reply_window_closes_at) if self.reply_window_closes_at else None
            ),
        }


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def to_row(record: WaitingRecord, routing: Routing, now: datetime) -> WaitingRow:
    route = routing.route(record.source, record.claimed_by, now)
    return WaitingRow(
        conversation=record.id,
        source=record.source,
        platform=record.platform,
        channel=record.channel,
        thread=record.thread,
        customer=record.customer_name or record.customer_id or "",
        waiting_since=record.waiting_since,
        waiting_seconds=max(0, int((now - record.waiting_since).total_seconds())),
        due_at=record.due_at,
        overdue=record.due_at is not None and now >= record.due_at,
        responsible=route.primary,
        responsible_all=route.people,
        responsible_reason=route.reason,
        nudges_sent=record.nudges_sent,
        last_message=record.last_text,
        url=record.url,
        reply_window_closes_at=window_closes_at(
            platforms.reply_window(record.platform), record.last_message_at
        ),
    )


async def list_waiting(
    db: Database,
    routing: Routing,
    now: datetime,
    *,
    source: str | None = None,
    person: str | None = None,
    limit: int | None = None,
) -> list[WaitingRow]:
    """Oldest first. ``person`` filters on who is responsible now, which the database can't
    know (hours and rotations live in the config), so that filter runs here."""
    from storage.conversation_queries import waiting

    async with db.read() as session:
        records = await waiting(session, source=source, limit=None if person else limit)
    return by_person(records, routing, now, person, limit)


def by_person(
    records: list[WaitingRecord],
    routing: Routing,
    now: datetime,
    person: str | None,
    limit: int | None,
) -> list[WaitingRow]:
    """``records`` as rows; ``person`` keeps those the person is responsible for now."""
    rows = [to_row(r, routing, now) for r in records]
    if person is not None:
        rows = [r for r in rows if person in r.responsible_all]
        if limit is not None:
            rows = rows[:limit]
    return rows


async def count_waiting(db: Database, source: str | None = None) -> int:
    from storage.conversation_queries import count_waiting_by_source

    async with db.read() as session:
        counts = await count_waiting_by_source(session)
    if source is not None:
        return counts.get(source, (0, None))[0]
    return sum(count for count, _oldest in counts.values())
