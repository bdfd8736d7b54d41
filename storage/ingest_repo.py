"""Set-based writes for ingest: a batch of messages costs a handful of statements."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.events import Action, ActionKind, Kind, MessageFact
from storage.models import Conversation, Message, WaitingPeriod
from storage.rawsql import Raw, instant, when

_CHUNK = 500  # keeps IN (...) lists well under SQLite's variable limit


def _scalar_defaults(table: Table) -> dict[str, Any]:
    """The Python-side scalar defaults SQLAlchemy would have filled in (driver-level inserts
    bypass them)."""
    out: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if default is not None and getattr(default, "is_scalar", False):
            out[column.name] = getattr(default, "arg", None)
    return out


_CONVERSATIONS = cast(Table, Conversation.__table__)
_MESSAGES = cast(Table, Message.__table__)
_PERIODS = cast(Table, WaitingPeriod.__table__)
# Driver-level inserts bypass the Python-side defaults SQLAlchemy would have filled in.
_DEFAULTS = _scalar_defaults(_CONVERSATIONS)


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
    raw = await Raw.of(session)
    ids: dict[tuple[str, str], int] = {}
    by_source: dict[str, list[str]] = defaultdict(list)
    for source, key in pairs:
        by_source[source].append(key)
    for source, keys in by_source.items():
        for part in _chunks(keys):
            where, params = raw.member("thread_key", part)
            found = await raw.rows(
                f"SELECT thread_key, id FROM conversations WHERE source = ? AND {where}",
                (source, *params),
            )
            ids.update({(source, t): i for t, i in found})
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
    raw = await Raw.of(session)
    defaults = {k: v for k, v in _DEFAULTS.items() if k not in rows[0]}
    found = await raw.insert(
        _CONVERSATIONS,
        rows,
        suffix="ON CONFLICT (source, thread_key) DO NOTHING",
        returning="source, thread_key, id",
        constants=defaults,
    )
    created.update({(s, t): i for s, t, i in found})
    return created


async def existing_message_ids(
    session: AsyncSession, source: str, message_ids: Sequence[str]
) -> set[str]:
    raw = await Raw.of(session)
    found: set[str] = set()
    for part in _chunks(message_ids):
        where, params = raw.member("message_id", part)
        rows = await raw.rows(
            f"SELECT message_id FROM messages WHERE source = ? AND {where}", (source, *params)
        )
        found.update(r[0] for r in rows)
    return found


async def insert_messages(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Plain executemany of rows known to be new (DO NOTHING guards a concurrent writer)."""
    await _driver_insert(session, _MESSAGES, rows, "ON CONFLICT (source, message_id) DO NOTHING")


async def insert_periods(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    await _driver_insert(session, _PERIODS, rows)


async def _driver_insert(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], suffix: str = ""
) -> None:
    """The bulk path of ingest: one driver-level statement of plain values. SQLAlchemy's
    per-row parameter and type processing cost as much as the insert itself here."""
    raw = await Raw.of(session)
    await raw.insert(table, rows, suffix=suffix)


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
    raw = await Raw.of(session)
    facts: dict[int, list[MessageFact]] = defaultdict(list)
    actions: dict[int, list[Action]] = defaultdict(list)
    for part in _chunks(conversation_ids):
        where, params = raw.member("conversation_id", part)
        rows = await raw.rows(
            "SELECT conversation_id, message_id, at, is_team, author_id, person, text, deleted, "
            f"author_name, url FROM messages WHERE {where}",
            params,
        )
        for cid, mid, at, team, author, person, text, deleted, name, url in rows:
            facts[cid].append(
                MessageFact(mid, instant(at), bool(team), author, person, text, bool(deleted),
                            name, url)
            )  # fmt: skip
        rows = await raw.rows(
            f"SELECT conversation_id, kind, person, at, until, note FROM actions WHERE {where} "
            "AND kind = ?",
            (*params, ActionKind.NOT_NEEDED.value),
        )
        for cid, kind, person, at, until, note in rows:
            actions[cid].append(Action(ActionKind(kind), person, instant(at), when(until), note))
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
    raw = await Raw.of(session)
    await raw.update_by_id(_CONVERSATIONS, conversations)
    for part in _chunks(list(periods)):
        where, params = raw.member("conversation_id", part)
        await raw.run(f"DELETE FROM waiting_periods WHERE {where}", params)
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
    raw = await Raw.of(session)
    out: dict[int, tuple[str, int, str | None]] = {}
    for part in _chunks(ids):
        where, params = raw.member("id", part)
        rows = await raw.rows(
            f"SELECT id, source, version, claimed_by FROM conversations WHERE {where}", params
        )
        out.update({i: (s, v, cl) for i, s, v, cl in rows})
    return out
