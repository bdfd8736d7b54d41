"""Reads and writes behind the nudge ladder: due conversations, ladder history, outcomes.

Every read here is keyed by conversation id (or served by the partial ``next_nudge_at``
index), so planning costs grow with what is due, not with the size of the history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, case, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from bot.domain.events import ActionKind
from bot.domain.ports import NudgeUpdate
from storage.db import insert_for
from storage.models import Conversation, Nudge, NudgeSummary, WaitingPeriod
from storage.outbox_repo import FINAL_OUTCOMES, State, UpdateState
from storage.rawsql import DriverConnection, chunks, instant, when
from storage.summaries_repo import BATCHED, touch_for_nudges

LADDER_CHUNK = 2000  # keeps IN (...) lists well under SQLite's variable limit (32,766)


@dataclass(frozen=True)
class LadderConversation:
    id: int
    source: str
    platform: str
    waiting_since: datetime | None
    due_at: datetime | None
    claimed_by: str | None
    snoozed_until: datetime | None
    next_nudge_at: datetime | None
    imported_wait: datetime | None = None  # a wait that arrived by import: history

    @property
    def is_history(self) -> bool:
        """This wait was imported as history: summarised, never nudged one by one."""
        return (
            self.imported_wait is not None
            and self.waiting_since is not None
            and self.waiting_since <= self.imported_wait
        )


@dataclass(frozen=True)
class HistoryRow:
    id: int
    conversation_id: int
    period_start: datetime
    track: str
    seq: int
    recipient_key: str
    slot_at: datetime
    not_before: datetime
    created_at: datetime
    state: str
    outcome: str | None


@dataclass(frozen=True)
class ActionTimes:
    claimed_at: datetime | None = None
    snoozed_at: datetime | None = None


@dataclass(frozen=True)
class EndedPeriod:
    started_at: datetime
    ended_at: datetime
    end_reason: str | None
    answered_by: str | None


async def claim_due_conversations(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    """Ids whose next ladder slot is due, locked for this transaction on PostgreSQL (other
    replicas skip them); SQLite's write lock already serialises planners."""
    c = Conversation
    stmt = select(c.id).where(c.next_nudge_at <= now).order_by(c.next_nudge_at).limit(limit)
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    return list((await session.scalars(stmt)).all())


async def ladder_conversations(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, LadderConversation]:
    raw = await DriverConnection.of(session)
    out: dict[int, LadderConversation] = {}
    for part in chunks(ids, LADDER_CHUNK):
        where, params = raw.member("id", part)
        rows = await raw.rows(
            "SELECT id, source, platform, waiting_since, due_at, claimed_by, snoozed_until, "
            f"next_nudge_at, imported_wait FROM conversations WHERE {where}",
            params,
        )
        for cid, source, platform, since, due, claimed, snoozed, nxt, imported in rows:
            out[cid] = LadderConversation(
                cid, source, platform, when(since), when(due), claimed, when(snoozed), when(nxt),
                when(imported),
            )  # fmt: skip
    return out


async def action_times(session: AsyncSession, ids: Sequence[int]) -> dict[int, ActionTimes]:
    """Latest claim and snooze per conversation (served by ix_actions_conversation_at)."""
    raw = await DriverConnection.of(session)
    latest: dict[int, dict[str, datetime | None]] = defaultdict(dict)
    kinds = (ActionKind.CLAIM.value, ActionKind.SNOOZE.value)
    for part in chunks(ids, LADDER_CHUNK):
        where, params = raw.member("conversation_id", part)
        rows = await raw.rows(
            f"SELECT conversation_id, kind, max(at) FROM actions WHERE {where} "
            "AND kind IN (?, ?) GROUP BY conversation_id, kind",
            (*params, *kinds),
        )
        for cid, kind, at in rows:
            latest[cid][kind] = when(at)
    return {
        cid: ActionTimes(got.get(ActionKind.CLAIM.value), got.get(ActionKind.SNOOZE.value))
        for cid, got in latest.items()
    }


_HISTORY = (
    "SELECT id, conversation_id, period_start, track, seq, recipient_key, slot_at, not_before, "
    "created_at, state, outcome FROM nudges WHERE "
)


