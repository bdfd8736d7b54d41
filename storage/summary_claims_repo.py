"""Sending summary messages: claim the ones owed a send or an edit under a lease, record what
the platform said (storage.summaries_repo holds the rows and the batching facts).

The claim is ``storage.outbox_repo``'s: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite's write
lock otherwise), ``attempts`` as the lease token, ``next_attempt_at`` as the lease's end, so
replicas post a summary once and a crash only delays it by one lease. ``version`` is bumped
by every change (storage.summaries_repo.touch); a change made while a summary was being sent
leaves it owed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.conversation_queries import WaitingRecord, record_columns
from storage.models import Conversation, Nudge, NudgeSummary, SummaryPost
from storage.outbox_repo import LEASE, claimable, rowcount
from storage.summaries_repo import BATCHED, EDIT_DELAY, Lane, SummaryState, lane_of
from storage.waiting_page_queries import not_in_groups


@dataclass(frozen=True)
class ClaimedSummary:
    id: int
    attempt: int
    version: int
    recipient_platform: str
    recipient_address: str
    recipient_person: str | None
    reason: str
    post_due: bool
    held_back: int
    platform_ref: str | None
    window_until: datetime | None


async def claim(
    session: AsyncSession, now: datetime, limit: int, lease: timedelta = LEASE
) -> list[ClaimedSummary]:
    s = NudgeSummary
    due = (
        select(s.id)
        .where(s.next_attempt_at <= now,
               s.state.in_((SummaryState.PENDING, SummaryState.SENDING)))
        .order_by(s.next_attempt_at)
        .limit(limit)
    )  # fmt: skip
    stmt = (
        update(s)
        .where(claimable(session, due, s.id))
        .values(state=SummaryState.SENDING, attempts=s.attempts + 1, next_attempt_at=now + lease)
        .returning(
            s.id,
            s.attempts,
            s.version,
            s.recipient_platform,
            s.recipient_address,
            s.recipient_person,
            s.reason,
            s.post_due,
            s.held_back,
            s.platform_ref,
            s.window_until,
        )
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).tuples().all()
    return [ClaimedSummary(*r) for r in rows]


async def renew(
    session: AsyncSession, held: Sequence[tuple[int, int]], now: datetime, lease: timedelta = LEASE
) -> int:
    """Extend the lease of summaries still held: (id, attempt) pairs still ``sending`` with
    that attempt (storage.outbox_repo.renew, for summary rows). Returns how many were."""
    if not held:
        return 0
    s = NudgeSummary
    result = await session.execute(
        update(s)
        .where(tuple_(s.id, s.attempts).in_(sorted(held)), s.state == SummaryState.SENDING)
        .values(next_attempt_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


async def finish(
    session: AsyncSession,
    c: ClaimedSummary,
    now: datetime,
    *,
    posted: str | None = None,
    retry_at: datetime | None = None,
    error: str = "",
    failed: bool = False,
    shown: bool = True,
) -> bool:
    """Record a send (``posted``: the new message's ref), an edit (neither), a retry at
    ``retry_at`` or a failure. False when the lease was lost to another replica. ``shown``:
    the message now shows the lane's batched nudges (not so for an edit a plain-text
    messenger could not make)."""
    s = NudgeSummary
    changed = s.version != c.version
    values: dict[str, object]
    if retry_at is not None:
        values = {"state": SummaryState.PENDING, "next_attempt_at": retry_at}
    elif failed:
        values = {
            "state": case((changed, SummaryState.PENDING), else_=SummaryState.FAILED),
            "next_attempt_at": case((changed, now + EDIT_DELAY), else_=None),
        }
    else:
        values = {
            "state": case((changed, SummaryState.PENDING), else_=SummaryState.IDLE),
            "next_attempt_at": case((changed, now + EDIT_DELAY), else_=None),
        }
        if posted is not None:
            values.update(platform_ref=posted, posted_at=now, post_due=False,
                          held_back=s.held_back - c.held_back)  # fmt: skip
    values["last_error"] = error[:2000]
    result = await session.execute(
        update(s)
        .where(s.id == c.id, s.attempts == c.attempt, s.state == SummaryState.SENDING)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    held = rowcount(result) == 1
    if held and shown and not error and not failed and retry_at is None:
        await _summarised(session, c, now)
    if held and posted is not None:
        await session.execute(
            insert(SummaryPost).values(
                recipient_platform=c.recipient_platform,
                recipient_address=c.recipient_address,
                at=now,
            )
        )
    return held


async def _summarised(session: AsyncSession, c: ClaimedSummary, now: datetime) -> None:
    """The lane's batched nudges went out inside this summary: unless it changed while it
    was being sent (then a nudge batched meanwhile may be missing from what was sent, and
    the send owed again marks them), every one not yet marked (``waiting --json`` counts
    them as sent)."""
    n, s = Nudge, NudgeSummary
    unchanged = select(s.id).where(s.id == c.id, s.version == c.version).exists()
    await session.execute(
        update(n)
        .where(*lane_of((c.recipient_platform, c.recipient_address)), n.state == BATCHED,
               n.summarised_at.is_(None), unchanged)
        .values(summarised_at=now)
        .execution_options(synchronize_session=False)
    )  # fmt: skip


async def batched_nudges(
    session: AsyncSession, lane: Lane, conversation_ids: Sequence[int]
) -> dict[int, int]:
    """Conversation → latest batched nudge of ``lane`` whose wait is still on, for these
    conversations (the few a summary lists; uq_nudges_step serves it)."""
    if not conversation_ids:
        return {}
    n, c = Nudge, Conversation
    rows = await session.execute(
        select(n.conversation_id, func.max(n.id))
        .join(c, (c.id == n.conversation_id) & (c.waiting_since == n.period_start))
        .where(n.conversation_id.in_(list(conversation_ids)), *lane_of(lane),
               n.state == BATCHED)
        .group_by(n.conversation_id)
    )  # fmt: skip
    return {int(cid): int(nid) for cid, nid in rows.tuples()}


async def escalations(
    session: AsyncSession, lane: Lane, mine: Sequence[tuple[str, str | None]], limit: int
) -> tuple[int, list[WaitingRecord]]:
    """Conversations still waiting with a nudge of ``lane`` batched in their current wait and
    a (source, claimed_by) outside ``mine`` (the groups the recipient is responsible for):
    escalations to them. How many, and the oldest ``limit``. Read from the lane's batched
    nudges (``ix_nudges_lane_batched``, 0014), not from everything waiting."""
    n, c = Nudge, Conversation
    lane_batched = select(n.conversation_id).where(*lane_of(lane), n.state == BATCHED)
    in_this_wait = (
        select(n.id)
        .where(n.conversation_id == c.id, n.period_start == c.waiting_since, *lane_of(lane),
               n.state == BATCHED)
        .correlate(c)
        .exists()
    )  # fmt: skip
    # Driven by the ids (the conversations' primary key), each checked for its current wait.
    where = [c.id.in_(lane_batched), c.waiting_since.is_not(None), in_this_wait,
             not_in_groups(mine)]  # fmt: skip
    count = await session.scalar(select(func.count()).select_from(c).where(*where))
    stmt = select(*record_columns()).where(*where).order_by(c.waiting_since, c.id).limit(limit)
    rows = [WaitingRecord(*row) for row in (await session.execute(stmt)).tuples()]
    return int(count or 0), rows
