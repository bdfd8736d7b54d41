"""Set-based writes for ingest: a batch of messages costs a handful of statements."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.events import Action, ActionKind, MessageFact
from bot.domain.records import quick_init
from storage.models import Conversation, Message, WaitingPeriod
from storage.rawsql import DriverConnection, chunks, instant, when


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


async def find_conversations(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Ids of the conversations that exist among (source, thread_key) pairs."""
    raw = await DriverConnection.of(session)
    found = await raw.rows_by_pairs(
        "SELECT c.source, c.thread_key, c.id FROM conversations AS c",
        ("c.source", "c.thread_key"),
        pairs,
    )
    return {(s, t): i for s, t, i in found}


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
    raw = await DriverConnection.of(session)
    defaults = {k: v for k, v in _DEFAULTS.items() if k not in rows[0]}
    skip = "ON CONFLICT (source, thread_key) DO NOTHING"
    if raw.sqlite:
        # executemany returns no rows, and one INSERT … RETURNING per row cost ~25 µs each.
        # SQLite gives a new row a rowid above the table's highest, and this transaction holds
        # the write lock: the rows it created are its keys' rows above the highest id before.
        top = (await raw.rows("SELECT coalesce(max(id), 0) FROM conversations"))[0][0]
        await raw.insert(_CONVERSATIONS, rows, suffix=skip, constants=defaults)
        keys = [(str(r["source"]), str(r["thread_key"])) for r in rows]
        return {k: i for k, i in (await find_conversations(session, keys)).items() if i > top}
    found = await raw.insert(
        _CONVERSATIONS, rows, suffix=skip, returning="source, thread_key, id", constants=defaults
    )
    created.update({(s, t): i for s, t, i in found})
    return created


async def load_facts(
    session: AsyncSession, conversation_ids: Sequence[int]
) -> tuple[dict[int, list[MessageFact]], dict[int, list[Action]]]:
    """Every message and standing action of the conversations, to recompute them from.

    PostgreSQL: their rows are locked first (in id order, so two writers never deadlock on
    them). Another replica recomputing one of them at the same time holds that lock until it
    commits; the reads below then see its messages too. Without the lock, a replica that had
    read the messages before the other's commit wrote its state after it: a customer's
    message stored by one replica and a team reply by another could leave the conversation
    "answered" with the customer waiting. (SQLite has one writer at a time.)"""
    raw = await DriverConnection.of(session)
    if not raw.sqlite:
        for part in chunks(sorted(conversation_ids)):
            where, params = raw.member("id", part)
            await raw.rows(f"SELECT id FROM conversations WHERE {where} ORDER BY id FOR UPDATE",
                           params)  # fmt: skip
    facts: dict[int, list[MessageFact]] = defaultdict(list)
    actions: dict[int, list[Action]] = defaultdict(list)
    for part in chunks(conversation_ids):
        where, params = raw.member("conversation_id", part)
        rows = await raw.rows(
            "SELECT conversation_id, message_id, at, is_team, author_id, person, text, deleted, "
            f"author_name, url, edited_at FROM messages WHERE {where}",
            params,
        )
        for cid, mid, at, team, author, person, text, deleted, name, url, edited in rows:
            facts[cid].append(
                MessageFact(mid, instant(at), bool(team), author, person, text, bool(deleted),
                            name, url, when(edited))
            )  # fmt: skip
        rows = await raw.rows(
            f"SELECT conversation_id, kind, person, at, until, note FROM actions WHERE {where} "
            "AND kind = ?",
            (*params, ActionKind.NOT_NEEDED.value),
        )
        for cid, kind, person, at, until, note in rows:
            actions[cid].append(Action(ActionKind(kind), person, instant(at), when(until), note))
    return facts, actions


@quick_init
@dataclass(frozen=True)
class PeriodRow:
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    answered_by: str | None
    due_at: datetime | None


_PERIOD_COLUMNS = ("conversation_id", "source", "started_at", "ended_at", "end_reason",
                   "answered_by", "due_at")  # fmt: skip


async def insert_periods(
    session: AsyncSession, items: Iterable[tuple[int, str, PeriodRow]]
) -> None:
    """Waiting periods, each with its conversation id and source, in one driver-level insert."""
    raw = await DriverConnection.of(session)
    time = raw.time
    rows = [
        (cid, source, time(p.started_at), time(p.ended_at), p.end_reason, p.answered_by,
         time(p.due_at))
        for cid, source, p in items
    ]  # fmt: skip
    await raw.insert_values(_PERIODS, _PERIOD_COLUMNS, rows)


async def save_states(
    session: AsyncSession,
    conversations: Sequence[Mapping[str, Any]],
    periods: Mapping[int, Sequence[PeriodRow]],
    sources: Mapping[int, str],
    created: Sequence[tuple[int, str, PeriodRow]] = (),
) -> None:
    """Write recomputed conversation rows (each with ``id``; ``version`` goes up by one) and
    replace their periods; ``created``: periods of new conversations, inserted with them."""
    raw = await DriverConnection.of(session)
    await raw.update_by_id(_CONVERSATIONS, conversations, bump="version")
    for part in chunks(list(periods)):
        where, params = raw.member("conversation_id", part)
        await raw.run(f"DELETE FROM waiting_periods WHERE {where}", params)
    await insert_periods(
        session,
        [*created, *((cid, sources[cid], p) for cid, ps in periods.items() for p in ps)],
    )


async def conversation_sources(session: AsyncSession, ids: Sequence[int]) -> dict[int, str]:
    raw = await DriverConnection.of(session)
    out: dict[int, str] = {}
    for part in chunks(ids):
        where, params = raw.member("id", part)
        rows = await raw.rows(f"SELECT id, source FROM conversations WHERE {where}", params)
        out.update({i: s for i, s in rows})
    return out
