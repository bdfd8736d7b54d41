"""Set-based writes for ingest: a batch of messages costs a handful of statements."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.events import Action, ActionKind, Kind, MessageFact
from storage.models import ActionRecord, Conversation, Message, WaitingPeriod

_CHUNK = 500  # keeps IN (...) lists well under SQLite's variable limit


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.bind.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def find_conversations(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Ids of the conversations that exist among (source, thread_key) pairs."""
    c = Conversation.__table__.c
    ids: dict[tuple[str, str], int] = {}
    by_source: dict[str, list[str]] = defaultdict(list)
    for source, key in pairs:
        by_source[source].append(key)
    for source, keys in by_source.items():
        for part in _chunks(keys):
            result = await session.execute(
                select(c.thread_key, c.id).where(c.source == source, c.thread_key.in_(part))
            )
            ids.update({(source, t): i for t, i in result.tuples()})
    return ids


async def create_conversations(
    session: AsyncSession, rows: Sequence[Mapping[str, Any]]
) -> dict[tuple[str, str], int]:
    """Insert conversations with their computed state; returns the ones this call created.

    A row another transaction created in the meantime is skipped (ON CONFLICT DO NOTHING)
    and left out of the result, so the caller treats it as existing.
    """
    created: dict[tuple[str, str], int] = {}
    if not rows:
        return created
    conn = await session.connection()
    sqlite = conn.dialect.name == "sqlite"
    defaults = {k: v for k, v in _scalar_defaults(Conversation.__table__).items() if k not in rows[0]}
    rows = [{**defaults, **r} for r in rows] if defaults else rows
    columns = list(rows[0])
    # A multi-row VALUES list at driver level: executemany cannot return ids, and
    # SQLAlchemy compiled this statement anew for every batch size.
    for part in _chunks(rows, 1000):
        mark = "?" if sqlite else "%s"
        values = ", ".join(["(" + ", ".join([mark] * len(columns)) + ")"] * len(part))
        sql = (
            f"INSERT INTO conversations ({', '.join(columns)}) VALUES {values} "
            "ON CONFLICT (source, thread_key) DO NOTHING RETURNING source, thread_key, id"
        )
        params = tuple(_db_value(r[c], sqlite) for r in part for c in columns)
        result = await conn.exec_driver_sql(sql, params)
        created.update({(s, t): i for s, t, i in result.tuples()})
    return created


def _scalar_defaults(table: Table) -> dict[str, Any]:
    """The Python-side scalar defaults SQLAlchemy would have filled in (driver-level inserts
    bypass them)."""
    out: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if default is not None and getattr(default, "is_scalar", False):
            out[column.name] = getattr(default, "arg", None)
    return out


async def existing_message_ids(
    session: AsyncSession, source: str, message_ids: Sequence[str]
) -> set[str]:
    m = Message.__table__.c
    found: set[str] = set()
    for part in _chunks(message_ids):
        result = await session.execute(
            select(m.message_id).where(m.source == source, m.message_id.in_(part))
        )
        found.update(result.scalars())
    return found


async def insert_messages(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Plain executemany of rows known to be new (DO NOTHING guards a concurrent writer)."""
    await _driver_insert(session, "messages", rows, "ON CONFLICT (source, message_id) DO NOTHING")


async def insert_periods(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    await _driver_insert(session, "waiting_periods", rows)


def _db_value(value: Any, sqlite: bool) -> Any:
    """What SQLAlchemy's column types would bind: naive UTC times (text on SQLite), 0/1."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC time")
        naive = value.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(" ", "microseconds") if sqlite else naive
    if sqlite and isinstance(value, bool):
        return int(value)
    return value


async def _driver_insert(
    session: AsyncSession, table: str, rows: Sequence[Mapping[str, Any]], suffix: str = ""
) -> None:
    """The bulk path of ingest: one driver-level executemany of plain values. SQLAlchemy's
    per-row parameter and type processing cost as much as the insert itself here; the
    values are converted exactly as ``UTCDateTime``/``Boolean`` would (tests compare)."""
    if not rows:
        return
    columns = list(rows[0])
    sqlite = session.bind.dialect.name == "sqlite"
    marks = ", ".join("?" if sqlite else f"%({c})s" for c in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) {suffix}"
    params: list[Any]
    if sqlite:
        params = [tuple(_db_value(r[c], True) for c in columns) for r in rows]
    else:
        params = [{c: _db_value(r[c], False) for c in columns} for r in rows]
    conn = await session.connection()
    await conn.exec_driver_sql(sql, params)


def _latest_per_key(rows: Iterable[dict[str, Any]], rank: Any) -> list[dict[str, Any]]:
    """One row per (source, message_id): the highest by ``rank``.

    PostgreSQL refuses an ``ON CONFLICT DO UPDATE`` that touches one row twice, and picking
    the winner here by value (not by position) keeps the batch order irrelevant.
    """
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["source"], row["message_id"])
        if key not in best or rank(row) > rank(best[key]):
            best[key] = row
    return list(best.values())


def _edit_rank(row: Mapping[str, Any]) -> tuple[datetime, str]:
    return (row["edited_at"], row["text"])


