"""Planning: turn due ladder slots into outbox rows, and keep the ladder in step with the
conversation when it changes (answered, claimed, snoozed, not needed, config changed).

All of it runs inside the caller's write transaction, on conversations the transaction has
locked (PostgreSQL ``FOR UPDATE SKIP LOCKED`` in the planner, the recompute's own UPDATE in
ingest and actions), so two replicas never plan the same conversation at once; the outbox's
UNIQUE step key is the backstop.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import ladder
from bot.domain.ladder_inputs import Planned, Track
from bot.domain.ports import NudgeUpdate
from bot.domain.ports import Outcome as OutcomeKind
from bot.services.nudge_settings import NudgeSettings
from storage import nudges_repo as repo
from storage import summaries_repo as summaries
from storage.nudges_repo import HistoryRow, LadderConversation
from storage.outbox_repo import State
from storage.summaries_repo import BATCHED


def _planned(row: HistoryRow) -> Planned:
    return Planned(
        track=Track(row.track),
        seq=row.seq,
        recipient=row.recipient_key,
        slot_at=row.slot_at,
        not_before=row.not_before,
        created_at=row.created_at,
        live=row.state != State.CANCELLED,
        placeholder=row.state == State.SKIPPED,
    )


@dataclass(frozen=True)
class Refreshed:
    nexts: dict[int, datetime | None]  # conversations whose next_nudge_at changed
    settled: int  # rows cancelled or owed an update

    def wake_at(self, now: datetime) -> datetime | None:
        """When the scheduler should look next because of this change."""
        times = [t for t in self.nexts.values() if t is not None]
        if self.settled:
            times.append(now)
        return min(times) if times else None


class Planner:
    def __init__(self, settings: NudgeSettings) -> None:
        self.settings = settings

    async def _inputs(
        self, session: AsyncSession, ids: Sequence[int]
    ) -> tuple[dict[int, LadderConversation], dict[int, repo.ActionTimes], dict[Any, Any]]:
        convs = await repo.ladder_conversations(session, ids)
        waiting = [c for c in convs.values() if c.waiting_since is not None]
        times = await repo.action_times(session, [c.id for c in waiting])
        keys = [(c.id, c.waiting_since) for c in waiting if c.waiting_since is not None]
        hist = await repo.history(session, keys)
        return convs, times, hist

    def _period(
        self, conv: LadderConversation, times: repo.ActionTimes | None
    ) -> ladder.PeriodFacts | None:
        if conv.waiting_since is None or conv.due_at is None or conv.is_history:
            return None  # history (an imported wait) is summarised, not nudged one by one
        return ladder.PeriodFacts(
            started_at=conv.waiting_since,
            due_at=conv.due_at,
            claimed_by=conv.claimed_by,
            claimed_at=times.claimed_at if times else None,
            snoozed_until=conv.snoozed_until,
            snoozed_at=times.snoozed_at if times else None,
        )

    async def plan(self, session: AsyncSession, ids: Sequence[int], now: datetime) -> int:
        """Write every slot due at ``now`` for ``ids`` and move their ``next_nudge_at``."""
        convs, times, hist = await self._inputs(session, ids)
        rows: list[dict[str, Any]] = []
        nexts: dict[int, datetime | None] = {}
        for cid in ids:
            conv = convs.get(cid)
            if conv is None:
                continue
            policy = self.settings.ladder(conv.source)
            period = self._period(conv, times.get(cid))
            if policy is None or period is None:
                nexts[cid] = None
                continue
            history = [_planned(h) for h in hist.get((cid, period.started_at), ())]
            people = self.settings.people(conv.source, conv.claimed_by)
            result = ladder.plan(policy, period, history, people, now)
            for slot in result.slots:
                rows.extend(self._rows(cid, period.started_at, slot, now))
            nexts[cid] = result.next_at
        await repo.insert_nudges(session, rows)
        await repo.set_next_nudge(session, nexts)
        return len(rows)

    def _rows(
        self, cid: int, period_start: datetime, slot: ladder.Slot, now: datetime
    ) -> list[dict[str, Any]]:
        out = []
        for d in slot.deliveries:
            recipient = None if d.placeholder else self.settings.recipient(d.target.key)
            if d.placeholder:
                state, error = State.SKIPPED, "merged into an earlier nudge still waiting"
                if d.target.key == ladder.NOBODY:
                    error = "nobody left to escalate to"
            elif recipient is None:
                state = State.FAILED
                error = f"{d.target.key} has no Slack or Telegram address to notify"
            else:
                state, error = State.PENDING, ""
            out.append(
                {
                    "conversation_id": cid,
                    "period_start": period_start,
                    "track": slot.track.value,
                    "seq": slot.seq,
                    "recipient_key": d.target.key,
                    "step": d.step.value,
                    "recipient_person": d.target.person,
                    "recipient_platform": recipient.platform if recipient else "",
                    "recipient_address": recipient.address if recipient else "",
                    "slot_at": slot.at,
                    "not_before": d.not_before,
                    "created_at": now,
                    "state": state,
                    "attempts": 0,
                    "next_attempt_at": d.not_before if state == State.PENDING else None,
                    "last_error": error,
                    "update_version": 0,
                    "update_attempts": 0,
                }
            )
        return out

    def first_nudge(self, source: str, waiting_since: datetime, due: datetime) -> datetime | None:
        """``next_nudge_at`` of a conversation that has no nudges, actions or claim yet: what
        ``refresh`` would compute for it, without reading it back."""
        policy = self.settings.ladder(source)
        if policy is None:
            return None
        return ladder.next_at(policy, ladder.PeriodFacts(waiting_since, due), [])

    async def refresh(self, session: AsyncSession, ids: Sequence[int], now: datetime) -> Refreshed:
        """Settle rows of periods that ended or moved, then recompute ``next_nudge_at``.

        Runs after every recompute (ingest, "not needed") and every action. Says what changed
        so that the caller can wake the scheduler once the transaction commits.
        """
        settled = await self._settle(session, ids, now)
        convs, times, hist = await self._inputs(session, ids)
        nexts: dict[int, datetime | None] = {}
        for cid, conv in convs.items():
            policy = self.settings.ladder(conv.source)
            period = self._period(conv, times.get(cid))
            value = None
            if policy is not None and period is not None:
                history = [_planned(h) for h in hist.get((cid, period.started_at), ())]
                value = ladder.next_at(policy, period, history)
            if value != conv.next_nudge_at:
                nexts[cid] = value
        await repo.set_next_nudge(session, nexts)
        settled += await self._history_moved(session, convs.values(), now)
        return Refreshed(nexts, settled)

    async def _history_moved(
        self, session: AsyncSession, convs: Iterable[LadderConversation], now: datetime
    ) -> int:
        """An imported wait that ended (or was replaced by a new one) no longer counts in the
        summaries of the people it concerned: owe those an edit, once."""
        ended = [c for c in convs if c.imported_wait is not None and not c.is_history]
        if not ended:
            return 0
        lanes: set[tuple[str, str]] = set()
        for conv in ended:
            route = self.settings.routing.route(conv.source, conv.claimed_by, now)
            for person in {*route.people, *self.settings.routing.owners}:
                recipient = self.settings.recipient(f"person:{person}")
                if recipient is not None:
                    lanes.add((recipient.platform, recipient.address))
        await repo.forget_imported(session, [c.id for c in ended])
        # Summary rows after conversation rows: the lock order of every writer.
        return await summaries.touch_lanes(session, lanes, now)

    async def _settle(self, session: AsyncSession, ids: Sequence[int], now: datetime) -> int:
        rows = await repo.unsettled(session, ids)
        if not rows:
            return 0
        convs = await repo.ladder_conversations(session, sorted({r.conversation_id for r in rows}))
        stale: dict[tuple[int, datetime], list[HistoryRow]] = defaultdict(list)
        for r in rows:
            conv = convs.get(r.conversation_id)
            if conv is not None and r.period_start != conv.waiting_since:
                stale[(r.conversation_id, r.period_start)].append(r)
        if not stale:
            return 0
        settled = 0
        ended = await repo.ended_periods(session, stale)
        for (cid, start), group in sorted(stale.items()):
            period = ended.get((cid, start))
            if period is None:
                current = convs[cid].waiting_since
                if current is not None and await repo.rekey_period(session, cid, start, current):
                    continue  # an earlier message arrived late: the same wait, re-keyed
                outcome = NudgeUpdate(OutcomeKind.NOT_NEEDED, None, now)
            else:
                kind = (
                    OutcomeKind.ANSWERED if period.end_reason == "reply" else OutcomeKind.NOT_NEEDED
                )
                after = int((period.ended_at - period.started_at).total_seconds())
                outcome = NudgeUpdate(kind, period.answered_by, period.ended_at, after)
            await settle_rows(session, group, outcome, now, tracks=None)
            settled += len(group)
        return settled


async def settle_rows(
    session: AsyncSession,
    rows: Sequence[HistoryRow],
    outcome: NudgeUpdate,
    now: datetime,
    *,
    tracks: tuple[Track, ...] | None,
) -> None:
    """Cancel what has not gone out (on ``tracks``, all when None); owe an update to the rest."""
    pending = [
        r.id
        for r in rows
        if r.state == State.PENDING and (tracks is None or Track(r.track) in tracks)
    ]
    delivered = [r.id for r in rows if r.state in (State.SENDING, State.SENT)]
    batched = [r.id for r in rows if r.state == BATCHED]
    await repo.cancel(session, pending, f"{outcome.outcome} by {outcome.by or 'nobody'}")
    await repo.flag_outcome(session, delivered, outcome, now)
    if batched:  # their summary message shows the change: an edit in place
        await repo.flag_batched(session, batched, outcome, now)