def _history_row(row: Sequence[Any]) -> HistoryRow:
    i, cid, start, track, seq, key, slot, not_before, created, state, outcome = row
    return HistoryRow(i, cid, instant(start), track, seq, key, instant(slot), instant(not_before),
                      instant(created), state, outcome)  # fmt: skip


async def history(
    session: AsyncSession, keys: Iterable[tuple[int, datetime]]
) -> dict[tuple[int, datetime], list[HistoryRow]]:
    """Every outbox row of the given (conversation, period) pairs."""
    raw = await DriverConnection.of(session)
    out: dict[tuple[int, datetime], list[HistoryRow]] = defaultdict(list)
    pairs = sorted(set(keys))
    wanted = set(pairs)
    for part in chunks(sorted({cid for cid, _ in pairs}), LADDER_CHUNK):
        where, params = raw.member("conversation_id", part)
        for row in await raw.rows(_HISTORY + where, params):
            record = _history_row(row)
            key = (record.conversation_id, record.period_start)
            if key in wanted:
                out[key].append(record)
    return out


async def unsettled(session: AsyncSession, ids: Sequence[int]) -> list[HistoryRow]:
    """Rows that may still need something when their conversation changes: undelivered ones,
    and delivered ones whose message does not show a final outcome yet."""
    raw = await DriverConnection.of(session)
    out: list[HistoryRow] = []
    open_states = (State.PENDING.value, State.SENDING.value, State.SENT.value, BATCHED)
    for part in chunks(ids, LADDER_CHUNK):
        where, params = raw.member("conversation_id", part)
        rows = await raw.rows(
            f"{_HISTORY}{where} AND state IN (?, ?, ?, ?) "
            f"AND (outcome IS NULL OR outcome NOT IN ({raw.marks(len(FINAL_OUTCOMES))}))",
            (*params, *open_states, *FINAL_OUTCOMES),
        )
        out.extend(_history_row(row) for row in rows)
    return out


async def ended_periods(
    session: AsyncSession, keys: Iterable[tuple[int, datetime]]
) -> dict[tuple[int, datetime], EndedPeriod]:
    p = WaitingPeriod
    pairs = sorted(set(keys))
    out: dict[tuple[int, datetime], EndedPeriod] = {}
    for part in chunks(pairs, LADDER_CHUNK):
        result = await session.execute(
            select(p.conversation_id, p.started_at, p.ended_at, p.end_reason, p.answered_by)
            .where(tuple_(p.conversation_id, p.started_at).in_(part))
            .where(p.ended_at.is_not(None))
        )
        for cid, started, ended, reason, by in result.tuples():
            assert ended is not None
            out[(cid, started)] = EndedPeriod(started, ended, reason, by)
    return out


