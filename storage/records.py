"""Rows read from the database as plain frozen dataclasses, and the one conversion of a stored
time, with nothing but the standard library: the SQLAlchemy repositories and the fast
read-only path (``storage.fastread``) hand out the same records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def when(value: Any) -> datetime | None:
    """A stored time as ``storage.models.UTCDateTime`` reads it: aware UTC (from text on
    SQLite, from a naive datetime on PostgreSQL)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.replace(tzinfo=UTC)


def instant(value: Any) -> datetime:
    """``when`` for a NOT NULL column."""
    found = when(value)
    assert found is not None
    return found


@dataclass(frozen=True)
class WaitingRecord:
    id: int
    source: str
    platform: str
    channel: str
    thread: str
    customer_id: str | None
    customer_name: str | None
    waiting_since: datetime
    due_at: datetime | None
    claimed_by: str | None
    nudges_sent: int
    last_text: str
    url: str
    last_message_at: datetime | None = None  # while waiting: the customer's last message


@dataclass(frozen=True)
class StoredOverride:
    id: int
    rotation: str
    person: str
    start: datetime
    end: datetime
    created_at: datetime
    created_by: str
    note: str
