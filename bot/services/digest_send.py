"""Sending the weekly digest: once per owner per week, whatever the number of replicas.

``due_digests(now, send)`` is meant for the scheduler's tick. For each owner it works out this
week's slot on the owner's clock (``digest.at``, default Monday 09:00); outside
[slot, slot + GRACE) it does nothing and reads nothing. Inside, it claims the (owner, week)
row in ``digests`` (storage.digests_repo) and only the claimer composes and sends. A failed
send is retried after RETRY (up to the repo's MAX_ATTEMPTS); a permanent failure (no address,
bot blocked) is recorded and not retried that week. A bot that was down for the whole grace
period skips that week rather than sending a stale digest days late.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.domain.ports import Delivered, DeliveryError, Recipient
from bot.services.digest import DigestWriter, OnCallReport
from bot.services.engagement import monday_of, week_key
from bot.services.failures import log_failure
from bot.services.recipients import messenger_send as messenger_send  # where app.py reads it
from bot.services.recipients import recipient_of
from storage import digests_repo as repo
from storage.db import Database

log = logging.getLogger("nudgebot.digest")
Send = Callable[[Recipient, str], Awaitable[Delivered]]
GRACE = timedelta(hours=24)
RETRY = timedelta(minutes=5)
CHECK_EVERY = timedelta(seconds=60)  # how often ``tick`` looks, however often it is called


@dataclass(frozen=True)
class Slot:
    person: str
    week: str  # ISO week of the slot on the owner's clock: the once-only key
    at: datetime  # aware UTC


@dataclass(frozen=True)
class DigestResult:
    person: str
    week: str
    sent: bool
    detail: str  # the platform ref, or why not


def slot_for(config: Config, person_id: str, now: datetime) -> Slot:
    """This week's digest time for the owner (the week containing ``now`` on their clock)."""
    person = config.person(person_id)
    tz = ZoneInfo(person.timezone if person is not None else config.timezone)
    monday = monday_of(now, tz)
    day = monday + timedelta(days=config.digest.weekday)
    # Through UTC: a slot inside a DST gap moves to the first real instant after it.
    at = datetime.combine(day, config.digest.at, tzinfo=tz).astimezone(UTC)
    return Slot(person_id, week_key(monday), at)


class DigestService:
    def __init__(self, db: Database, config: Config, oncall: OnCallReport | None = None) -> None:
        self.db = db
        self.config = config
        self.writer = DigestWriter(db, config, oncall)
        self._checked: datetime | None = None

    async def tick(self, now: datetime, send: Send) -> None:
        """For the scheduler's tick: ``due_digests`` at most every CHECK_EVERY, and never an
        exception (a digest problem must not stop the nudges)."""
        if self._checked is not None and now - self._checked < CHECK_EVERY:
            return
        self._checked = now
        try:
            await self.due_digests(now, send)
        except Exception as exc:
            log_failure(log, "weekly digests: check failed; the next tick retries", exc)

    def slots_due(self, now: datetime) -> list[Slot]:
        if not self.config.digest.enabled:
            return []
        slots = (slot_for(self.config, person, now) for person in self.config.owners())
        return [s for s in slots if s.at <= now < s.at + GRACE]

    async def due_digests(self, now: datetime, send: Send) -> list[DigestResult]:
        """Send every digest that is due and not yet sent by anyone; what happened to each."""
        due = self.slots_due(now)
        if not due:
            return []
        async with self.db.read() as session:
            states = await repo.states(session, [(s.person, s.week) for s in due])
        out: list[DigestResult] = []
        for slot in due:
            if states.get((slot.person, slot.week)) in (repo.SENT, repo.FAILED):
                continue
            async with self.db.write() as session:
                attempt = await repo.claim(session, slot.person, slot.week, now)
            if attempt is not None:
                out.append(await self._send(slot, attempt, now, send))
        return out

    async def _send(self, slot: Slot, attempt: int, now: datetime, send: Send) -> DigestResult:
        recipient = recipient_of(self.config, slot.person)
        ref: str | None = None
        error, retry_at = "", None
        if recipient is None:
            error = f"{slot.person} has no slack/telegram address to send the digest to"
        else:
            try:
                digest = await self.writer.compose(slot.person, now)
                ref = (await send(recipient, digest.text)).ref
            except DeliveryError as exc:
                error = str(exc) or type(exc).__name__
                if not exc.permanent:
                    retry_at = now + timedelta(seconds=max(exc.retry_after or 0, RETRY.seconds))
            except Exception as exc:  # a bug or an outage must not stop the scheduler tick
                log.exception("digest for %s failed", slot.person)
                error, retry_at = f"{type(exc).__name__}: {exc}", now + RETRY
        async with self.db.write() as session:
            await repo.finish(
                session,
                slot.person,
                slot.week,
                attempt,
                now=now,
                ref=ref,
                error=error,
                retry_at=retry_at,
            )
        if ref is None:
            log.warning("digest for %s (%s) not sent: %s", slot.person, slot.week, error)
            return DigestResult(slot.person, slot.week, False, error)
        log.info("digest for %s (%s) sent", slot.person, slot.week)
        return DigestResult(slot.person, slot.week, True, ref)
