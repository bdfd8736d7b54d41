"""Message writes for ingest: new messages in bulk, edits and deletions applied by rank."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.events import Kind, MessageFact
from storage.db import insert_for
from storage.models import Message
from storage.rawsql import DriverConnection, chunks

_MESSAGES = cast(Table, Message.__table__)
_COLUMNS = ("source", "message_id", "conversation_id", "at", "author_id", "author_name",
            "person", "is_team", "text", "url", "deleted", "edited_at")  # fmt: skip
_NEW = "ON CONFLICT (source, message_id) DO NOTHING"  # guards a concurrent writer


async def insert_facts(
    session: AsyncSession, items: Iterable[tuple[int, str, MessageFact]]
) -> None:
    """Messages known to be new — (conversation id, source, stored form) — in one statement.

    The rows are built straight from the records (no per-row dict): an import writes every
    message through here, and a dict and a per-column pass cost as much as SQLite's own
    insert. Booleans go as they are: sqlite3 binds ``bool`` as 0/1, as the column type would.
    """
    raw = await DriverConnection.of(session)
    time = raw.time
    rows = [
        (source, f.message_id, cid, time(f.at), f.author_id, f.author_name, f.person,
         f.is_team, f.text, f.url, f.deleted, None if f.edited_at is None else time(f.edited_at))
        for cid, source, f in items
    ]  # fmt: skip
    await raw.insert_values(_MESSAGES, _COLUMNS, rows, suffix=_NEW)


async def existing_message_ids(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Those of the (source, message id) pairs that are stored."""
    raw = await DriverConnection.of(session)
    rows = await raw.rows_by_pairs(
        "SELECT m.source, m.message_id FROM messages AS m", ("m.source", "m.message_id"), keys
    )
    return {(s, i) for s, i in rows}


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
        stmt = insert_for(session, table).on_conflict_do_nothing(
            index_elements=["source", "message_id"]
        )
        for part in chunks(_latest_per_key(plain, lambda _row: 0)):
            result = await session.execute(stmt.returning(table.c.conversation_id), part)
            changed.update(result.scalars())
    if edits := by_kind.get(Kind.EDIT):
        stmt = insert_for(session, table)
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
        for part in chunks(_latest_per_key(edits, _edit_rank)):
            result = await session.execute(stmt.returning(table.c.conversation_id), part)
            changed.update(result.scalars())
    if deletions := by_kind.get(Kind.DELETE):
        stmt = insert_for(session, table)
        stmt = stmt.on_conflict_do_update(
            index_elements=["source", "message_id"],
            set_={"deleted": True},
            where=table.c.deleted.is_(False),
        )
        rows_ = [{**d, "deleted": True} for d in _latest_per_key(deletions, lambda _row: 0)]
        for part in chunks(rows_):
            result = await session.execute(stmt.returning(table.c.conversation_id), part)
            changed.update(result.scalars())
    return changed
