"""Ingest use case: store a batch of inbound messages and recompute what they touched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.conversation import DEFAULT_CLOSING_WORDS, ConversationState, compute_state
from bot.domain.events import InboundMessage, MessageFact
from storage.db import Database
from storage.ingest_repo import (
    ConversationKey,
    PeriodRow,
    conversation_meta,
    ensure_conversations,
    load_facts,
    save_states,
    upsert_messages,
)

DueFn = Callable[[str, datetime], datetime | None]
RecomputeHook = Callable[[AsyncSession, Sequence[int]], Awaitable[None]]
_LAST_TEXT = 500


def _no_due(_source: str, _since: datetime) -> datetime | None:
    return None


@dataclass(frozen=True)
class Rules:
    """What recomputing a conversation needs from the config, handed in by the wiring."""

    closing_words: tuple[str, ...] = DEFAULT_CLOSING_WORDS
    due_at: DueFn = field(default=_no_due)
    # Called in the same transaction after conversations were recomputed: the nudge engine
    # cancels/updates nudges and moves next_nudge_at (bot.services.nudge_engine).
    after_recompute: RecomputeHook | None = None


@dataclass(frozen=True)
class IngestResult:
    received: int
    conversations: tuple[int, ...]


def thread_key(channel: str, thread: str) -> str:
    return f"{channel}\x1f{thread}" if channel else thread


def _message_row(m: InboundMessage, conversation_id: int) -> dict[str, object]:
    return {
        "kind": m.kind,
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
    }


def conversation_row(
    cid: int,
    version: int,
    state: ConversationState,
    facts: Sequence[MessageFact],
    due: datetime | None,
) -> dict[str, object]:
    ordered = sorted(facts, key=lambda f: (f.at, f.message_id))
    live = [f for f in ordered if not f.deleted]
    period = state.current_period
    row: dict[str, object] = {
        "id": cid,
        "started_at": state.started_at,
        "waiting_since": state.waiting_since,
        "waiting_message_id": period.first_message_id if period else None,
        "due_at": due,
        "last_message_at": state.last_message_at,
        "last_text": live[-1].text[:_LAST_TEXT] if live else "",
        "first_response_at": state.first_response_at,
        "first_responder": state.first_responder,
        "customer_id": state.customer_id,
        "customer_name": state.customer_name,
        "customer_messages": state.customer_messages,
        "team_messages": state.team_messages,
        "version": version + 1,
    }
    # The thread's link is its first message's, whatever message happened to arrive first.
    urls = [f.url for f in live if f.url] or [f.url for f in ordered if f.url]
    if urls:
        row["url"] = urls[0]
    return row


async def recompute(db_session: AsyncSession, ids: Sequence[int], rules: Rules) -> None:
    """Recompute conversations ``ids`` inside the caller's write transaction."""
    if not ids:
        return
    facts, actions = await load_facts(db_session, ids)
    meta = await conversation_meta(db_session, ids)
    rows: list[dict[str, object]] = []
    periods: dict[int, list[PeriodRow]] = {}
    sources: dict[int, str] = {}
    for cid in ids:
        source, version, _claimed = meta[cid]
        state = compute_state(facts.get(cid, ()), actions.get(cid, ()), rules.closing_words)
        period_rows = [
            PeriodRow(p.started_at, p.ended_at, p.end_reason, p.answered_by,
                      rules.due_at(source, p.started_at))
            for p in state.periods
        ]
        due = period_rows[-1].due_at if state.waiting_since and period_rows else None
        rows.append(conversation_row(cid, version, state, facts.get(cid, ()), due))
        periods[cid] = period_rows
        sources[cid] = source
    await save_states(db_session, rows, periods, sources)
    if rules.after_recompute is not None:
        await rules.after_recompute(db_session, ids)


async def ingest(db: Database, messages: Sequence[InboundMessage], rules: Rules) -> IngestResult:
    """Store messages idempotently and bring every touched conversation up to date."""
    if not messages:
        return IngestResult(0, ())
    async with db.write() as session:
        keys = [
            ConversationKey(m.source, thread_key(m.channel, m.thread), m.platform, m.channel,
                            m.thread, m.url)
            for m in messages
        ]
        ids = await ensure_conversations(session, keys)
        rows = [
            _message_row(m, ids[(m.source, thread_key(m.channel, m.thread))]) for m in messages
        ]
        changed = await upsert_messages(session, rows)
        touched = sorted(set(ids.values()))
        # Only conversations whose messages changed: a redelivery rewrites nothing.
        await recompute(session, sorted(changed), rules)
    return IngestResult(len(messages), tuple(touched))

