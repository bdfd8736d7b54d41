"""No floods: which claimed nudges go out alone and which go into the recipient's summary.

Runs inside the deliverer's claim transaction, on the rows it just claimed, with each
recipient's summary row locked (storage.summaries_repo), so replicas claiming the same burst in
parallel decide one after the other and see each other's claims as in flight.

Per recipient, with that person's ``nudges:`` limits:

* a summary window is open (``window_until``) → into the summary (an edit, no new message);
* more than ``batch_after`` would reach them within ``batch_window`` — sent lately, in
  flight, claimed now and due before the window ends — or two or more claimed nudges are
  overdue by more than the window (catch-up after downtime) → into a new summary, and the
  window opens; every other nudge of theirs due now joins it in the same statement;
* otherwise alone, as long as ``max_messages_per_hour`` allows; the rest are held back into
  the summary, which goes out when the hour has room and says how many were held.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.summary import SummaryReason
from bot.services.nudge_settings import NudgeSettings
from storage import summaries_repo as summaries
from storage.outbox_repo import Claimed, Lane, lane

log = logging.getLogger("nudgebot.delivery")


class Batcher:
    def __init__(self, settings: NudgeSettings) -> None:
        self.settings = settings

    async def route(
        self, session: AsyncSession, rows: Sequence[Claimed], now: datetime
    ) -> list[Claimed]:
        """The rows to send one by one; the others are batched (in this transaction)."""
        if not rows:
            return []
        by_lane: dict[Lane, list[Claimed]] = defaultdict(list)
        for c in rows:
            by_lane[lane(c)].append(c)
        keep: list[Claimed] = []
        for key in sorted(by_lane):  # (platform, address) order: the summaries' lock order
            group = by_lane[key]
            limits = self.settings.config.nudge_limits(group[0].recipient_person)
            summary, counts = await summaries.lock_and_count(
                session, key, group[0].recipient_person, now,
                (limits.batch_after, limits.batch_window, limits.max_messages_per_hour),
                [c.id for c in group],
            )  # fmt: skip
            keep.extend(await self._decide(session, key, group, summary, counts, now))
        return sorted(keep, key=lambda c: (c.not_before, c.id))

    async def _decide(
        self,
        session: AsyncSession,
        key: Lane,
        group: list[Claimed],
        summary: summaries.LaneSummary,
        counts: summaries.LaneCounts,
        now: datetime,
    ) -> list[Claimed]:
        limits = self.settings.config.nudge_limits(group[0].recipient_person)
        window = limits.batch_window
        ids = [c.id for c in group]
        if summary.window_until is not None and now < summary.window_until:
            await summaries.batch_rows(session, ids, now, "in a summary message")
            swept = await summaries.sweep_lane(session, key, now, "in a summary message")
            await summaries.touch(session, summary.id, now + summaries.EDIT_DELAY)
            log.debug("%d nudge(s) to %s into the open summary", len(ids) + swept, key)
            return []
        overdue = [c for c in group if c.attempt == 1 and c.not_before < now - window]
        burst = counts.recent + len(group) + counts.upcoming > limits.batch_after
        if burst or len(overdue) >= 2:
            reason = SummaryReason.BATCH if burst else SummaryReason.CATCH_UP
            await summaries.batch_rows(session, ids, now, "in a summary message")
            swept = await summaries.sweep_lane(session, key, now, "in a summary message")
            at = now
            if counts.last_hour >= limits.max_messages_per_hour and counts.free_at is not None:
                at = max(now, counts.free_at)
            await summaries.touch(session, summary.id, at, post=True, reason=reason.value,
                                  window_until=now + window)  # fmt: skip
            log.info("%d nudges to %s:%s batched into one summary (%s)",
                     len(ids) + swept, key[0], key[1], reason.value)  # fmt: skip
            return []
        room = max(0, limits.max_messages_per_hour - counts.last_hour)
        if room >= len(group):
            return group
        ordered = sorted(group, key=lambda c: (c.not_before, c.id))
        held = [c.id for c in ordered[room:]]
        await summaries.batch_rows(session, held, now, "held back: max_messages_per_hour")
        at = max(now, counts.free_at) if counts.free_at is not None else now
        await summaries.touch(session, summary.id, at, post=True, reason=SummaryReason.CAP.value,
                              held=len(held))  # fmt: skip
        log.warning("%s:%s reached max_messages_per_hour (%d): %d nudge(s) held back",
                    key[0], key[1], limits.max_messages_per_hour, len(held))  # fmt: skip
        return ordered[:room]
