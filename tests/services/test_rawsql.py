"""storage.rawsql writes and reads values exactly as SQLAlchemy's column types do.

The ingest hot path bypasses SQLAlchemy (storage/rawsql.py); these tests write rows both
ways and read them both ways, on the backend under test, and compare.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, insert, select

from storage.db import Database
from storage.models import Conversation, Message
from storage.rawsql import DriverConnection, when

MESSAGES = cast(Table, Message.__table__)
CONVERSATIONS = cast(Table, Conversation.__table__)
AWARE = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.astimezone(timezone(timedelta(hours=5, minutes=30))))
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


def message(n: int, at: datetime, text: str, team: bool, edited: datetime | None) -> dict[str, Any]:
    return {
        "source": "s",
        "message_id": f"m{n}",
        "conversation_id": 1,
        "at": at,
        "author_id": "u",
        "author_name": text[:50],
        "person": None if not team else "alice",
        "is_team": team,
        "text": text,
        "url": "",
        "deleted": False,
        "edited_at": edited,
    }


async def _conversation(db: Database) -> None:
    async with db.write() as session:
        await session.execute(
            insert(CONVERSATIONS).values(
                id=1, source="s", thread_key="t", platform="webhook", channel="", thread="t",
                url="", customer_id="c", customer_name="", started_at=datetime.now(UTC),
                last_message_at=datetime.now(UTC), customer_messages=1, team_messages=0,
                version=1, last_text="",
            )
        )  # fmt: skip


COLUMNS = ("message_id", "at", "is_team", "text", "author_name", "person", "edited_at")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.tuples(AWARE, TEXT, st.booleans(), st.none() | AWARE), min_size=1, max_size=6)
)
async def test_raw_and_sqlalchemy_agree_both_ways(db: Database, rows: list[Any]) -> None:
    async with db.write() as session:
        await session.execute(MESSAGES.delete())
        await session.execute(CONVERSATIONS.delete())
    await _conversation(db)
    by_raw = [message(i, *r) for i, r in enumerate(rows)]
    by_sa = [message(i + 1000, *r) for i, r in enumerate(rows)]
    async with db.write() as session:
        await (await DriverConnection.of(session)).insert(MESSAGES, by_raw)
        await session.execute(insert(MESSAGES), by_sa)
    cols = [MESSAGES.c[c] for c in COLUMNS]
    async with db.write() as session:  # the write connection: the one ingest reads through
        typed = (await session.execute(select(*cols).order_by(MESSAGES.c.id))).all()
        raw = await DriverConnection.of(session)
        plain = await raw.rows(f"SELECT {', '.join(COLUMNS)} FROM messages ORDER BY id")
    n = len(rows)
    # Written raw or through SQLAlchemy: read back through SQLAlchemy, the same values.
    assert [tuple(r)[1:] for r in typed[:n]] == [tuple(r)[1:] for r in typed[n:]]
    for mid, at, team, text, name, person, edited in typed[:n]:
        original = by_raw[int(mid[1:])]
        assert at == original["at"] and edited == original["edited_at"]
        assert (team, text, name, person) == (
            original["is_team"], original["text"], original["author_name"], original["person"]
        )  # fmt: skip
    # Read raw and converted as ingest converts: the same as SQLAlchemy's typed read.
    converted = [
        (mid, when(at), bool(team), text, name, person, when(edited))
        for mid, at, team, text, name, person, edited in plain
    ]
    assert converted == [tuple(r) for r in typed]


async def test_member_and_update_by_id(db: Database) -> None:
    await _conversation(db)
    later = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    async with db.write() as session:
        raw = await DriverConnection.of(session)
        await raw.update_by_id(CONVERSATIONS, [{"id": 1, "next_nudge_at": later, "version": 7}])
        where, params = raw.member("id", [1, 2, 3])
        found = await raw.rows(
            f"SELECT id, next_nudge_at, version FROM conversations WHERE {where}", params
        )
    assert [(i, when(at), v) for i, at, v in found] == [(1, later, 7)]
    async with db.read() as session:
        row = (
            await session.execute(select(Conversation.next_nudge_at, Conversation.version))
        ).one()
    assert tuple(row) == (later, 7)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=st.just(UTC)))
def test_utc_times_are_written_as_sqlalchemy_writes_them_on_sqlite(at: datetime) -> None:
    """The UTC shortcut in ``_time_text`` formats by hand; SQLAlchemy's SQLite DATETIME
    bind processor (of the naive UTC time, as ``UTCDateTime`` binds it) is the reference."""
    from sqlalchemy.dialects import sqlite

    from storage.rawsql import _time_text

    bind = sqlite.DATETIME().bind_processor(sqlite.dialect())  # type: ignore[no-untyped-call]
    assert bind is not None
    assert _time_text(at) == bind(at.replace(tzinfo=None))
