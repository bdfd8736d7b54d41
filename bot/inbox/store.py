"""The inbox's write: one transaction per batch that threads, stores, recomputes and plans.

Inside ``db.write()``: messages with a ``ThreadHint`` get their thread (bot.domain.threading,
reading the store with their chats locked), new conversations are created with their state,
existing ones get the messages new to them and are recomputed, and the nudge planner
(``Planning``, handed in by the composition root) is called directly for what changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.conversation import DEFAULT_CLOSING_WORDS, ConversationState, compute_state
from bot.domain.events import InboundMessage, Kind, MessageFact
from bot.domain.merge import fold, stored
from bot.domain.reply_window import due_within_window, window_closes_at
from bot.inbox.threads import thread_hinted
from storage.db import Database
from storage.ingest_repo import (
    PeriodRow,
    conversation_sources,
    create_conversations,
    find_conversations,
    insert_periods,
    load_facts,
    save_states,
)
from storage.messages_repo import existing_message_ids, insert_facts, upsert_messages

DueFn = Callable[[str, datetime], datetime | None]
_LAST_TEXT = 500


class Planning(Protocol):
    """The nudge planner's part the inbox calls, in the transaction that stored the batch."""

    def first_nudge(self, source: str, waiting_since: datetime, due: datetime) -> datetime | None:
        """``next_nudge_at`` of a conversation just created (no nudges, actions or claims)."""
        ...

    async def changed(
        self, session: AsyncSession, ids: Sequence[int], planned: Sequence[datetime]
    ) -> None:
        """Conversations ``ids`` were recomputed from the store; ``planned``: first-nudge
        times of those just created. Cancels/updates nudges, moves ``next_nudge_at``."""
        ...


class NoPlanning:
    """No nudges (tests of the store alone): the first nudge is the due time, as written."""

    def first_nudge(self, source: str, waiting_since: datetime, due: datetime) -> datetime | None:
        return due

    async def changed(
        self, session: AsyncSession, ids: Sequence[int], planned: Sequence[datetime]
    ) -> None:
        return None


class HistoryPlanning:
    """An import's history: conversations it creates get no first nudge (a running ``run``
    must not nudge them while they are read); changes to existing ones are planned."""

    def __init__(self, planning: Planning) -> None:
        self.planning = planning

    def first_nudge(self, source: str, waiting_since: datetime, due: datetime) -> datetime | None:
        return None

    async def changed(
        self, session: AsyncSession, ids: Sequence[int], planned: Sequence[datetime]
    ) -> None:
        await self.planning.changed(session, ids, planned)


def _no_due(_source: str, _since: datetime) -> datetime | None:
    return None


def _no_window(_source: str) -> timedelta | None:
    return None


@dataclass(frozen=True)
class Rules:
    """What recomputing a conversation needs from the config (``bot.app.build_rules``)."""

    closing_words: tuple[str, ...] = DEFAULT_CLOSING_WORDS
    due_at: DueFn = field(default=_no_due)
    # source -> its platform's reply window (the registry's ``reply_window``; WhatsApp: 24 h
    # after the customer's last message), which caps the current period's due time.
    reply_window_of: Callable[[str], timedelta | None] = field(default=_no_window)


@dataclass(frozen=True)
class IngestResult:
    received: int
    conversations: tuple[int, ...]


def thread_key(channel: str, thread: str) -> str:
    return f"{channel}\x1f{thread}" if channel else thread


def _message_row(m: InboundMessage, conversation_id: int) -> dict[str, object]:
    """A delivery as it arrived (the store applies edits and deletions by ``kind``)."""
    return {
        "source": m.source,
        "message_id": m.message_id,
        "conversation_id": conversation_id,
        "at": m.at,
        "author_id": m.author.id,
        "author_name": m.author.name,
        "person": m.person,
        "is_team": m.is_team,
        "text": m.text,
        "url": m.url,
        "deleted": False,
        "edited_at": m.edited_at,
        "kind": m.kind,
    }


def conversation_row(cid: int, state: ConversationState, due: datetime | None) -> dict[str, object]:
    """The stored state of a conversation (``version`` is bumped by the write itself)."""
    period = state.current_period
    row: dict[str, object] = {
        "id": cid,
        "started_at": state.started_at,
        "waiting_since": state.waiting_since,
        "waiting_message_id": period.first_message_id if period else None,
        "due_at": due,
        # Where no nudge went out yet, the ladder's first slot is the due time; the planner
        # moves it otherwise (new conversations: Planning.first_nudge).
        "next_nudge_at": due,
        "last_message_at": state.last_message_at,
        "last_text": state.last_text[:_LAST_TEXT],
        "url": state.url,
        "first_response_at": state.first_response_at,
        "first_responder": state.first_responder,
        "customer_id": state.customer_id,
        "customer_name": state.customer_name,
        "customer_messages": state.customer_messages,
        "team_messages": state.team_messages,
    }
    return row


def _period_rows(
    cid: int, source: str, state: ConversationState, rules: Rules
) -> tuple[list[PeriodRow], datetime | None]:
    rows = [
        PeriodRow(p.started_at, p.ended_at, p.end_reason, p.answered_by,
                  rules.due_at(source, p.started_at))
        for p in state.periods
    ]  # fmt: skip
    due = rows[-1].due_at if state.waiting_since and rows else None
    if due is not None:
        # While waiting, the newest message is the customer's: the window runs from it.
        closes = window_closes_at(rules.reply_window_of(source), state.last_message_at)
        capped = due_within_window(due, closes)
        if capped != due:
            rows[-1] = replace(rows[-1], due_at=capped)
            due = capped
    return rows, due


