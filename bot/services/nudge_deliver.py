"""Delivery: claim due outbox rows, render them, hand them to the recipient's messenger.

Results are recorded one row at a time, as soon as each platform call returns, which keeps
the at-most-once window (see ``storage.outbox_repo``) to a single UPDATE. Transient errors retry
with exponential backoff and jitter; a platform's ``Retry-After`` is honoured as a floor;
``DeliveryError(permanent=True)`` fails the row at once and is logged. Claims are held on
short leases renewed while their call is in flight (``bot.services.leases``); a call is
bounded by ``CALL_TIMEOUT``, not by the lease.

Sends run in per-recipient lanes (``Deliverer.deliver``). A messenger that paces each
recipient itself (Slack: about a message a second per channel) says how many sends one
recipient can usefully have in flight as ``lane_depth`` (Slack: 2, one on the wire and one
waiting for its pace); every finished send is refilled by a claim at once, idle lanes
first. Claiming whole batches instead left every other channel idle while a batch's slowest
(paced, or 429'd) send finished. A messenger without ``lane_depth`` gets no per-lane cap.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

from bot import platforms
from bot.domain.ports import (
    DeliveryError,
    Messenger,
    NudgeUpdate,
    NudgeView,
    Outcome,
    Recipient,
    Step,
    TranscriptLine,
)
from bot.domain.reply_window import window_closes_at
from bot.services.delivery_results import Backoff, GroupCommit
from bot.services.leases import Leases
from bot.services.nudge_batching import Batcher
from bot.services.nudge_settings import NudgeSettings
from storage import outbox_repo as outbox
from storage import outbox_updates_repo as outbox_updates
from storage.db import Database, describe_error, is_unavailable
from storage.nudge_card_queries import Card, Line, cards, transcripts
from storage.outbox_repo import Claimed, Lane, State, lane
from storage.outbox_updates_repo import ClaimedUpdate

log = logging.getLogger("nudgebot.delivery")

TRANSCRIPT_LINES = 5
TRANSCRIPT_CHARS = 300
# A platform call may take this long (pacing, a slow API) before it counts as failed; its
# lease is renewed meanwhile. A timed-out call may still have been delivered, so this is
# generous rather than tight.
CALL_TIMEOUT = 45.0
Now = Callable[[], datetime]


def _trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TRANSCRIPT_CHARS else text[: TRANSCRIPT_CHARS - 1] + "…"


class Deliverer:
    def __init__(
        self,
        db: Database,
        settings: NudgeSettings,
        messengers: Mapping[str, Messenger],
        now: Now,
        *,
        can_reply: Callable[[str], bool] = lambda _platform: False,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        concurrency: int = 64,
        update_concurrency: int = 32,
        call_timeout: float = CALL_TIMEOUT,
    ) -> None:
        self.db = db
        self.settings = settings
        self.messengers = messengers  # looked up per send: adapters may attach after start
        self.now = now
        self.can_reply = can_reply
        self.rng = rng or random.Random()
        self.backoff = backoff or Backoff()
        self.call_timeout = call_timeout
        self.renew_every = outbox.RENEW_EVERY.total_seconds()
        self.concurrency = concurrency
        self._gate = asyncio.Semaphore(update_concurrency)  # in-place updates, unpaced
        self.batcher = Batcher(settings)

    # --- sending ----------------------------------------------------------------------------

    async def deliver(self, limit: int, deadline: float | None = None) -> int:
        """Claim and send due rows — up to ``limit``, until ``deadline`` (monotonic) — as
        per-recipient lanes: at most the messenger's ``lane_depth`` sends in flight to one
        recipient and ``concurrency`` in all. Each finished send frees its lane and is
        refilled by a claim at once, so a slow or rate-limited recipient holds only its own
        lane, never a batch. After the deadline nothing more is claimed and what is in
        flight finishes (each call bounded by ``call_timeout``; a paced lane holds at most
        ``lane_depth`` sends). Returns how many rows were claimed."""
        inflight: dict[asyncio.Task[None], Lane] = {}
        leases = Leases(self.db, self.now, every=self.renew_every)
        async with leases.renewing(), GroupCommit(self.db, leases.release) as results:
            try:
                return await self._pump(limit, deadline, results, inflight, leases)
            finally:
                for task in inflight:  # only when cancelled: a crash, the lease covers it
                    task.cancel()

    async def _pump(
        self,
        limit: int,
        deadline: float | None,
        results: GroupCommit,
        inflight: dict[asyncio.Task[None], Lane],
        leases: Leases,
    ) -> int:
        total = 0
        load: Counter[Lane] = Counter()
        drained = False
        failure: Exception | None = None
        while True:
            # Claim until every lane with due work is full, the budget is spent or nothing
            # else is due; one claim per round trip, however many lanes it fills.
            while not drained and total < limit and len(inflight) < self.concurrency:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                room = min(self.concurrency - len(inflight), limit - total)
                try:
                    got = await self._claim(room, load)
                    for c in got.rows:
                        leases.hold(c.id, c.attempt)
                    views = await self._views(got.rows, self.now(), require_waiting=True)
                except Exception as exc:
                    # The database went away mid-tick: claim nothing more, but let the sends
                    # already on the wire finish and their results land (a cancelled call
                    # may have been delivered, and would go out again). Unsent claims wait
                    # out their lease.
                    if not is_unavailable(exc) or not inflight:
                        raise
                    log.warning("claiming nudges failed (%s); finishing %d in flight",
                                describe_error(exc), len(inflight))  # fmt: skip
                    failure, drained = exc, True
                    break
                drained = got.drained
                total += len(got.rows)
                for c in got.rows:
                    task = asyncio.create_task(self._send(c, views.get(c.id), results))
                    inflight[task] = lane(c)
                    load[lane(c)] += 1
            if not inflight:
                if failure is not None:
                    raise failure
                return total
            done, _ = await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                key = inflight.pop(task)
                if load[key] >= self.lane_depth(key) and failure is None:
                    drained = False  # the last claim left this lane out: it may have more
                load[key] -= 1
                if not load[key]:
                    del load[key]

    async def _claim(self, room: int, load: Counter[Lane]) -> outbox.LaneClaim:
        async with self.db.write() as session:
            now = self.now()
            got = await outbox.claim_for_lanes(session, now, room, load, self.lane_depth)
            # Same transaction: a row batched into a summary is never also sent alone.
            alone = await self.batcher.route(session, got.rows, now)
            if len(alone) == len(got.rows):
                return got
            return outbox.LaneClaim(alone, got.drained)

    def lane_depth(self, key: Lane) -> int:
        """Sends one recipient may have in flight: what its messenger paces for, else any."""
        declared = getattr(self.messengers.get(key[0]), "lane_depth", None)
        return declared if isinstance(declared, int) and declared > 0 else self.concurrency

    async def _guarded(self, job: Awaitable[None]) -> None:
        async with self._gate:
            await job

    async def _send(self, c: Claimed, view: NudgeView | None, results: GroupCommit) -> None:
        if view is None:
            results.put(c.id, lambda s: outbox.mark_failed(
                s, c.id, c.attempt, "conversation moved on", State.CANCELLED
            ))  # fmt: skip
            return
        messenger = self.messengers.get(c.recipient_platform)
        try:
            if messenger is None:
                raise DeliveryError(f"no {c.recipient_platform or 'messenger'} messenger running")
            delivered = await asyncio.wait_for(messenger.send_nudge(view), self.call_timeout)
        except DeliveryError as exc:
            self._failed(c, str(exc), exc.retry_after, exc.permanent, results)
        except Exception as exc:  # a broken adapter must not stop the other nudges
            self._failed(c, f"{exc.__class__.__name__}: {exc}", None, False, results)
        else:
            results.sent(outbox.SentRecord(c.id, c.attempt, delivered.ref, self.now()))

    def _failed(
        self,
        c: Claimed,
        error: str,
        retry_after: float | None,
        permanent: bool,
        results: GroupCommit,
    ) -> None:
        if permanent or c.attempt >= self.backoff.max_attempts:
            why = "permanent" if permanent else f"gave up after {c.attempt} attempts"
            log.error("nudge %s to %s failed (%s): %s", c.id, c.recipient_address, why, error)
            results.put(c.id, lambda s: outbox.mark_failed(s, c.id, c.attempt, error))
            return
        delay = self.backoff.delay(c.attempt, retry_after, self.rng)
        at = self.now() + timedelta(seconds=delay)
        log.warning("nudge %s: %s; retry in %.1fs", c.id, error, delay)
        results.put(c.id, lambda s: outbox.mark_retry(s, c.id, c.attempt, at, error))

    # --- in-place updates -------------------------------------------------------------------

    async def update(self, limit: int) -> int:
        now = self.now()
        async with self.db.write() as session:
            claimed = await outbox_updates.claim_updates(session, now, limit)
        if not claimed:
            return 0
        leases = Leases(self.db, self.now, updates=True, every=self.renew_every)
        for c in claimed:
            leases.hold(c.id, c.attempt)
        async with leases.renewing(), GroupCommit(self.db, leases.release) as results:
            views = await self._views(claimed, now, require_waiting=False)
            await asyncio.gather(
                *(self._guarded(self._edit(c, views.get(c.id), results)) for c in claimed)
            )
        return len(claimed)

    async def _edit(self, c: ClaimedUpdate, view: NudgeView | None, results: GroupCommit) -> None:
        messenger = self.messengers.get(c.recipient_platform)
        update = NudgeUpdate(
            outcome=Outcome(c.outcome),
            by=self.settings.name(c.outcome_by) if c.outcome_by else None,
            at=c.outcome_at,
            after_seconds=c.outcome_after,
            until=c.outcome_until,
        )
        error, retry_after, permanent = "", None, False
        try:
            if view is None:
                raise DeliveryError("conversation is gone", permanent=True)
            if messenger is None:
                raise DeliveryError(f"no {c.recipient_platform} messenger running")
            await asyncio.wait_for(
                messenger.update_nudge(c.platform_ref, view, update), self.call_timeout
            )
        except DeliveryError as exc:
            error, retry_after, permanent = str(exc), exc.retry_after, exc.permanent
        except Exception as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        now = self.now()
        if not error:
            results.put(c.id, lambda s: outbox_updates.finish_update(s, c, now))
        elif permanent or c.attempt >= self.backoff.max_attempts:
            log.error("update of nudge %s failed: %s", c.id, error)
            results.put(
                c.id, lambda s: outbox_updates.finish_update(s, c, now, error=error, failed=True)
            )
        else:
            retry = now + timedelta(seconds=self.backoff.delay(c.attempt, retry_after, self.rng))
            results.put(
                c.id, lambda s: outbox_updates.finish_update(s, c, now, retry_at=retry, error=error)
            )

    # --- rendering --------------------------------------------------------------------------

    async def _views(
        self, rows: Sequence[Claimed | ClaimedUpdate], now: datetime, *, require_waiting: bool
    ) -> dict[int, NudgeView]:
        ids = [r.conversation_id for r in rows]
        async with self.db.read() as session:
            found = await cards(session, ids)
            lines = await transcripts(session, ids, TRANSCRIPT_LINES)
        out: dict[int, NudgeView] = {}
        for r in rows:
            card = found.get(r.conversation_id)
            if card is None:
                continue
            if require_waiting and card.waiting_since != r.period_start:
                continue
            out[r.id] = self.render(r, card, lines.get(r.conversation_id, []), now)
        return out

    def _author(self, line: Line) -> str:
        if line.person:
            return self.settings.name(line.person)
        return line.author_name or line.author_id

    def render(
        self, r: Claimed | ClaimedUpdate, card: Card, lines: Sequence[Line], now: datetime
    ) -> NudgeView:
        route = self.settings.routing.route(card.source, card.claimed_by, now)
        recipient = Recipient(
            r.recipient_platform,
            r.recipient_address,
            r.recipient_person,
            self.settings.timezone(r.recipient_person),
        )
        transcript = tuple(
            TranscriptLine(
                author=self.settings.name(ln.person)
                if ln.person
                else ln.author_name or ln.author_id,
                is_team=ln.is_team,
                at=ln.at,
                text=_trim(ln.text),
            )
            for ln in lines
        )
        return NudgeView(
            nudge_id=r.id,
            conversation_id=card.id,
            step=Step(r.step),
            recipient=recipient,
            source=card.source,
            platform=card.platform,
            channel=card.channel,
            thread=card.thread,
            customer=card.customer_name or card.customer_id or "",
            waiting_since=r.period_start,
            due_at=card.due_at,
            now=now,
            responsible=route.people,
            transcript=transcript,
            url=card.url,
            can_reply=self.can_reply(card.platform),
            reply_window_closes=window_closes_at(
                platforms.reply_window(card.platform),
                max((ln.at for ln in lines if not ln.is_team), default=None),
            ),
        )