async def insert_nudges(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert outbox rows; a step already planned (by another replica) is left as it is."""
    if rows:
        stmt = insert_for(session, Nudge).on_conflict_do_nothing(
            index_elements=["conversation_id", "period_start", "track", "seq", "recipient_key"]
        )
        await session.execute(stmt, list(rows))


async def set_next_nudge(session: AsyncSession, values: Mapping[int, datetime | None]) -> None:
    raw = await DriverConnection.of(session)
    # Ascending ids: the same lock order as every writer.
    rows = [{"id": cid, "next_nudge_at": at} for cid, at in sorted(values.items())]
    await raw.update_by_id(cast(Table, Conversation.__table__), rows)


async def cancel(session: AsyncSession, ids: Sequence[int], reason: str) -> int:
    n = Nudge
    done = 0
    for part in chunks(sorted(ids), LADDER_CHUNK):  # ascending ids: the outbox's one lock order
        result = await session.execute(
            update(n)
            .where(n.id.in_(part), n.state == State.PENDING)
            .values(state=State.CANCELLED, next_attempt_at=None, last_error=reason)
            .execution_options(synchronize_session=False)
        )
        done += int(getattr(result, "rowcount", 0) or 0)
    return done


async def flag_outcome(
    session: AsyncSession, ids: Sequence[int], outcome: NudgeUpdate, now: datetime
) -> None:
    """Owe an in-place update to delivered (or in-flight) rows; the newest outcome wins."""
    n = Nudge
    for part in chunks(sorted(ids), LADDER_CHUNK):  # ascending ids: the outbox's one lock order
        await session.execute(
            update(n)
            .where(n.id.in_(part), n.state.in_((State.SENDING, State.SENT)))
            .values(
                outcome=outcome.outcome.value,
                outcome_by=outcome.by,
                outcome_at=outcome.at,
                outcome_after=outcome.after_seconds,
                outcome_until=outcome.until,
                update_version=n.update_version + 1,
                update_state=UpdateState.PENDING,
                update_attempts=0,
                update_next_at=case((n.state == State.SENT, now), else_=None),
            )
            .execution_options(synchronize_session=False)
        )


async def flag_batched(
    session: AsyncSession, ids: Sequence[int], outcome: NudgeUpdate, now: datetime
) -> int:
    """Record the outcome on nudges batched into a summary and owe that summary an edit."""
    n = Nudge
    for part in chunks(sorted(ids), LADDER_CHUNK):  # ascending ids: the outbox's one lock order
        await session.execute(
            update(n)
            .where(n.id.in_(part), n.state == BATCHED)
            .values(outcome=outcome.outcome.value, outcome_by=outcome.by, outcome_at=outcome.at,
                    outcome_after=outcome.after_seconds, outcome_until=outcome.until)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    # Summary rows after nudge rows: the lock order every outbox writer keeps.
    return await touch_for_nudges(session, ids, now)


async def forget_imported(session: AsyncSession, ids: Sequence[int]) -> None:
    """Their imported wait is over: the next one is nudged like any other."""
    c = Conversation
    for part in chunks(sorted(ids), LADDER_CHUNK):
        await session.execute(
            update(c).where(c.id.in_(part)).values(imported_wait=None)
            .execution_options(synchronize_session=False)
        )  # fmt: skip


async def rekey_period(
    session: AsyncSession, conversation_id: int, old: datetime, new: datetime
) -> bool:
    """Move a period's rows to its new start (an earlier customer message arrived late), unless
    the new start already has rows of its own."""
    n = Nudge
    taken = await session.scalar(
        select(func.count()).where(n.conversation_id == conversation_id, n.period_start == new)
    )
    if taken:
        return False
    await session.execute(
        update(n)
        .where(n.conversation_id == conversation_id, n.period_start == old)
        .values(period_start=new)
        .execution_options(synchronize_session=False)
    )
    return True


async def next_nudge_at(session: AsyncSession) -> datetime | None:
    c = Conversation
    # ORDER BY … LIMIT 1 with the index's own predicate: one step into the partial index.
    # (A bare min() does not imply IS NOT NULL to SQLite's planner and scans the table.)
    result: datetime | None = await session.scalar(
        select(c.next_nudge_at)
        .where(c.next_nudge_at.is_not(None))
        .order_by(c.next_nudge_at)
        .limit(1)
    )
    return result


def _first(column: Any) -> Any:
    return select(column).where(column.is_not(None)).order_by(column).limit(1).scalar_subquery()


async def earliest_due(conn: AsyncConnection) -> datetime | None:
    """The earliest ladder slot, delivery, update or summary due, in one round trip: four
    steps into the four partial indexes, whatever the size of the history."""
    row = (
        await conn.execute(
            select(
                _first(Conversation.next_nudge_at),
                _first(Nudge.next_attempt_at),
                _first(Nudge.update_next_at),
                _first(NudgeSummary.next_attempt_at),
            )
        )
    ).one()
    times = [t for t in row if t is not None]
    return min(times) if times else None


async def waiting_ids(session: AsyncSession, after: int, limit: int) -> list[int]:
    c = Conversation
    stmt = (
        select(c.id).where(c.waiting_since.is_not(None), c.id > after).order_by(c.id).limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def pending_ids(session: AsyncSession, conversation_ids: Sequence[int]) -> list[int]:
    n = Nudge
    out: list[int] = []
    for part in chunks(conversation_ids, LADDER_CHUNK):
        result = await session.scalars(
            select(n.id).where(n.conversation_id.in_(part), n.state == State.PENDING)
        )
        out.extend(result.all())
    return out