async def upsert_messages(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> set[int]:
    """Insert messages, applying edits and deletions whatever order they arrive in.

    Each row carries ``kind``. A plain message never overwrites a stored one (a redelivery
    changes nothing, and a deletion or a newer edit that arrived first stays in force);
    an edit wins only over an older edit (equal edit times: the greater text, so the winner
    never depends on arrival order); a deletion always wins. An edit without an edit time
    counts as edited at the message's own time.

    Returns the ids of the conversations whose stored messages actually changed: a pure
    redelivery returns nothing, so it needs no recompute and rewrites no row.
    """
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        data = dict(row)
        kind = data.pop("kind")
        if kind == Kind.EDIT and data.get("edited_at") is None:
            data["edited_at"] = data["at"]
        by_kind[kind].append(data)
    table = Message.__table__
    changed: set[int] = set()
    if plain := by_kind.get(Kind.MESSAGE):
        stmt = _insert(session, table).on_conflict_do_nothing(
            index_elements=["source", "message_id"]
        )
        for part in _chunks(_latest_per_key(plain, lambda _row: 0)):
            result = await session.execute(stmt.returning(table.c.conversation_id), part)
            changed.update(result.scalars())
    if edits := by_kind.get(Kind.EDIT):
        stmt = _insert(session, table)
        theirs: ColumnElement[str] = stmt.excluded.text
        mine: ColumnElement[str] = table.c.text
        if session.bind.dialect.name == "postgresql":  # code point order, as in _edit_rank
            theirs, mine = theirs.collate("C"), mine.collate("C")
        newer = (stmt.excluded.edited_at > table.c.edited_at) | (
            (stmt.excluded.edited_at == table.c.edited_at) & (theirs > mine)
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "message_id"],
            set_={"text": stmt.excluded.text, "edited_at": stmt.excluded.edited_at},
            where=table.c.edited_at.is_(None) | newer,
        )
        for part in _chunks(_latest_per_key(edits, _edit_rank)):
            result = await session.execute(stmt.returning(table.c.conversation_id), part)
            changed.update(result.scalars())
    if deletions := by_kind.get(Kind.DELETE):
        stmt = _insert(session, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "message_id"],
            set_={"deleted": True},
            where=table.c.deleted.is_(False),
        )
        rows_ = [{**d, "deleted": True} for d in _latest_per_key(deletions, lambda _row: 0)]
        for part in _chunks(rows_):
            result = await session.execute(stmt.returning(table.c.conversation_id), part)
            changed.update(result.scalars())
    return changed


async def load_facts(
    session: AsyncSession, conversation_ids: Sequence[int]
) -> tuple[dict[int, list[MessageFact]], dict[int, list[Action]]]:
    facts: dict[int, list[MessageFact]] = defaultdict(list)
    actions: dict[int, list[Action]] = defaultdict(list)
    m = Message
    for part in _chunks(conversation_ids):
        result = await session.execute(
            select(
                m.conversation_id,
                m.message_id,
                m.at,
                m.is_team,
                m.author_id,
                m.person,
                m.text,
                m.deleted,
                m.author_name,
                m.url,
            ).where(m.conversation_id.in_(part))
        )
        for cid, mid, at, team, author, person, text, deleted, name, url in result.tuples():
            facts[cid].append(MessageFact(mid, at, team, author, person, text, deleted, name, url))
        a = ActionRecord
        result2 = await session.execute(
            select(a.conversation_id, a.kind, a.person, a.at, a.until, a.note).where(
                a.conversation_id.in_(part), a.kind == ActionKind.NOT_NEEDED.value
            )
        )
        for cid, kind, person, at, until, note in result2.tuples():
            actions[cid].append(Action(ActionKind(kind), person, at, until, note))
    return facts, actions


@dataclass(frozen=True)
class PeriodRow:
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    answered_by: str | None
    due_at: datetime | None


async def save_states(
    session: AsyncSession,
    conversations: Sequence[Mapping[str, Any]],
    periods: Mapping[int, Sequence[PeriodRow]],
    sources: Mapping[int, str],
) -> None:
    """Write recomputed conversation rows (each with ``id``) and replace their periods."""
    if conversations:
        # A Core executemany: one statement for the batch (the ORM bulk path splits batches
        # whenever the set of non-NULL keys changes from one row to the next).
        table = cast(Table, Conversation.__table__)
        columns = [k for k in conversations[0] if k != "id"]
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({k: bindparam(k, type_=table.c[k].type) for k in columns})
        )
        await session.execute(stmt, [{**row, "b_id": row["id"]} for row in conversations])
    ids = list(periods)
    for part in _chunks(ids):
        await session.execute(delete(WaitingPeriod).where(WaitingPeriod.conversation_id.in_(part)))
    rows = [
        {
            "conversation_id": cid,
            "source": sources[cid],
            "started_at": p.started_at,
            "ended_at": p.ended_at,
            "end_reason": p.end_reason,
            "answered_by": p.answered_by,
            "due_at": p.due_at,
        }
        for cid, ps in periods.items()
        for p in ps
    ]
    await insert_periods(session, rows)


async def conversation_meta(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, tuple[str, int, str | None]]:
    """source, version and claimed_by of each conversation."""
    out: dict[int, tuple[str, int, str | None]] = {}
    c = Conversation
    for part in _chunks(ids):
        result = await session.execute(
            select(c.id, c.source, c.version, c.claimed_by).where(c.id.in_(part))
        )
        out.update({i: (s, v, cl) for i, s, v, cl in result.tuples()})
    return out