async def _recompute(
    session: AsyncSession,
    ids: Sequence[int],
    rules: Rules,
    sources: Mapping[int, str] | None = None,
    created: Sequence[tuple[int, str, PeriodRow]] = (),
) -> None:
    """Recompute ``ids`` from the store and write them, with the waiting periods of the
    conversations just ``created`` (one insert for both). ``sources``: each id's source,
    when the caller knows it."""
    if not ids:
        await insert_periods(session, created)
        return
    facts, actions = await load_facts(session, ids)
    if sources is None:
        sources = await conversation_sources(session, ids)
    rows: list[dict[str, object]] = []
    periods: dict[int, list[PeriodRow]] = {}
    for cid in ids:
        state = compute_state(facts.get(cid, ()), actions.get(cid, ()), rules.closing_words)
        period_rows, due = _period_rows(cid, sources[cid], state, rules)
        rows.append(conversation_row(cid, state, due))
        periods[cid] = period_rows
    await save_states(session, rows, periods, sources, created)


async def recompute(
    session: AsyncSession, ids: Sequence[int], rules: Rules, planning: Planning
) -> None:
    """Recompute conversations ``ids`` inside the caller's write transaction, and plan."""
    await _recompute(session, ids, rules)
    if ids:
        await planning.changed(session, ids, ())


async def store(
    db: Database, messages: Sequence[InboundMessage], rules: Rules, planning: Planning
) -> IngestResult:
    """Store messages idempotently and bring every touched conversation up to date.

    Conversations that did not exist are computed from the batch alone and written once,
    with their state. Existing ones get only the messages that are new to them, and are
    recomputed from the store when something changed: a pure redelivery writes nothing.
    """
    if not messages:
        return IngestResult(0, ())
    async with db.write() as session:
        if any(m.hint is not None for m in messages):
            messages = await thread_hinted(session, messages, lock=not db.is_sqlite)
        touched = await _write(session, messages, rules, planning)
    return IngestResult(len(messages), tuple(touched))


async def _write(
    session: AsyncSession, messages: Sequence[InboundMessage], rules: Rules, planning: Planning
) -> list[int]:
    threads: dict[tuple[str, str], list[InboundMessage]] = defaultdict(list)
    for m in messages:
        threads[(m.source, thread_key(m.channel, m.thread))].append(m)
    ids = await find_conversations(session, list(threads))
    for k in [k for k in threads if k not in ids and all(m.joins_only for m in threads[k])]:
        del threads[k]  # only joins, and there is nothing to join: not ours
    fresh = [k for k in threads if k not in ids]
    facts = {k: fold(threads[k]) for k in fresh}
    states = {k: compute_state(facts[k], (), rules.closing_words) for k in fresh}
    new_rows: list[dict[str, object]] = []
    new_periods: dict[tuple[str, str], list[PeriodRow]] = {}
    firsts: dict[tuple[str, str], datetime] = {}
    for k in fresh:
        first = threads[k][0]
        period_rows, due = _period_rows(0, k[0], states[k], rules)
        row = conversation_row(0, states[k], due)
        del row["id"]
        since = states[k].waiting_since
        if since is not None and due is not None:
            # A new conversation has no nudges, actions or claims: its next_nudge_at is a
            # function of its source and due time, written with the row; the planner then
            # only hears the time (to wake the scheduler), not reading back what was written.
            row["next_nudge_at"] = nxt = planning.first_nudge(k[0], since, due)
            if nxt is not None:
                firsts[k] = nxt
        row.update(source=k[0], thread_key=k[1], platform=first.platform,
                   channel=first.channel, thread=first.thread, version=1)  # fmt: skip
        new_rows.append(row)
        new_periods[k] = period_rows
    created = await create_conversations(session, new_rows)
    lost = [k for k in fresh if k not in created]  # created concurrently by another writer
    if lost:
        ids.update(await find_conversations(session, lost))
    # One insert for the messages of the conversations just created and the new plain
    # messages of existing ones; then one recompute write, with the new periods.
    new_facts = [(cid, k[0], f) for k, cid in created.items() for f in facts[k]]
    changed = await _store_into_existing(session, threads, ids, new_facts)
    sources = {cid: k[0] for k, cid in ids.items()}
    periods = [(cid, k[0], p) for k, cid in created.items() for p in new_periods[k]]
    await _recompute(session, sorted(changed), rules, sources, periods)
    planned = [t for k, t in firsts.items() if k in created]
    await planning.changed(session, sorted(changed), planned)
    return sorted({*ids.values(), *created.values()})


async def _store_into_existing(
    session: AsyncSession,
    threads: dict[tuple[str, str], list[InboundMessage]],
    ids: dict[tuple[str, str], int],
    new_facts: list[tuple[int, str, MessageFact]],
) -> set[int]:
    """Write the batch's messages of existing conversations, with ``new_facts`` (those of
    conversations just created); returns the existing conversations that changed."""
    plain: list[tuple[InboundMessage, int]] = []
    others: list[dict[str, object]] = []
    for k, cid in ids.items():
        for m in threads[k]:
            if m.kind is Kind.MESSAGE:
                plain.append((m, cid))
            else:
                others.append(_message_row(m, cid))
    changed: set[int] = set()
    known = await existing_message_ids(session, [(m.source, m.message_id) for m, _ in plain])
    new: dict[tuple[str, str], tuple[int, str, MessageFact]] = {}
    for m, cid in plain:
        key = (m.source, m.message_id)
        if key not in known and key not in new:
            new[key] = (cid, m.source, stored(m, edited_at=m.edited_at))
    await insert_facts(session, [*new_facts, *new.values()])
    changed.update(cid for cid, _, _ in new.values())
    if others:
        changed |= await upsert_messages(session, others)
    return changed
