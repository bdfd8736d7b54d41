"""The outbox's second duty: editing a delivered nudge in place when its conversation's
outcome changes (answered, claimed, snoozed, not needed). Rows are claimed with the same
lease-and-attempt scheme as deliveries (``storage.outbox_repo``), on their own columns
(``update_state``, ``update_attempts``, ``update_version``), so an edit and a delivery of
the same row never contend. Edits are renewed like deliveries (``renew_updates``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Nudge
from storage.outbox_repo import LEASE, Held, State, UpdateState, claimable, rowcount


@dataclass(frozen=True)
class ClaimedUpdate:
    id: int
    attempt: int
    version: int
    conversation_id: int
    period_start: datetime
    step: str
    recipient_person: str | None
    recipient_platform: str
    recipient_address: str
    platform_ref: str
    not_before: datetime
    outcome: str
    outcome_by: str | None
    outcome_at: datetime
    outcome_after: int | None
    outcome_until: datetime | None


async def claim_updates(
    session: AsyncSession, now: datetime, limit: int, lease: timedelta = LEASE
) -> list[ClaimedUpdate]:
    n = Nudge
    due = (
        select(n.id)
        .where(
            n.update_next_at <= now,
            n.state == State.SENT,
            n.update_state.in_((UpdateState.PENDING, UpdateState.SENDING)),
        )
        .order_by(n.update_next_at)
        .limit(limit)
    )
    stmt = (
        update(n)
        .where(claimable(session, due))
        .values(
            update_state=UpdateState.SENDING,
            update_attempts=n.update_attempts + 1,
            update_next_at=now + lease,
        )
        .returning(
            n.id,
            n.update_attempts,
            n.update_version,
            n.conversation_id,
            n.period_start,
            n.step,
            n.recipient_person,
            n.recipient_platform,
            n.recipient_address,
            n.platform_ref,
            n.not_before,
            n.outcome,
            n.outcome_by,
            n.outcome_at,
            n.outcome_after,
            n.outcome_until,
        )
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(stmt)).tuples().all()
    return [ClaimedUpdate(*r) for r in rows if r[9] is not None and r[11] is not None]


async def finish_update(
    session: AsyncSession,
    claimed: ClaimedUpdate,
    now: datetime,
    *,
    retry_at: datetime | None = None,
    error: str = "",
    failed: bool = False,
) -> bool:
    """Done, retry at ``retry_at``, or failed. False when the row changed meanwhile: a newer
    outcome (``flag_outcome`` made it pending again, to go out too) or a lost lease."""
    n = Nudge
    values: dict[str, object]
    if retry_at is not None:
        values = {"update_state": UpdateState.PENDING, "update_next_at": retry_at}
    elif failed:
        values = {"update_state": UpdateState.FAILED, "update_next_at": None}
    else:
        values = {"update_state": UpdateState.DONE, "update_next_at": None, "updated_at": now}
    if error:
        values["last_error"] = error[:2000]
    result = await session.execute(
        update(n)
        .where(
            n.id == claimed.id,
            n.update_version == claimed.version,
            n.update_attempts == claimed.attempt,
            n.update_state == UpdateState.SENDING,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


async def renew_updates(
    session: AsyncSession, held: Sequence[Held], now: datetime, lease: timedelta = LEASE
) -> int:
    """``storage.outbox_repo.renew`` for in-place edits: (id, update attempt) pairs still held."""
    if not held:
        return 0
    n = Nudge
    result = await session.execute(
        update(n)
        .where(
            tuple_(n.id, n.update_attempts).in_(sorted(held)),
            n.update_state == UpdateState.SENDING,
        )
        .values(update_next_at=now + lease)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)
