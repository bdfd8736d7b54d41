"""The nudge engine: one object per process that the scheduler ticks and the core calls.

``tick()`` plans due ladder slots into the outbox, delivers due nudges and owed in-place
updates, each in bounded batches, and reads nothing that is not due (three partial indexes).
``act`` backs ``Core.act``; ``reconcile`` re-plans waiting conversations after a (re)start
so that due times, responsibility and pending nudges follow the config as it is now. Built
by the composition root (``bot.app.compose_nudging``) after the inbox, which it records
replies and re-plans through, and the ``NudgeChanges`` the inbox plans ingest with.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.ports import ActionRequest, ActionResult, Messenger, Replier
from bot.inbox.inbox import Inbox
from bot.services.delivery_results import Backoff
from bot.services.nudge_actions import Actions
from bot.services.nudge_changes import NudgeChanges, Wakeup
from bot.services.nudge_deliver import Deliverer
from bot.services.nudge_settings import NudgeSettings
from bot.services.nudge_summaries import SummarySender
from storage import nudges_repo as repo
from storage import outbox_repo as outbox
from storage.db import Database

log = logging.getLogger("nudgebot.engine")
Now = Callable[[], datetime]


@dataclass(frozen=True)
class TickResult:
    planned: int = 0  # conversations looked at by the planner
    delivered: int = 0  # outbox rows claimed for sending
    updated: int = 0  # in-place updates and summary messages claimed
    more: bool = False  # the time budget ran out with work left: tick again at once


@dataclass(frozen=True)
class Limits:
    plan_batch: int = 500
    send_limit: int = 5000  # rows claimed per tick, in small claims as sends finish
    send_batch: int = 200  # in-place updates claimed at once
    budget_seconds: float = 2.0  # then yield to the event loop and tick again
    summary_batch: int = 50  # summary messages claimed at once


@dataclass(frozen=True)
class Delivery:
    """How nudges go out: a messenger per platform, the platforms that can also reply in
    the conversation, and the knobs tests set (``rng`` for jitter, ``backoff``, ``limits``).
    The maps are held, not copied: adapters attached later deliver through them."""

    messengers: Mapping[str, Messenger]
    repliers: Mapping[str, Replier] = field(default_factory=dict)
    rng: random.Random | None = None
    backoff: Backoff | None = None
    limits: Limits = Limits()


class NudgeEngine:
    def __init__(
        self,
        db: Database,
        settings: NudgeSettings,
        inbox: Inbox,
        changes: NudgeChanges,
        now: Now,
        delivery: Delivery,
    ) -> None:
        self.db = db
        self.settings = settings
        self.now = now
        self.limits = delivery.limits
        self.inbox = inbox
        self.changes = changes
        replying = delivery.repliers
        self.planner = changes.planner
        self.deliverer = Deliverer(
            db, settings, delivery.messengers, now, can_reply=lambda p: p in replying,
            rng=delivery.rng, backoff=delivery.backoff,
        )  # fmt: skip
        self.summaries = SummarySender(
            db, settings, delivery.messengers, now, can_reply=lambda p: p in replying,
            rng=delivery.rng, backoff=delivery.backoff,
        )  # fmt: skip
        self.actions = Actions(db, settings, self.planner, inbox, replying, now, changes.woken)

    @property
    def wakeup(self) -> Wakeup:
        """Where due times go (``NudgeChanges``'); the scheduler built for this engine binds it."""
        return self.changes.wakeup

    # --- the tick ---------------------------------------------------------------------------

    async def tick(self) -> TickResult:
        started = time.monotonic()

        def spent() -> bool:
            return time.monotonic() - started > self.limits.budget_seconds

        due = await self.next_due()
        if due is None or due > self.now():
            return TickResult()
        planned = delivered = updated = 0
        while not spent():
            async with self.db.write() as session:
                now = self.now()
                ids = await repo.claim_due_conversations(session, now, self.limits.plan_batch)
                if ids:
                    await self.planner.plan(session, ids, now)
            planned += len(ids)
            if len(ids) < self.limits.plan_batch:
                break
        if not spent():
            delivered = await self.deliverer.deliver(
                self.limits.send_limit, started + self.limits.budget_seconds
            )
        while not spent():
            n = await self.deliverer.update(self.limits.send_batch)
            updated += n
            if n < self.limits.send_batch:
                break
        while not spent():
            n = await self.summaries.run(self.limits.summary_batch)
            updated += n
            if n < self.limits.summary_batch:
                break
        more = spent() or delivered >= self.limits.send_limit
        return TickResult(planned, delivered, updated, more=more)

    async def next_due(self) -> datetime | None:
        """The earliest moment anything is due: a ladder slot, a delivery, an update."""
        async with self.db.engine.connect() as conn:  # no ORM session: this runs every tick
            return await repo.earliest_due(conn)

    # --- reacting to changes ----------------------------------------------------------------

    async def act(self, request: ActionRequest) -> ActionResult:
        return await self.actions.act(request)

    async def void_stale_claims(self) -> int:
        """SQLite, at start: every claim in the file was made by a process that is gone (one
        process per file), so its rows are due now instead of after their lease. PostgreSQL
        replicas' claims may be live; there a dead replica's leases simply run out."""
        if not self.db.is_sqlite:
            return 0
        async with self.db.write() as session:
            freed = await outbox.void_claims(session, self.now())
        if freed:
            log.info("%d nudge(s) claimed by a process that is gone: due again now", freed)
        return freed

    async def reconcile(self, batch: int = 500) -> int:
        """Re-plan every waiting conversation under the current config: due times are
        recomputed, nudges not yet sent are cancelled and planned again (new owner, rotation,
        hours or ladder), sent ones stay. Returns how many conversations were looked at."""
        after, total = 0, 0
        while True:
            async with self.db.write() as session:
                ids = await repo.waiting_ids(session, after, batch)
                if not ids:
                    break
                pending = await repo.pending_ids(session, ids)
                await repo.cancel(session, pending, "re-planned at start (config may differ)")
                await self.inbox.recompute(session, ids)
            after, total = ids[-1], total + len(ids)
        if total:
            log.info("re-planned %d waiting conversations under the current config", total)
        self.wakeup(self.now())
        return total
